"""How lakegate jobs get a Flink environment: configuration from settings, JVM classpath, logs.

Must run before anything touches the PyFlink gateway: the gateway JVM reads HADOOP_CLASSPATH and
FLINK_LOG_DIR from this process's environment when it starts.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
import urllib.parse
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

import udfs
from jobs.worker import SHIPPED_SCHEMAS
from lakegate import catalog, jvm, kafka_clients, objectstore, warehouse
from lakegate.settings import Settings

# Flink metric filter: `<logical scope pattern>[:<names>[:<types>]]`; lakegate's operators count under "lakegate".
REPORTER_INCLUDES = "*.lakegate*:*"


# A MiniCluster's managed memory with state_backend = "rocksdb" (bench/README.md, soak: 768 MB kept a 9k/s
# dedupe up where 128 MB fell behind within minutes).
ROCKSDB_MANAGED_MEMORY = "768m"


def flink_configuration(settings: Settings) -> Configuration:
    conf = Configuration()
    state = warehouse.flink_state(settings, settings.paths.home)  # checkpoints and state changes: maybe a bucket
    values = {
        "pipeline.name": settings.job.name,
        "pipeline.jars": ";".join(p.as_uri() for p in jvm.pipeline_jars(settings)),
        "parallelism.default": str(settings.job.parallelism),
        "python.execution-mode": settings.job.python_execution_mode,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # Thread mode embeds CPython in the JVM (pemja) on the base interpreter: it sees neither the venv's
        # site-packages nor `.pth` files (editable installs), so both are put on its path explicitly.
        # Harmless in process mode.
        "python.pythonpath": os.pathsep.join(_python_path()),
        "execution.checkpointing.interval": f"{settings.job.checkpoint_interval_ms}ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.dir": (state / "checkpoints").uri,
        # Kept when the job is cancelled or lost: a job can be resumed from its last checkpoint.
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(settings.job.restart_attempts),
        "restart-strategy.fixed-delay.delay": "2s",
        # Stable operator uids for the table parts of the plan too (sources, sinks), so savepoints map.
        "table.exec.uid.generation": "ALWAYS",
        # Observation plane: Flink's bundled Prometheus reporter (pyflink/plugins/metrics-prometheus).
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": settings.observation.metrics_port,
        # Only lakegate's own metrics (lakegate/observe/catalogue.py): Flink's system metrics are camelCase
        # and fail `promtool check metrics`; the exporter reports restarts and checkpoints from the REST API.
        "metrics.reporter.prom.filter.includes": REPORTER_INCLUDES,
        # Keep label values as they are ("support.users.v1", not "support_users_v1"), so they join with the
        # exporter's; the client library escapes what the exposition format requires.
        "metrics.reporter.prom.filterLabelValueCharacters": "false",
        # The MiniCluster's REST API, on loopback only (it would bind every interface on a random port).
        "rest.bind-address": "127.0.0.1",
        "rest.address": "127.0.0.1",
        "rest.bind-port": settings.observation.flink_rest_port,
        # Managed memory is RocksDB's (block cache and write buffers): modest for the heap backend, so Kafka, the
        # registry and Python workers fit a small machine; larger for RocksDB, whose dedupe looks up every new
        # event id: with 128 MB the lookups missed the cache and the job fell behind (bench/README.md, soak).
        "taskmanager.memory.managed.size": ROCKSDB_MANAGED_MEMORY
        if settings.job.state_backend == "rocksdb"
        else "128m",
        # lakegate's operators never change a record after emitting it: chained operators pass records on
        # without a defensive copy each.
        "pipeline.object-reuse": "true",
        # Keyed state (dedupe ids, read models) on the heap or in RocksDB (settings.job.state_backend),
        # checkpointed incrementally: each checkpoint writes the state changes since the last one (a full
        # snapshot is materialized every few minutes), not every id seen so far.
        "state.backend.type": settings.job.state_backend,
        # How much of RocksDB's block cache is in use, per column family (Flink's REST API; bench/soak.py
        # samples it): the cache fills up to its share of managed memory as the dedupe ids grow.
        "state.backend.rocksdb.metrics.block-cache-usage": "true",
        "state.backend.incremental": "true",
        "state.changelog.enabled": "true",
        "state.changelog.storage": "filesystem",
        "state.changelog.dstl.dfs.base-path": (state / "changelog").uri,
        # The MiniCluster's working files (blobs, RocksDB's local state, spill files) under the home, not in
        # /tmp: a job killed with SIGKILL cannot delete them, and a lost home takes them with it.
        "io.tmp.dirs": str(local_tmp_dir(settings)),
        **objectstore.flink_filesystem_options(settings),
    }
    if settings.cluster.execution_target == "remote":
        # The client builds the job graph here and submits it, with the pipeline jars, over REST.
        cluster = urllib.parse.urlsplit(settings.cluster.rest_url)
        values.update(
            {
                "execution.target": "remote",
                "rest.address": cluster.hostname or "127.0.0.1",
                "rest.port": str(cluster.port or 8081),
            }
        )
        # The PyFlink runtime (flink-python) is not shipped with the job: the cluster must have it on its own
        # classpath (lib/, as in PyFlink's images; `lakegate cluster up` adds it). Loaded per job, pemja's
        # native library fails the second job on a TaskManager ("NoSuchFieldException: loadedLibraryNames").
        # The cluster's own checkpoint and state-change directories (where `lakegate resume` looks), not this
        # machine's home.
        for local_only in (
            "rest.bind-address",
            "rest.bind-port",
            "execution.checkpointing.dir",
            "state.changelog.dstl.dfs.base-path",
            "io.tmp.dirs",
        ):
            values.pop(local_only)
    if settings.cluster.execution_target == "remote" and settings.cluster.ship_python_code:
        del values["python.pythonpath"]  # this checkout must not be on the workers' path
        values.update(_shipped_python(settings))
    if settings.cluster.restore_from:
        values["execution.state-recovery.path"] = settings.cluster.restore_from
        # The incremental (changelog) state cannot start from a snapshot it does not own: the restored job
        # takes the snapshot over, and Flink deletes it once newer checkpoints replace it (docs/operations.md).
        values["execution.state-recovery.claim-mode"] = "CLAIM"
    for key, value in values.items():
        conf.set_string(key, value)
    return conf


def _shipped_python(settings: Settings) -> dict[str, str]:
    """Python options for a job whose code travels with it: the staged code as ``python.files`` (Flink ships
    it through the blob server and puts it on the workers' path); dependencies from the cluster's Python."""
    values = {"python.files": str(stage_python_code(settings))}
    if settings.cluster.python:
        values["python.executable"] = settings.cluster.python
    else:  # a cluster on this machine: its interpreter and this virtualenv's packages, not this checkout
        values["python.pythonpath"] = sysconfig.get_paths()["purelib"]
    return values


SHIPPED_PACKAGES = ("jobs", "udfs", "lakegate")


def stage_python_code(settings: Settings) -> Path:
    """A fresh folder under ``<home>/ship`` with lakegate's packages (``.py`` files only) and the contracts."""
    root = Path(udfs.__file__).resolve().parents[1]
    stage = settings.paths.home / "ship" / "lakegate-code"
    if stage.exists():
        shutil.rmtree(stage)
    for package in SHIPPED_PACKAGES:
        shutil.copytree(root / package, stage / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(settings.paths.schemas_dir, stage / SHIPPED_SCHEMAS, ignore=shutil.ignore_patterns("__pycache__"))
    return stage


def _python_path() -> list[str]:
    project_root = Path(udfs.__file__).resolve().parents[1]
    return [sysconfig.get_paths()["purelib"], str(project_root)]


def local_tmp_dir(settings: Settings) -> Path:
    """Where a local job's MiniCluster keeps its working files (``io.tmp.dirs``)."""
    return settings.paths.home / "tmp"


def prepare_process(settings: Settings) -> None:
    os.environ["HADOOP_CLASSPATH"] = jvm.system_classpath(settings)
    if settings.kafka.sasl_password.reveal():
        # Kafka's Java clients read it from their JVM's environment (lakegate/kafka_clients.py); the JVM
        # copies this process's environment when it starts, so a password from the settings file goes here.
        os.environ[kafka_clients.PASSWORD_ENV] = settings.kafka.sasl_password.reveal()
    if settings.catalog.kind != "sqlite":
        # The same for the catalog's credentials (io.lakegate.flink.catalog.EnvJdbcCatalog and EnvRestCatalog
        # read them there): the PostgreSQL URL, the REST catalog's token or client credentials.
        os.environ[catalog.CATALOG_URI_ENV] = settings.catalog.uri.reveal()
    if settings.catalog.token:
        os.environ[catalog.CATALOG_TOKEN_ENV] = settings.catalog.token.reveal()
    if settings.catalog.credential:
        os.environ[catalog.CATALOG_CREDENTIAL_ENV] = settings.catalog.credential.reveal()
    # The object store's keys and checksum modes, where Iceberg's S3FileIO and Flink's S3 filesystem look.
    os.environ.update(objectstore.jvm_environment(settings))
    settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FLINK_LOG_DIR"] = str(settings.paths.log_dir)
    if settings.cluster.execution_target == "local":
        local_tmp_dir(settings).mkdir(parents=True, exist_ok=True)
        os.environ["JVM_ARGS"] = local_jvm_args(settings, os.environ.get("JVM_ARGS", ""))


# The options local_jvm_args puts first, as they read in $JVM_ARGS (which a child process inherits).
_OWN_JVM_ARGS = re.compile(rf"-Xms(\d+)m -Xmx\1m {re.escape(jvm.TASK_JVM_OPTIONS)}(?:\s+|$)")


def local_jvm_args(settings: Settings, current: str) -> str:
    """$JVM_ARGS for the local job's JVM (PyFlink starts it with them): lakegate's options first, then the
    user's, which win. The whole heap is committed from the start, as Flink starts its TaskManagers: a
    long-running job's memory is then flat instead of growing towards -Xmx as the collector widens the heap.
    Options an earlier call (in this process or a parent) put there are replaced, not repeated."""
    heap = f"{settings.job.local_heap_mb}m"
    return f"-Xms{heap} -Xmx{heap} {jvm.TASK_JVM_OPTIONS} {_OWN_JVM_ARGS.sub('', current)}".strip()


def stream_environment(settings: Settings) -> StreamExecutionEnvironment:
    prepare_process(settings)
    conf = flink_configuration(settings)
    if settings.cluster.execution_target == "remote":
        # getExecutionEnvironment() outside `flink run` always builds a local (MiniCluster) environment; the
        # plain constructor honours execution.target=remote and submits over REST.
        j_env_class = get_gateway().jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
        return StreamExecutionEnvironment(j_env_class(conf._j_configuration))
    if settings.objectstore.in_use:
        # A TaskManager process hands its configuration to Flink's filesystems; a local job's MiniCluster
        # does not, so the S3 filesystem would start without the endpoint and region: done here, in the
        # JVM the MiniCluster runs in.
        get_gateway().jvm.org.apache.flink.core.fs.FileSystem.initialize(conf._j_configuration, None)
    return StreamExecutionEnvironment.get_execution_environment(conf)
