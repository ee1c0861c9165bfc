"""One settings object per process: defaults < settings file (TOML) < ``LAKEGATE_*`` environment < overrides.

Built and validated once (:meth:`Settings.load`), frozen afterwards. Unknown keys are rejected wherever they
come from, so a typo fails loudly instead of silently using a default. Settings travel to job processes as
environment variables (:meth:`Settings.to_env`), never as command-line arguments, because arguments are
visible to every user of the machine and may carry credentials.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakegate.errors import SettingsError

if TYPE_CHECKING:
    from udfs.registry import RegistryClient

ENV_PREFIX = "LAKEGATE_"
SETTINGS_FILE_ENV = "LAKEGATE_SETTINGS_FILE"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_MODES = ("process", "thread")
_START_FROM = ("lake", "group-offsets", "earliest")
# The PII salt for the local stack only; validation refuses it when Kafka is not on loopback.
LOCAL_PII_SALT = "lakegate-local-development-salt"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_MINIMUMS = {
    "parallelism": 1,
    "topic_partitions": 1,
    "kafka_heap_mb": 1,
    "registry_heap_mb": 1,
    "checkpoint_interval_ms": 100,
    "registry_timeout_s": 1,
    "registry_retries": 0,
    "restart_attempts": 0,
    "exporter_interval_s": 1,
    "cluster_slots": 1,
    "cluster_taskmanagers": 1,
    "batch_max_records": 1,
    "batch_max_bytes": 1024,
    "batch_max_delay_ms": 1,
    "readmodel_minibatch_ms": 1,
}


def _default_root() -> Path:
    # In a source checkout (the supported layout for now) state lives beside the code, git-ignored.
    return _REPO_ROOT if (_REPO_ROOT / "deploy" / "pom.xml").is_file() else Path.cwd()


@dataclass(frozen=True, slots=True)
class Settings:
    # Where lakegate keeps its state: JVM artifacts, broker and registry data, catalog, warehouse, logs.
    home: Path = field(default_factory=lambda: _default_root() / ".lakegate")
    schemas_dir: Path = field(default_factory=lambda: _default_root() / "schemas")
    pom: Path = field(default_factory=lambda: _default_root() / "deploy" / "pom.xml")
    java_home: Path | None = None
    artifacts_dir: Path | None = None  # fetched JVM artifacts; default: <home>/jvm

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    kafka_heap_mb: int = 512
    topic_partitions: int = 3
    dlq_topic: str = "lakegate.quarantine.v1"
    consumer_group: str = "lakegate-ingest"
    # Kafka client security, applied to every client lakegate creates: the job's sources and its dead-letter
    # and changelog producers (Java, lakegate/kafka_clients.py) and the Python admin, producer and consumers.
    # The password is a secret: masked when printed, never in a job graph or table option (the Java clients
    # read it from their own environment, LAKEGATE_KAFKA_SASL_PASSWORD, through Kafka's config provider).
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    kafka_sasl_mechanism: str = "PLAIN"  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: Path | None = None  # PEM bundle of the CAs the broker's certificate is checked against

    # Schema registry (Confluent REST API). May embed credentials (https://user:secret@host/...).
    registry_url: str = "http://127.0.0.1:18081/apis/ccompat/v7"
    registry_heap_mb: int = 256
    # Per lookup: attempts = 1 + retries, each waiting up to the timeout, with exponential backoff between.
    # When they are used up the routing task fails and Flink restarts it (never a quarantine).
    registry_timeout_s: int = 5
    registry_retries: int = 5
    registry_ca_file: Path | None = None  # PEM bundle for an https registry (default: the system's CAs)

    # Iceberg: one catalog name shared by Flink (Java JdbcCatalog) and pyiceberg (SqlCatalog).
    catalog_name: str = "lakegate"
    catalog_db: Path | None = None  # default: <home>/catalog.db
    warehouse: Path | None = None  # default: <home>/warehouse
    audit_namespace: str = "audit"
    quarantine_namespace: str = "quarantine"

    # Read models (udfs/readmodels.py, lakegate/readmodels.py): one Iceberg table per model in this
    # namespace, one compacted changelog topic per model named <prefix><model>.
    readmodel_namespace: str = "readmodels"
    changelog_topic_prefix: str = "lakegate.readmodel."
    # Secret key of the PII `hash` treatment (HMAC-SHA-256). The default is for the local stack only: set
    # LAKEGATE_PII_SALT (at least 16 random bytes) anywhere real. Masked when settings are printed.
    pii_salt: str = LOCAL_PII_SALT

    # Flink job
    job_name: str = "lakegate-ingest"
    parallelism: int = 1
    checkpoint_interval_ms: int = 5000
    python_execution_mode: str = "thread"  # measured faster here: bench/results/modes.jsonl
    # Where a job started without a checkpoint begins reading (see lakegate/offsets.py):
    #   lake           after the last offset per partition found in the audit and quarantine tables, so a
    #                  second run never audits a record twice (earliest when the tables are empty)
    #   group-offsets  the consumer group's committed offsets (earliest for a new group)
    #   earliest       everything the topics hold (benchmarks re-reading the same data)
    start_from: str = "lake"
    drain: bool = False  # stop once every topic is read up to the offsets current at job start
    restart_attempts: int = 3
    # The hot path (docs/hotpath.md): raw records cross into Python in batches of at most this many records
    # and bytes, waiting at most this long for a batch to fill; read models emit at most one change per key
    # per mini-batch (never less often than once per checkpoint).
    batch_max_records: int = 512
    batch_max_bytes: int = 4_194_304
    batch_max_delay_ms: int = 20
    readmodel_minibatch_ms: int = 200
    # Where the job's Prometheus endpoint listens (a range: the first free port is taken). Flink's reporter
    # binds every interface; it has no address option.
    metrics_port: str = "9249-9259"
    # The local job's REST API (MiniCluster), on loopback; the exporter reads restarts and checkpoints there.
    flink_rest_port: str = "18082-18091"

    # Where jobs run: "local" (a MiniCluster in the job's own process) or "remote" (the session cluster at
    # cluster_rest_url, e.g. the one `lakegate cluster up` starts); restore_from: a savepoint or retained
    # checkpoint to start from ("" = none).
    execution_target: str = "local"
    restore_from: str = ""
    cluster_rest_url: str = "http://127.0.0.1:18100"
    cluster_rpc_port: int = 18101
    cluster_slots: int = 2
    # TaskManager processes of the local cluster. In thread mode each has one Python interpreter, whose lock
    # every Python operator in it shares: several one-slot TaskManagers let parallel tasks use several cores.
    cluster_taskmanagers: int = 1
    cluster_taskmanager_memory: str = "2048m"
    # Remote target: ship lakegate's Python code (jobs, udfs, lakegate) and the contracts with each job
    # (`python.files`) instead of the TaskManagers importing them from this checkout. The cluster's Python
    # then needs only the dependencies (requirements.lock), e.g. baked into its image. cluster_python: that
    # interpreter on the cluster's machines ("" = this one, for a cluster on this machine).
    ship_python_code: bool = False
    cluster_python: str = ""

    # The lakegate exporter (lakegate/observe/exporter.py): ledger, lag, Iceberg tables, job health.
    # `lakegate run ingest` serves it next to the job; 0 turns it off there.
    exporter_port: int = 9260
    exporter_interval_s: int = 10

    # ---- derived locations -------------------------------------------------------------------
    @property
    def jvm_dir(self) -> Path:
        return self.artifacts_dir or self.home / "jvm"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def catalog_db_path(self) -> Path:
        return self.catalog_db or self.home / "catalog.db"

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse or self.home / "warehouse"

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def registry_port(self) -> int:
        return urllib.parse.urlsplit(self.registry_url).port or 80

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        file: Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Layer the sources, reject unknown keys, convert types, validate once."""
        env = os.environ if env is None else env
        names = {f.name for f in fields(cls)}
        raw: dict[str, Any] = {}
        file = file or (Path(env[SETTINGS_FILE_ENV]) if env.get(SETTINGS_FILE_ENV) else None)
        if file is not None:
            raw.update(_read_file(file, names))
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX) or key == SETTINGS_FILE_ENV:
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in names:
                raise SettingsError(
                    f"unknown environment variable {key}. Known: "
                    + ", ".join(sorted(ENV_PREFIX + n.upper() for n in names))
                )
            raw[name] = value
        for name, value in overrides.items():
            if name not in names:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                raw[name] = value
        converted = {name: _convert(cls, name, value) for name, value in raw.items()}
        settings = cls(**converted)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with some settings changed (for tests and the demo)."""
        copy = dataclasses.replace(self, **changes)
        copy.validate()
        return copy

    def validate(self) -> None:
        problems: list[str] = []
        if self.python_execution_mode not in _MODES:
            problems.append(f"python_execution_mode must be one of {_MODES}, got {self.python_execution_mode!r}")
        if self.start_from not in _START_FROM:
            problems.append(f"start_from must be one of {_START_FROM}, got {self.start_from!r}")
        for name, minimum in _MINIMUMS.items():
            if getattr(self, name) < minimum:
                problems.append(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        for hostport in self.kafka_bootstrap.split(","):
            host, _, port = hostport.strip().rpartition(":")
            if not host or not port.isdigit():
                problems.append(f"kafka_bootstrap must be host:port[,host:port...], got {hostport!r}")
        problems.extend(self._port_problems())
        problems.extend(self._target_problems())
        problems.extend(self._security_problems())
        if self.pii_salt and len(self.pii_salt.encode()) < 16:
            problems.append("pii_salt must be at least 16 bytes (a random secret per deployment)")
        hosts = {h.strip().rpartition(":")[0] for h in self.kafka_bootstrap.split(",")}
        if self.pii_salt == LOCAL_PII_SALT and not hosts <= set(_LOOPBACK):
            problems.append(
                "pii_salt is the local-stack default but Kafka is not on loopback: set LAKEGATE_PII_SALT "
                "(or pii_salt in the settings file) to a random secret of at least 16 bytes"
            )
        url = urllib.parse.urlsplit(self.registry_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"registry_url must be an http(s) URL, got {_mask_url(self.registry_url)!r}")
        names = (
            "catalog_name",
            "audit_namespace",
            "quarantine_namespace",
            "dlq_topic",
            "job_name",
            "consumer_group",
            "readmodel_namespace",
            "changelog_topic_prefix",
        )
        for name in names:
            value = getattr(self, name)
            if not value or not all(c.isalnum() or c in "._-" for c in value):
                problems.append(f"{name} must be non-empty letters, digits, '.', '_' or '-', got {value!r}")
        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))

    def _target_problems(self) -> list[str]:
        problems = []
        if self.execution_target not in ("local", "remote"):
            problems.append(f"execution_target must be 'local' or 'remote', got {self.execution_target!r}")
        cluster = urllib.parse.urlsplit(self.cluster_rest_url)
        if cluster.scheme not in ("http", "https") or not cluster.hostname:
            problems.append(f"cluster_rest_url must be an http(s) URL, got {_mask_url(self.cluster_rest_url)!r}")
        return problems

    def _security_problems(self) -> list[str]:
        problems = []
        if self.kafka_security_protocol not in _PROTOCOLS:
            problems.append(
                f"kafka_security_protocol must be one of {_PROTOCOLS}, got {self.kafka_security_protocol!r}"
            )
        if self.kafka_sasl_mechanism not in _SASL_MECHANISMS:
            problems.append(
                f"kafka_sasl_mechanism must be one of {_SASL_MECHANISMS}, got {self.kafka_sasl_mechanism!r}"
            )
        if self.kafka_security_protocol.startswith("SASL_"):
            # The user name goes into a JAAS line: only characters that need no quoting there.
            if not self.kafka_sasl_username or not all(c.isalnum() or c in "._-@" for c in self.kafka_sasl_username):
                problems.append(
                    "kafka_sasl_username must be set (letters, digits, '.', '_', '-', '@') when "
                    f"kafka_security_protocol is {self.kafka_security_protocol}"
                )
            if not self.kafka_sasl_password:
                problems.append(
                    "kafka_sasl_password is empty: set LAKEGATE_KAFKA_SASL_PASSWORD (or "
                    "kafka_sasl_password in the settings file)"
                )
            elif any(c in self.kafka_sasl_password for c in '"\\\n'):
                # Kafka substitutes it into the JAAS line before parsing it: a quote would end it early.
                problems.append(
                    "kafka_sasl_password must not contain '\"', '\\' or a newline (it is placed "
                    "inside a quoted JAAS option)"
                )
        elif self.kafka_sasl_username or self.kafka_sasl_password:
            problems.append(
                "kafka_sasl_username/password are set but kafka_security_protocol is "
                f"{self.kafka_security_protocol}: use SASL_PLAINTEXT or SASL_SSL"
            )
        for name in ("kafka_ssl_cafile", "registry_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                problems.append(f"{name} {path} is not a file (a PEM bundle of CA certificates)")
        if self.kafka_ssl_cafile is not None and not self.kafka_security_protocol.endswith("SSL"):
            problems.append(
                "kafka_ssl_cafile is set but kafka_security_protocol is "
                f"{self.kafka_security_protocol}: use SSL or SASL_SSL"
            )
        return problems

    def _port_problems(self) -> list[str]:
        problems = [
            f"{name} must be a port or a range like 9249-9259, got {getattr(self, name)!r}"
            for name in ("metrics_port", "flink_rest_port")
            if not _is_port_range(getattr(self, name))
        ]
        if not 0 <= self.exporter_port <= 65535:
            problems.append(f"exporter_port must be 0 (off) or a TCP port, got {self.exporter_port}")
        # Several TaskManagers of the local cluster share the machine with its JobManager: a port each.
        if (
            self.cluster_taskmanagers > 1
            and _is_port_range(self.metrics_port)
            and len(port_range(self.metrics_port)) <= self.cluster_taskmanagers
        ):
            problems.append(
                f"metrics_port {self.metrics_port!r} has too few ports for a JobManager and "
                f"{self.cluster_taskmanagers} TaskManagers: give a range with at least "
                f"{self.cluster_taskmanagers + 1}"
            )
        return problems

    # ---- export --------------------------------------------------------------------------------
    def registry_client(self) -> RegistryClient:
        """The schema-registry client every process of lakegate uses, configured from these settings."""
        from udfs.registry import RegistryClient

        return RegistryClient(
            self.registry_url,
            timeout_s=float(self.registry_timeout_s),
            retries=self.registry_retries,
            ca_file=str(self.registry_ca_file) if self.registry_ca_file else None,
        )

    def to_env(self) -> dict[str, str]:
        """The settings as ``LAKEGATE_*`` variables, for a child process (job runner, tests)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[ENV_PREFIX + f.name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def child_env(self) -> dict[str, str]:
        """This process's environment with these settings in place of any inherited ``LAKEGATE_*``, for a
        job started as a child process (settings never travel on its command line)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(self.to_env())
        return env

    def without_secrets(self) -> Settings:
        """A copy for pickling into Flink functions (job graphs are stored, shipped and kept in savepoints):
        the PII salt, the Kafka password and the registry URL's credentials removed. Workers put them back
        from their own settings sources with :meth:`with_worker_secrets`."""
        return dataclasses.replace(
            self, pii_salt="", kafka_sasl_password="", registry_url=_without_userinfo(self.registry_url)
        )

    def with_worker_secrets(self) -> Settings:
        """In a Flink worker (``open()``): this secret-free copy with the secrets of the worker's own settings
        (its ``LAKEGATE_*`` environment or settings file). The registry credentials are taken only for the
        same registry the job was built for."""
        own = Settings.load()
        same_registry = _without_userinfo(own.registry_url) == self.registry_url
        registry_url = own.registry_url if same_registry else self.registry_url
        return dataclasses.replace(
            self, pii_salt=own.pii_salt, kafka_sasl_password=own.kafka_sasl_password, registry_url=registry_url
        )

    def masked(self) -> dict[str, str]:
        """For printing and logging: credentials in URLs are replaced by ``***``."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        shown["registry_url"] = _mask_url(self.registry_url)
        shown["pii_salt"] = "***"
        shown["kafka_sasl_password"] = "***" if self.kafka_sasl_password else ""
        return shown

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v}" for k, v in self.masked().items()) + ")"


def _mask_url(url: str) -> str:
    return _replace_userinfo(url, "***@")


def _without_userinfo(url: str) -> str:
    return _replace_userinfo(url, "")


def _replace_userinfo(url: str, userinfo: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, userinfo + host, parts.path, parts.query, parts.fragment))


def _read_file(path: Path, names: set[str]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"settings file {path} does not exist; fix {SETTINGS_FILE_ENV} or create it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"settings file {path}: unknown keys {unknown}. Known: {sorted(names)}")
    return data


def _convert(cls: type[Settings], name: str, value: Any) -> Any:
    annotation = str(next(f.type for f in fields(cls) if f.name == name))
    try:
        if annotation.startswith("Path"):
            return Path(value).expanduser() if value not in ("", None) else None
        if annotation == "int":
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return int(value)
        if annotation == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        return str(value)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {value!r} as {annotation}: {exc}") from exc


def _is_port_range(value: str) -> bool:
    first, _, last = value.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return False
    return 0 < int(first) <= int(last or first) <= 65535


def port_range(value: str) -> range:
    """The ports of a validated ``metrics_port``-style value (``9249`` or ``9249-9259``)."""
    first, _, last = value.partition("-")
    return range(int(first), int(last or first) + 1)
