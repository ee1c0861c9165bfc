"""A local standalone Flink session cluster from the pip-installed distribution, and jobs on any cluster.

``lakegate cluster up|down|status`` runs a JobManager and ``cluster_taskmanagers`` TaskManagers from
``pyflink/bin`` on loopback, with their own configuration (generated into ``<home>/cluster/conf``), logs,
checkpoints and savepoints under ``<home>/cluster``, and the Prometheus reporter on (loaded by Flink's plugin
manager from ``pyflink/plugins``). Jobs reach any cluster through its REST API (``cluster_rest_url``):
:func:`submit` runs the job's ``main`` with ``execution_target = "remote"`` (the client builds the job graph,
ships the jars in ``pipeline.jars``, submits and returns); :func:`savepoint`, :func:`stop_with_savepoint` and
:func:`latest_checkpoint` (for ``resume``) call the REST endpoints directly.
See docs/operations.md#running-on-a-flink-cluster-submit-upgrade-resume.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyflink
import yaml

from lakegate import jvm, launcher, objectstore, warehouse
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.settings import Settings
from lakegate.stack.process import Service

log = logging.getLogger(__name__)


def flink_home() -> Path:
    return Path(pyflink.__file__).resolve().parent


def cluster_dir(settings: Settings) -> Path:
    return settings.paths.home / "cluster"


def _services(settings: Settings) -> list[Service]:
    """The JobManager, then ``cluster_taskmanagers`` TaskManagers (all with the same configuration)."""
    run = cluster_dir(settings) / "run"
    taskmanagers = [
        Service("taskmanager" if i == 1 else f"taskmanager-{i}", run)
        for i in range(1, settings.cluster.taskmanagers + 1)
    ]
    return [Service("jobmanager", run), *taskmanagers]


def _all_services(settings: Settings) -> list[Service]:
    """What may be running: the configured services plus TaskManagers a larger ``cluster_taskmanagers`` started."""
    services = _services(settings)
    known = {s.name for s in services}
    run = cluster_dir(settings) / "run"
    extra = [Service(f.stem, run) for f in sorted(run.glob("taskmanager-*.pid")) if f.stem not in known]
    return [*services, *extra]


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def configuration(settings: Settings) -> dict[str, Any]:
    """The cluster's config.yaml: the distribution's defaults, then loopback, ports, memory, state, metrics."""
    base = _flatten(yaml.safe_load((flink_home() / "conf" / "config.yaml").read_text()) or {})
    rest = urllib.parse.urlsplit(settings.cluster.rest_url)
    folder = cluster_dir(settings)
    state = warehouse.flink_state(settings, folder)  # checkpoints, savepoints, state changes: maybe a bucket
    base.update(
        {
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": settings.cluster.rpc_port,
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": rest.port or 8081,
            "taskmanager.numberOfTaskSlots": settings.cluster.slots,
            # Two cores and Kafka, a registry and Python beside it: a small JobManager, a TaskManager sized for
            # thread mode (the Python interpreter lives in its process).
            "jobmanager.memory.process.size": "1024m",
            "taskmanager.memory.process.size": settings.cluster.taskmanager_memory,
            "taskmanager.memory.managed.size": "128m",
            "env.java.opts.taskmanager": jvm.TASK_JVM_OPTIONS,
            "execution.checkpointing.dir": (state / "checkpoints").uri,
            "execution.checkpointing.savepoint-dir": (state / "savepoints").uri,
            # The jobs checkpoint their keyed state incrementally (jobs/runtime.py). A TaskManager takes the
            # storage of those changes from its own configuration, not the job's; without this it keeps them
            # in memory and sends them inline with each checkpoint's acknowledgement, which outgrows the RPC
            # frame (10 MB) as the state grows, and the checkpoint never completes.
            "state.changelog.storage": "filesystem",
            "state.changelog.dstl.dfs.base-path": (state / "changelog").uri,
            # Kept when a job is cancelled or its cluster lost: `lakegate resume` restarts from them.
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "execution.checkpointing.num-retained": 3,
            # Job graphs, shipped jars and Python files, spill files: under the cluster's folder, not /tmp.
            "io.tmp.dirs": str(folder / "tmp"),
            "blob.storage.directory": str(folder / "blobs"),
            "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
            "metrics.reporter.prom.port": settings.observation.metrics_port,
            "metrics.reporter.prom.filter.includes": "*.lakegate*:*",
            "metrics.reporter.prom.filterLabelValueCharacters": "false",
            # Flink's S3 filesystem, for a lake or checkpoints in a bucket (its jar is on HADOOP_CLASSPATH).
            **objectstore.flink_filesystem_options(settings),
        }
    )
    return base


def _env(settings: Settings) -> dict[str, str]:
    env = settings.child_env()  # LAKEGATE_* for the Python workers in the TaskManager (secrets included)
    env.update(objectstore.jvm_environment(settings))  # the S3 keys, where the JVMs' AWS SDKs read them
    env.update(
        {
            "FLINK_CONF_DIR": str(cluster_dir(settings) / "conf"),
            "FLINK_LOG_DIR": str(cluster_dir(settings) / "log"),
            # Flink's scripts put HADOOP_CLASSPATH on the cluster's classpath: the Iceberg runtime's Hadoop and
            # SQLite jars, and PyFlink's runtime (opt/flink-python), which a session cluster needs in its parent
            # classloader (pemja's native library can be loaded once per JVM).
            "HADOOP_CLASSPATH": ":".join(
                [jvm.system_classpath(settings), *map(str, sorted((flink_home() / "opt").glob("flink-python-*.jar")))]
            ),
            "FLINK_HOME": str(flink_home()),
        }
    )
    return env


def overview(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    try:
        return dict(rest(settings, "GET", "/overview", timeout_s=timeout_s))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def up(settings: Settings) -> None:
    jvm.ensure_artifacts(settings)
    conf = cluster_dir(settings) / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config.yaml").write_text(yaml.safe_dump(configuration(settings), sort_keys=True))
    for name in ("log4j-console.properties", "log4j.properties", "logback-console.xml"):
        source = flink_home() / "conf" / name
        if source.exists():
            (conf / name).write_text(source.read_text())
    env = _env(settings)
    jobmanager, *taskmanagers = _services(settings)
    bin_dir = flink_home() / "bin"
    jobmanager.start(
        [str(bin_dir / "jobmanager.sh"), "start-foreground"],
        ready=lambda: overview(settings) is not None,
        env=env,
        timeout_s=120,
    )
    for count, taskmanager in enumerate(taskmanagers, 1):
        taskmanager.start(
            [str(bin_dir / "taskmanager.sh"), "start-foreground"],
            ready=_registered(settings, count),
            env=env,
            timeout_s=120,
        )
    log.info(
        "cluster up",
        extra=kv(
            rest=settings.cluster.rest_url,
            dir=cluster_dir(settings),
            taskmanagers=len(taskmanagers),
            slots_each=settings.cluster.slots,
        ),
    )


def _registered(settings: Settings, taskmanagers: int) -> Callable[[], bool]:
    return lambda: (overview(settings) or {}).get("taskmanagers", 0) >= taskmanagers


def down(settings: Settings) -> None:
    for service in reversed(_all_services(settings)):
        service.stop()


def service_pids(settings: Settings) -> list[int]:
    """The running JobManager's and TaskManagers' process ids (their launch scripts; the JVMs are children)."""
    return [pid for pid in (s.pid() for s in _all_services(settings)) if pid is not None]


def status(settings: Settings) -> dict[str, object]:
    out: dict[str, object] = {s.name: s.pid() for s in _all_services(settings)}
    info = overview(settings)
    out["rest"] = settings.cluster.rest_url if info else "not answering"
    if info:
        out["jobs running"] = info.get("jobs-running", 0)
        out["slots free"] = f"{info.get('slots-available', 0)}/{info.get('slots-total', 0)}"
    return out


# ---- REST ------------------------------------------------------------------------------------------------
def rest(
    settings: Settings, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 10.0
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310
        f"{settings.cluster.rest_url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (URL from settings)
        body_bytes = response.read()
    return json.loads(body_bytes) if body_bytes.strip() else {}


def running_job(settings: Settings) -> str | None:
    """The id of the RUNNING job named ``job_name`` on the cluster, if any."""
    jobs = rest(settings, "GET", "/jobs/overview").get("jobs", [])
    found = [j for j in jobs if j.get("name") == settings.job.name and j.get("state") == "RUNNING"]
    return max(found, key=lambda j: j.get("start-time", 0))["jid"] if found else None


def _wait_for(settings: Settings, path: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = rest(settings, "GET", path)
        if answer.get("status", {}).get("id") == "COMPLETED":
            operation = answer.get("operation", {})
            if "failure-cause" in operation:
                raise StackError(
                    f"savepoint failed: {operation['failure-cause'].get('class')}: "
                    f"{operation['failure-cause'].get('stack-trace', '')[:400]}"
                )
            return dict(operation)
        time.sleep(1)
    raise StackError(f"no answer for {path} after {timeout_s:.0f}s")


def savepoint(settings: Settings, job_id: str, *, stop: bool = False, timeout_s: float = 300) -> str:
    """Take a savepoint (``stop``: then stop the job, sources first); return its location."""
    target = (warehouse.flink_state(settings, cluster_dir(settings)) / "savepoints").uri
    if stop:
        trigger = rest(settings, "POST", f"/jobs/{job_id}/stop", {"targetDirectory": target, "drain": False})
    else:
        trigger = rest(
            settings, "POST", f"/jobs/{job_id}/savepoints", {"target-directory": target, "cancel-job": False}
        )
    location = str(_wait_for(settings, f"/jobs/{job_id}/savepoints/{trigger['request-id']}", timeout_s)["location"])
    log.info("savepoint taken", extra=kv(job_id=job_id, location=location, stopped=stop))
    return location


def latest_checkpoint(settings: Settings) -> str | None:
    """The newest retained checkpoint of any job on this cluster, as its ``chk-N/_metadata`` file (written last,
    so its time is the checkpoint's completion). Flink restores from the file as from its folder, and the file
    is unambiguous on object stores, some of which (S3Proxy's filesystem backend) answer for a folder's key as
    if it were an empty object."""
    root = warehouse.flink_state(settings, cluster_dir(settings)) / "checkpoints"
    found = [
        f
        for f in root.files()
        if f.name == "_metadata" and len(parts := root.relative_parts(f)) == 3 and parts[1].startswith("chk-")
    ]
    if not found:
        return None
    newest = max(found, key=lambda f: f.modified_s())
    return newest.path if newest.local else newest.uri


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    restored_from: str | None


def submit(
    settings: Settings, job: str = "ingest", *, restore_from: str | None = None, timeout_s: float = 300
) -> Submitted:
    """Submit ``jobs.<job>`` to the cluster (detached); ``restore_from``: a savepoint or checkpoint path."""
    remote = settings.replace(execution_target="remote", restore_from=restore_from or "")
    done = launcher.run(job, remote, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout_s=timeout_s)
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise StackError(f"submitting {job} failed (exit {done.returncode}):\n{stdout[-2000:]}{stderr[-2000:]}")
    ids = [
        line.rsplit("job_id=", 1)[1].split()[0]
        for line in (stdout + stderr).splitlines()
        if "job submitted" in line and "job_id=" in line
    ]
    if not ids:
        raise StackError(f"{job} exited without submitting a job:\n{stdout[-2000:]}{stderr[-2000:]}")
    return Submitted(ids[-1], restore_from)


def upgrade(settings: Settings, job: str = "ingest") -> Submitted:
    """Stop the running job with a savepoint, then submit the (possibly new) code from it: uids map state."""
    job_id = running_job(settings)
    if job_id is None:
        raise StackError(f"no running job named {settings.job.name} on {settings.cluster.rest_url}")
    return submit(settings, job, restore_from=savepoint(settings, job_id, stop=True))


def resume(settings: Settings, job: str = "ingest") -> Submitted:
    """After a lost cluster or job: submit from the newest retained checkpoint."""
    checkpoint = latest_checkpoint(settings)
    if checkpoint is None:
        raise StackError(f"no retained checkpoint under {cluster_dir(settings) / 'checkpoints'}")
    return submit(settings, job, restore_from=checkpoint)
