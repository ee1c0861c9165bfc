"""The sections of the settings: one frozen, slotted dataclass per concern, each validated on its own.

``paths`` (where lakegate keeps things), ``kafka``, ``registry``, ``catalog`` (Iceberg), ``objectstore`` (S3),
``readmodels``,
``job`` (the Flink job), ``cluster`` (where jobs run) and ``observation`` (metrics and the exporter). Each
field declares its flat key with :func:`~lakegate.settings.base.known_as` (e.g. ``kafka.bootstrap`` is
``kafka_bootstrap``), the name used by the settings file, the environment and ``Settings.load``. Fixed
choices are ``Literal`` types, checked with the other declared limits by
:meth:`~lakegate.settings.base.Section.problems`; secrets are :class:`~lakegate.settings.secrets.Secret` values.

Invariant: every default describes the local stack, and a section's ``problems()`` looks at nothing but
that section.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lakegate.settings.base import Section, has_numeric_port, is_http_url, is_port_range, known_as
from lakegate.settings.secrets import Secret, SecretUrl

PythonExecutionMode = Literal["process", "thread"]
StartFrom = Literal["lake", "group-offsets", "earliest"]
StateBackend = Literal["hashmap", "rocksdb"]
ExecutionTarget = Literal["local", "remote"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
CatalogKind = Literal["sqlite", "postgresql", "rest"]
# The OAuth2 scope Iceberg's REST clients ask for unless told otherwise.
CATALOG_SCOPE = "catalog"

# s3://bucket[/prefix/...]: an S3 bucket name, then folders without empty parts, "?" or "#".
_S3_FOLDER = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^/?#]+)*/?")

# The PII salt for the local stack only; Settings refuses it when Kafka is not on loopback.
LOCAL_PII_SALT = "lakegate-local-development-salt"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_root() -> Path:
    # In a source checkout (the supported layout for now) state lives beside the code, git-ignored.
    return _REPO_ROOT if (_REPO_ROOT / "deploy" / "pom.xml").is_file() else Path.cwd()


@dataclass(frozen=True, slots=True)
class PathSettings(Section):
    """Where lakegate keeps its state (JVM artifacts, broker and registry data, catalog, warehouse, logs)
    and finds its inputs."""

    title = "paths"
    home: Path = field(default_factory=lambda: _default_root() / ".lakegate", metadata=known_as("home"))
    schemas_dir: Path = field(default_factory=lambda: _default_root() / "schemas", metadata=known_as("schemas_dir"))
    pom: Path = field(default_factory=lambda: _default_root() / "deploy" / "pom.xml", metadata=known_as("pom"))
    java_home: Path | None = field(default=None, metadata=known_as("java_home"))
    # Fetched JVM artifacts; default: <home>/jvm
    artifacts_dir: Path | None = field(default=None, metadata=known_as("artifacts_dir"))
    # The Iceberg catalog's database and warehouse (catalog.name names the catalog itself).
    catalog_db: Path | None = field(default=None, metadata=known_as("catalog_db"))  # default: <home>/catalog.db
    warehouse: Path | None = field(default=None, metadata=known_as("warehouse"))  # default: <home>/warehouse

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


@dataclass(frozen=True, slots=True)
class KafkaSettings(Section):
    """The broker, its topics and the security of every client lakegate creates: the job's sources and its
    dead-letter and changelog producers (Java, lakegate/kafka_clients.py) and the Python admin, producer and
    consumers. The password is a secret: masked when printed, never in a job graph or table option (the Java
    clients read it from their own environment, LAKEGATE_KAFKA_SASL_PASSWORD, through Kafka's config
    provider)."""

    title = "kafka"
    bootstrap: str = field(default="127.0.0.1:19092", metadata=known_as("kafka_bootstrap"))
    controller_port: int = field(default=19093, metadata=known_as("kafka_controller_port"))
    heap_mb: int = field(default=512, metadata=known_as("kafka_heap_mb", minimum=1))
    topic_partitions: int = field(default=3, metadata=known_as("topic_partitions", minimum=1))
    dlq_topic: str = field(default="lakegate.quarantine.v1", metadata=known_as("dlq_topic", name=True))
    consumer_group: str = field(default="lakegate-ingest", metadata=known_as("consumer_group", name=True))
    security_protocol: SecurityProtocol = field(default="PLAINTEXT", metadata=known_as("kafka_security_protocol"))
    sasl_mechanism: SaslMechanism = field(default="PLAIN", metadata=known_as("kafka_sasl_mechanism"))
    sasl_username: str = field(default="", metadata=known_as("kafka_sasl_username"))
    sasl_password: Secret = field(default_factory=Secret, metadata=known_as("kafka_sasl_password"))
    # PEM bundle of the CAs checking the broker
    ssl_cafile: Path | None = field(default=None, metadata=known_as("kafka_ssl_cafile"))

    @property
    def hosts(self) -> set[str]:
        return {hostport.strip().rpartition(":")[0] for hostport in self.bootstrap.split(",")}

    @property
    def port(self) -> int:
        return int(self.bootstrap.split(",")[0].rsplit(":", 1)[1])

    def rules(self) -> list[str]:
        problems = []
        for hostport in self.bootstrap.split(","):
            host, _, port = hostport.strip().rpartition(":")
            if not host or not port.isdigit():
                problems.append(f"kafka_bootstrap must be host:port[,host:port...], got {hostport!r}")
        protocol, username, password = self.security_protocol, self.sasl_username, self.sasl_password.reveal()
        if protocol.startswith("SASL_"):
            # The user name goes into a JAAS line: only characters that need no quoting there.
            if not username or not all(c.isalnum() or c in "._-@" for c in username):
                problems.append(
                    "kafka_sasl_username must be set (letters, digits, '.', '_', '-', '@') when "
                    f"kafka_security_protocol is {protocol}"
                )
            if not password:
                problems.append(
                    "kafka_sasl_password is empty: set LAKEGATE_KAFKA_SASL_PASSWORD (or "
                    "kafka_sasl_password in the settings file)"
                )
            elif any(c in password for c in '"\\\n'):
                # Kafka substitutes it into the JAAS line before parsing it: a quote would end it early.
                problems.append(
                    "kafka_sasl_password must not contain '\"', '\\' or a newline (it is placed "
                    "inside a quoted JAAS option)"
                )
        elif username or password:
            problems.append(
                "kafka_sasl_username/password are set but kafka_security_protocol is "
                f"{protocol}: use SASL_PLAINTEXT or SASL_SSL"
            )
        if self.ssl_cafile is not None and not self.ssl_cafile.is_file():
            problems.append(f"kafka_ssl_cafile {self.ssl_cafile} is not a file (a PEM bundle of CA certificates)")
        if self.ssl_cafile is not None and not protocol.endswith("SSL"):
            problems.append(f"kafka_ssl_cafile is set but kafka_security_protocol is {protocol}: use SSL or SASL_SSL")
        return problems


@dataclass(frozen=True, slots=True)
class RegistrySettings(Section):
    """The schema registry (Confluent REST API). Its URL may embed credentials (https://user:secret@host/...).
    Per lookup: attempts = 1 + retries, each waiting up to the timeout, with exponential backoff between; when
    they are used up the routing task fails and Flink restarts it (never a quarantine)."""

    title = "registry"
    url: SecretUrl = field(
        default_factory=lambda: SecretUrl("http://127.0.0.1:18081/apis/ccompat/v7"), metadata=known_as("registry_url")
    )
    heap_mb: int = field(default=256, metadata=known_as("registry_heap_mb", minimum=1))
    timeout_s: int = field(default=5, metadata=known_as("registry_timeout_s", minimum=1))
    retries: int = field(default=5, metadata=known_as("registry_retries", minimum=0))
    # PEM bundle for https (default: the system's CAs)
    ca_file: Path | None = field(default=None, metadata=known_as("registry_ca_file"))

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url.public).port or 80

    def rules(self) -> list[str]:
        problems = []
        if not is_http_url(self.url.reveal()):
            problems.append(f"registry_url must be an http(s) URL, got {str(self.url)!r}")
        if self.ca_file is not None and not self.ca_file.is_file():
            problems.append(f"registry_ca_file {self.ca_file} is not a file (a PEM bundle of CA certificates)")
        return problems


@dataclass(frozen=True, slots=True)
class CatalogSettings(Section):
    """Iceberg: one catalog shared by Flink (Java) and pyiceberg, named by ``catalog_uri``: empty (the default)
    for a JDBC catalog on the embedded SQLite file under paths; ``postgresql://user:password@host:port/database``
    for a JDBC catalog on PostgreSQL (the password is a secret); ``http(s)://host:port[/path]`` for an Iceberg
    REST catalog. A REST catalog authenticates with a bearer token (``catalog_token``) and/or OAuth2 client
    credentials (``catalog_credential`` = ``client_id:client_secret``, exchanged for tokens at
    ``catalog_oauth2_server_uri`` for ``catalog_scope``; with both, the token is the first one used), both
    secrets, and may serve a warehouse by name (``catalog_warehouse``). Secrets are masked when shown and never
    in a job graph (docs/catalogs.md). The warehouse is under paths."""

    title = "catalog"
    name: str = field(default="lakegate", metadata=known_as("catalog_name", name=True))
    audit_namespace: str = field(default="audit", metadata=known_as("audit_namespace", name=True))
    quarantine_namespace: str = field(default="quarantine", metadata=known_as("quarantine_namespace", name=True))
    uri: SecretUrl = field(default_factory=lambda: SecretUrl(""), metadata=known_as("catalog_uri"))
    token: Secret = field(default_factory=Secret, metadata=known_as("catalog_token"))
    credential: Secret = field(default_factory=Secret, metadata=known_as("catalog_credential"))
    # Empty: the catalog's own token endpoint, <catalog_uri>/v1/oauth/tokens.
    oauth2_server_uri: str = field(default="", metadata=known_as("catalog_oauth2_server_uri"))
    scope: str = field(default=CATALOG_SCOPE, metadata=known_as("catalog_scope"))
    # Empty: the REST catalog's default warehouse.
    rest_warehouse: str = field(default="", metadata=known_as("catalog_warehouse"))

    @property
    def kind(self) -> CatalogKind:
        scheme = urllib.parse.urlsplit(self.uri.reveal()).scheme
        if scheme in ("http", "https"):
            return "rest"
        return "postgresql" if self.uri.reveal() else "sqlite"

    @property
    def own_token_endpoint(self) -> str:
        """The REST catalog's own token endpoint, ``<catalog_uri>/v1/oauth/tokens``."""
        return f"{self.uri.public.rstrip('/')}/v1/oauth/tokens"

    @property
    def token_endpoint(self) -> str:
        """Where OAuth2 client credentials are exchanged for tokens."""
        return self.oauth2_server_uri or self.own_token_endpoint

    @property
    def client(self) -> tuple[str, str]:
        """``catalog_credential`` as (client id, client secret); the id is empty for a secret alone."""
        client_id, colon, client_secret = self.credential.reveal().partition(":")
        return (client_id, client_secret) if colon else ("", client_id)

    def rules(self) -> list[str]:
        rest_only = {
            "catalog_token": bool(self.token),
            "catalog_credential": bool(self.credential),
            "catalog_oauth2_server_uri": bool(self.oauth2_server_uri),
            "catalog_warehouse": bool(self.rest_warehouse),
            "catalog_scope": self.scope != CATALOG_SCOPE,
        }
        if self.kind != "rest" and any(rest_only.values()):
            named = ", ".join(key for key, given in rest_only.items() if given)
            return [f"{named}: settings of a REST catalog, set catalog_uri to its http(s) URL (or leave them empty)"]
        if self.kind == "rest":
            return self._rest_rules() + self._rest_auth_rules()
        return self._postgresql_rules() if self.uri.reveal() else []

    def _postgresql_rules(self) -> list[str]:
        parts = urllib.parse.urlsplit(self.uri.reveal())
        expected = (
            "catalog_uri must be postgresql://user:password@host:port/database, http(s)://host:port[/path] for a "
            "REST catalog, or empty for SQLite"
        )
        if not has_numeric_port(parts):
            return [f"{expected}; its port is not a number: {str(self.uri)!r}"]
        if parts.scheme != "postgresql":
            return [f"{expected}; got the scheme {parts.scheme!r} in {str(self.uri)!r}"]
        database = parts.path.lstrip("/")
        if not parts.hostname or not parts.port or not database or "/" in database or not parts.username:
            return [f"{expected}: host, port, database and user are required, got {str(self.uri)!r}"]
        if parts.query or parts.fragment:
            return [f"{expected}, without ?options or #fragment, got {str(self.uri)!r}"]
        return []

    def _rest_rules(self) -> list[str]:
        parts = urllib.parse.urlsplit(self.uri.reveal())
        expected = "a REST catalog's catalog_uri must be http(s)://host:port[/path]"
        if not has_numeric_port(parts):
            return [f"{expected}; its port is not a number: {str(self.uri)!r}"]
        if "@" in parts.netloc:
            return [f"{expected}, without user:password@: put the bearer token in catalog_token, got {self.uri}"]
        if not parts.hostname or parts.query or parts.fragment:
            return [f"{expected} (a host, no ?options or #fragment), got {str(self.uri)!r}"]
        return []

    def _rest_auth_rules(self) -> list[str]:
        problems = []
        client_id, client_secret = self.client
        if self.credential and (not client_secret or (":" in self.credential.reveal() and not client_id)):
            problems.append("catalog_credential must be client_id:client_secret (or the client secret alone)")
        if self.oauth2_server_uri and not is_http_url(self.oauth2_server_uri):
            problems.append(f"catalog_oauth2_server_uri must be an http(s) URL, got {self.oauth2_server_uri!r}")
        elif self.oauth2_server_uri and "@" in urllib.parse.urlsplit(self.oauth2_server_uri).netloc:
            problems.append("catalog_oauth2_server_uri must not hold credentials: put them in catalog_credential")
        if not self.scope.strip():
            problems.append("catalog_scope must name the OAuth2 scope to ask for (the default is 'catalog')")
        return problems


@dataclass(frozen=True, slots=True)
class ObjectStoreSettings(Section):
    """An S3-compatible object store: ``s3_endpoint`` (empty: AWS's own for ``s3_region``; else
    ``http(s)://host:port`` of a compatible store), path-style addressing (compatible stores want it), and
    the credentials: ``s3_access_key_id`` with ``s3_secret_access_key`` (a secret), both or neither (neither:
    the environment's, e.g. an instance role). ``s3_warehouse`` (``s3://bucket[/prefix]``) puts the lake there
    instead of ``paths.warehouse``: its tables, and lakegate's own files beside them (lakegate/warehouse.py);
    ``s3_checkpoints`` (the same form) puts Flink's checkpoints, savepoints and state changes there.
    `lakegate stack up --with object-store` serves ``s3_endpoint`` on loopback for a local trial
    (lakegate/stack/objectstore.py)."""

    title = "objectstore"
    endpoint: str = field(default="", metadata=known_as("s3_endpoint"))
    region: str = field(default="us-east-1", metadata=known_as("s3_region", name=True))
    path_style_access: bool = field(default=True, metadata=known_as("s3_path_style_access"))
    access_key_id: str = field(default="", metadata=known_as("s3_access_key_id"))
    secret_access_key: Secret = field(default_factory=Secret, metadata=known_as("s3_secret_access_key"))
    warehouse: str = field(default="", metadata=known_as("s3_warehouse"))
    checkpoints: str = field(default="", metadata=known_as("s3_checkpoints"))

    @property
    def in_use(self) -> bool:
        """Whether a job reaches this store through Flink's and Iceberg's filesystems."""
        return bool(self.warehouse or self.checkpoints)

    def rules(self) -> list[str]:
        problems = []
        for key, value in (("s3_warehouse", self.warehouse), ("s3_checkpoints", self.checkpoints)):
            if value and not _S3_FOLDER.fullmatch(value):
                # Never quoted when it holds an "@": what precedes it may be a secret.
                got = "a value with user:password@" if "@" in value else repr(value)
                problems.append(
                    f"{key} must be s3://bucket[/prefix] (a bucket name of 3-63 lowercase letters, digits, dots "
                    f"and dashes; no ?options; the keys go in s3_access_key_id and s3_secret_access_key), got {got}"
                )
        if self.endpoint:
            parts = urllib.parse.urlsplit(self.endpoint)
            expected = "s3_endpoint must be http(s)://host[:port]"
            if "@" in parts.netloc:  # never quoted: what precedes the @ may be a secret
                problems.append(
                    f"{expected}, without user:password@: put the keys in s3_access_key_id and s3_secret_access_key"
                )
            elif (
                not is_http_url(self.endpoint)
                or not has_numeric_port(parts)
                or parts.path not in ("", "/")
                or parts.query
            ):
                problems.append(f"{expected} (no path, no ?options), got {self.endpoint!r}")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            problems.append(
                "set s3_access_key_id and s3_secret_access_key together, or neither (the environment's credentials)"
            )
        return problems


@dataclass(frozen=True, slots=True)
class ReadModelSettings(Section):
    """Read models (udfs/readmodels/, lakegate/readmodels.py): one Iceberg table per model in this namespace,
    one compacted changelog topic per model named <prefix><model>; at most one change per key per mini-batch
    (never less often than once per checkpoint)."""

    title = "readmodels"
    namespace: str = field(default="readmodels", metadata=known_as("readmodel_namespace", name=True))
    changelog_topic_prefix: str = field(
        default="lakegate.readmodel.", metadata=known_as("changelog_topic_prefix", name=True)
    )
    minibatch_ms: int = field(default=200, metadata=known_as("readmodel_minibatch_ms", minimum=1))


@dataclass(frozen=True, slots=True)
class JobSettings(Section):
    """The Flink job."""

    title = "job"
    name: str = field(default="lakegate-ingest", metadata=known_as("job_name", name=True))
    parallelism: int = field(default=1, metadata=known_as("parallelism", minimum=1))
    checkpoint_interval_ms: int = field(default=5000, metadata=known_as("checkpoint_interval_ms", minimum=100))
    # thread: Python runs inside the TaskManager JVM, so a batch reaches it without a gRPC hop to another
    # process (docs/stack.md#python-execution-mode-thread)
    python_execution_mode: PythonExecutionMode = field(default="thread", metadata=known_as("python_execution_mode"))
    # Where a job started without a checkpoint begins reading (see lakegate/offsets.py):
    #   lake           after the last offset per partition found in the audit and quarantine tables, so a
    #                  second run never audits a record twice (earliest when the tables are empty)
    #   group-offsets  the consumer group's committed offsets (earliest for a new group)
    #   earliest       everything the topics hold (benchmarks re-reading the same data)
    start_from: StartFrom = field(default="lake", metadata=known_as("start_from"))
    # Stop once every topic is read up to the offsets current at job start
    drain: bool = field(default=False, metadata=known_as("drain"))
    restart_attempts: int = field(default=3, metadata=known_as("restart_attempts", minimum=0))
    # Secret key of the PII `hash` treatment (HMAC-SHA-256). The default is for the local stack only (refused
    # when Kafka is not on loopback): set LAKEGATE_PII_SALT (at least 16 random bytes) anywhere real.
    pii_salt: Secret = field(default_factory=lambda: Secret(LOCAL_PII_SALT), metadata=known_as("pii_salt"))
    # The hot path (docs/hotpath.md): raw records cross into Python in batches of at most this many records
    # and bytes, waiting at most this long for a batch to fill (and in a network buffer after unpack and dedupe).
    batch_max_records: int = field(default=512, metadata=known_as("batch_max_records", minimum=1))
    batch_max_bytes: int = field(default=4_194_304, metadata=known_as("batch_max_bytes", minimum=1024))
    batch_max_delay_ms: int = field(default=20, metadata=known_as("batch_max_delay_ms", minimum=1))
    # Where keyed state lives (dedupe ids for each contract's window, read-model state): "hashmap" on the JVM
    # heap, "rocksdb" on local disk with a bounded cache in Flink's managed memory (docs/operations.md).
    state_backend: StateBackend = field(
        default="hashmap", metadata=known_as("state_backend", choices="'hashmap' or 'rocksdb'")
    )
    # Heap of the JVM a local job runs in (the MiniCluster in the job's own process); a session cluster's
    # TaskManagers take cluster_taskmanager_memory instead.
    local_heap_mb: int = field(default=1536, metadata=known_as("local_heap_mb", minimum=256))

    def rules(self) -> list[str]:
        salt = self.pii_salt.reveal()
        if salt and len(salt.encode()) < 16:
            return ["pii_salt must be at least 16 bytes (a random secret per deployment)"]
        return []


@dataclass(frozen=True, slots=True)
class ClusterSettings(Section):
    """Where jobs run: "local" (a MiniCluster in the job's own process) or "remote" (the session cluster at
    cluster_rest_url, e.g. the one `lakegate cluster up` starts); restore_from: a savepoint or retained
    checkpoint to start from ("" = none)."""

    title = "cluster"
    execution_target: ExecutionTarget = field(
        default="local", metadata=known_as("execution_target", choices="'local' or 'remote'")
    )
    restore_from: str = field(default="", metadata=known_as("restore_from"))
    rest_url: str = field(default="http://127.0.0.1:18100", metadata=known_as("cluster_rest_url"))
    rpc_port: int = field(default=18101, metadata=known_as("cluster_rpc_port"))
    slots: int = field(default=2, metadata=known_as("cluster_slots", minimum=1))
    # TaskManager processes of the local cluster. In thread mode each has one Python interpreter, whose lock
    # every Python operator in it shares: several one-slot TaskManagers let parallel tasks use several cores.
    taskmanagers: int = field(default=1, metadata=known_as("cluster_taskmanagers", minimum=1))
    taskmanager_memory: str = field(default="2048m", metadata=known_as("cluster_taskmanager_memory"))
    # Remote target: ship lakegate's Python code (jobs, udfs, lakegate) and the contracts with each job
    # (`python.files`) instead of the TaskManagers importing them from this checkout. The cluster's Python
    # then needs only the dependencies (requirements.lock), e.g. baked into its image. python: that
    # interpreter on the cluster's machines ("" = this one, for a cluster on this machine).
    ship_python_code: bool = field(default=False, metadata=known_as("ship_python_code"))
    python: str = field(default="", metadata=known_as("cluster_python"))

    def rules(self) -> list[str]:
        if not is_http_url(self.rest_url):
            shown = str(SecretUrl(self.rest_url))
            return [f"cluster_rest_url must be an http(s) URL, got {shown!r}"]
        return []


@dataclass(frozen=True, slots=True)
class ObservationSettings(Section):
    """Metrics: the job's Prometheus endpoint (a range: the first free port is taken; Flink's reporter binds
    every interface, it has no address option), the local job's REST API (MiniCluster, on loopback; the
    exporter reads restarts and checkpoints there) and the lakegate exporter (lakegate/observe/exporter.py:
    ledger, lag, Iceberg tables, job health), which `lakegate run ingest` serves next to the job (port 0: off)."""

    title = "observation"
    metrics_port: str = field(default="9249-9259", metadata=known_as("metrics_port"))
    flink_rest_port: str = field(default="18082-18091", metadata=known_as("flink_rest_port"))
    exporter_port: int = field(default=9260, metadata=known_as("exporter_port"))
    exporter_interval_s: int = field(default=10, metadata=known_as("exporter_interval_s", minimum=1))

    def rules(self) -> list[str]:
        problems = [
            f"{key} must be a port or a range like 9249-9259, got {value!r}"
            for key, value in (("metrics_port", self.metrics_port), ("flink_rest_port", self.flink_rest_port))
            if not is_port_range(value)
        ]
        if not 0 <= self.exporter_port <= 65535:
            problems.append(f"exporter_port must be 0 (off) or a TCP port, got {self.exporter_port}")
        return problems


SECTIONS: tuple[type[Section], ...] = (
    PathSettings,
    KafkaSettings,
    RegistrySettings,
    CatalogSettings,
    ObjectStoreSettings,
    ReadModelSettings,
    JobSettings,
    ClusterSettings,
    ObservationSettings,
)
