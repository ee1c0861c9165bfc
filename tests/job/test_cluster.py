"""A local standalone Flink cluster: submit the ingest job, kill it between two sinks' commits, restore it, upgrade it
mid-stream, lose the broker, the registry, the catalog: nothing lost or doubled. (Losing the cluster and killing
TaskManagers: tests/job/test_cluster_object_store.py, with the lake and checkpoints in a bucket.)"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakegate import cluster
from lakegate.catalog import audit_table_name, quarantine_table_name
from lakegate.produce import VALID, produce
from lakegate.settings import Settings
from lakegate.stack import kafka, registry
from lakegate.testing.invariant import assert_every_record_once, wait_until_drained
from lakegate.testing.ports import free_port, free_port_range
from lakegate.testing.readers import quarantined_coordinates, read_dead_letters, read_quarantine
from lakegate.testing.readmodels import mismatches
from udfs.contract import Contracts
from udfs.registry import RegistryClient

pytestmark = pytest.mark.job


@pytest.fixture(scope="module")
def lakegate_cluster(lakegate_stack: Settings) -> Iterator[Settings]:
    settings = lakegate_stack.replace(
        cluster_rest_url=f"http://127.0.0.1:{free_port()}",
        cluster_rpc_port=free_port(),
        metrics_port=free_port_range(4),
        cluster_taskmanager_memory="1536m",
        audit_namespace="cl",
        quarantine_namespace="cl_q",
        dlq_topic="cl.dlq",
        consumer_group="cl",
        readmodel_namespace="cl_models",
        changelog_topic_prefix="cl.changelog.",
        drain=False,
        # Faults below fail the job several times over (each failure counts against the fixed-delay budget);
        # a registry lookup gives up after 2 attempts of 2 s, so an outage fails the routing task quickly.
        restart_attempts=40,
        registry_timeout_s=2,
        registry_retries=1,
    )
    cluster.up(settings)
    try:
        yield settings
    finally:
        cluster.down(settings)


def test_killed_between_two_sinks_commits_restored_then_upgraded_keeps_every_record_and_the_models_right(
    lakegate_cluster: Settings,
    lakegate_contracts: Contracts,
    crash_agent: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TaskManager is SIGKILLed right after the audit table committed a checkpoint the quarantine table has
    not (the crash agent, tests/job/crash_agent); the job restores from its checkpoint on a new TaskManager, is
    upgraded (`lakegate upgrade`: stop with a savepoint, submit from it) while records stream in, and drains."""
    settings, contracts = lakegate_cluster.replace(checkpoint_interval_ms=1000), lakegate_contracts
    tickets = next(c for c in contracts if c.name == "tickets")
    marker = tmp_path / "killed.txt"
    first, second = f"table:{audit_table_name(settings, tickets)}", f"table:{quarantine_table_name(settings)}"
    _restart_taskmanager(
        settings, jvm_args=f"-javaagent:{crash_agent}={first},{second},2,{marker}", monkeypatch=monkeypatch
    )
    sending = threading.Thread(
        target=produce,
        args=(settings, contracts, 5000),
        kwargs={"bad_fraction": 0.1, "duplicate_fraction": 0.05, "seed": 61, "rate": 200.0},
    )
    first_job = cluster.submit(settings)
    sending.start()
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert time.monotonic() < deadline, "the TaskManager was not killed between the two tables' commits"
        time.sleep(1)
    sending.join()
    _restart_taskmanager(settings, jvm_args=None, monkeypatch=monkeypatch)  # the job restores from its checkpoint
    wait_until_drained(settings, contracts, timeout_s=300)
    assert cluster.running_job(settings) == first_job.job_id

    # More records, and the upgrade while they stream in: stop with a savepoint, resubmit from it.
    produce(settings, contracts, 800, bad_fraction=0.1, duplicate_fraction=0.05, seed=62)
    upgraded = cluster.upgrade(settings)
    assert upgraded.job_id != first_job.job_id and upgraded.restored_from
    assert "savepoint" in upgraded.restored_from
    produce(settings, contracts, 400, bad_fraction=0.1, seed=63)
    wait_until_drained(settings, contracts)

    assert_every_record_once(settings, contracts)
    quarantined = Counter(quarantined_coordinates(settings))
    deadline = time.monotonic() + 60  # the Kafka transactions commit after the tables, on the next checkpoints
    while True:
        letters = Counter(d.source for d in read_dead_letters(settings))
        wrong = mismatches(settings, contracts)
        if (letters == quarantined and not wrong) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert letters == quarantined, "the dead-letter topic holds what the quarantine table holds"
    assert wrong == {}, "read models differ from the audit log's computation"
    assert cluster.running_job(settings) == upgraded.job_id
    cluster.rest(settings, "PATCH", f"/jobs/{upgraded.job_id}?mode=cancel")


def _restart_taskmanager(settings: Settings, *, jvm_args: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL the TaskManager if it still runs, start a new one with ``jvm_args`` ($JVM_ARGS of its JVM only)."""
    pid = cluster.status(settings)["taskmanager"]
    if isinstance(pid, int):
        os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid)
    with monkeypatch.context() as env:
        if jvm_args is None:
            env.delenv("JVM_ARGS", raising=False)
        else:
            env.setenv("JVM_ARGS", jvm_args)
        cluster.up(settings)


def test_a_broker_killed_and_restarted_mid_run_keeps_every_record(
    lakegate_cluster: Settings, lakegate_contracts: Contracts
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=81)
    pid = kafka.service(settings).pid()
    assert pid is not None
    try:
        os.kill(pid, signal.SIGKILL)  # no controlled shutdown: open transactions, fetches and commits cut off
        _wait_for_exit(pid)
        time.sleep(5)  # the job's clients time out and retry against a broker that is not there
    finally:
        kafka.start(settings)  # the broker is the session's: it must come back whatever happened
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=82)
    wait_until_drained(settings, contracts, timeout_s=300)
    assert_every_record_once(settings, contracts)
    assert cluster.running_job(settings) == job


def test_the_registry_taken_away_mid_run_quarantines_nothing_for_it(
    lakegate_cluster: Settings, lakegate_contracts: Contracts
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    wait_until_drained(settings, contracts)
    registering = _RegisteredOnce(settings.registry_client())
    produce(settings, contracts, 0, bad_fraction=1.0, registry=registering)  # register everything now
    pid = registry.service(settings).pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # connections hang, then time out: what a dead host looks like
    try:
        # Records with a schema id never seen before: the job must ask the registry, which does not answer.
        report = produce(
            settings,
            contracts,
            600,
            bad_fraction=0.1,
            registry=registering,
            seed=83,
            unknown_schema_id=1_000_000_000 + random.randrange(1_000_000),
        )
        deadline = time.monotonic() + 240
        while "RegistryUnavailable" not in str(cluster.rest(settings, "GET", f"/jobs/{job}/exceptions")):
            assert time.monotonic() < deadline, "the outage should have failed the routing task"
            time.sleep(1)
        time.sleep(6)  # and a restart or two more while it stays away
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until_drained(settings, contracts, timeout_s=300)

    assert_every_record_once(settings, contracts)
    q = read_quarantine(settings)
    reasons = dict(
        zip(
            zip(
                q["source_topic"].to_pylist(),
                q["source_partition"].to_pylist(),
                q["source_offset"].to_pylist(),
                strict=True,
            ),
            q["reason"].to_pylist(),
            strict=True,
        )
    )
    for record in report.records:  # each record where it belongs, a bad one for its own reason
        assert reasons.get((record.topic, record.partition, record.offset), VALID) == record.expected, record
    assert cluster.running_job(settings) == job


def test_an_iceberg_commit_failing_keeps_every_record(
    lakegate_cluster: Settings, lakegate_contracts: Contracts
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    wait_until_drained(settings, contracts)
    started_ms = int(time.time() * 1000)
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=84)
    # Hold the catalog's write lock longer than the JDBC driver's busy timeout: the next checkpoint's
    # Iceberg commits fail (SQLITE_BUSY), the job fails over and commits again from its checkpoint.
    with contextlib.closing(sqlite3.connect(settings.paths.catalog_db_path, timeout=30)) as db:
        db.execute("BEGIN EXCLUSIVE")
        time.sleep(8)
        db.rollback()
    produce(settings, contracts, 300, bad_fraction=0.1, seed=85)
    wait_until_drained(settings, contracts, timeout_s=300)

    entries = cluster.rest(settings, "GET", f"/jobs/{job}/exceptions").get("exceptionHistory", {}).get("entries", [])
    since = [e for e in entries if e.get("timestamp", 0) >= started_ms]
    assert since, "no failure since the catalog was locked"
    assert "SQLITE_BUSY" in str(since), "the job failed, but not on the locked catalog"
    assert_every_record_once(settings, contracts)
    assert cluster.running_job(settings) == job


def test_a_job_shipped_with_its_code_and_contracts_runs_without_this_checkout(
    lakegate_cluster: Settings, lakegate_contracts: Contracts, tmp_path: Path
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    running = cluster.running_job(settings)
    if running:
        cluster.savepoint(settings, running, stop=True)
    # The contracts from a folder that is gone once the job is submitted: workers must use the shipped copy.
    schemas = tmp_path / "schemas"
    shutil.copytree(settings.paths.schemas_dir, schemas)
    shipped = settings.replace(ship_python_code=True, schemas_dir=schemas)
    job = cluster.submit(shipped).job_id
    shutil.rmtree(schemas)
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=86)
    wait_until_drained(settings, contracts)
    assert_every_record_once(settings, contracts)

    # The TaskManager runs the shipped copy (unpacked under its io.tmp.dirs), not this checkout.
    unpacked = list((settings.paths.home / "cluster" / "tmp").rglob("udfs/router.py"))
    assert unpacked, "no shipped copy of the code on the TaskManager"
    assert cluster.running_job(settings) == job
    cluster.rest(settings, "PATCH", f"/jobs/{job}?mode=cancel")


class _RegisteredOnce:
    """A registrar that asks the registry once per schema and remembers: produces while it is away."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self._ids: dict[tuple[str, str], int] = {}

    def register(self, subject: str, schema_text: str) -> int:
        if (subject, schema_text) not in self._ids:
            self._ids[subject, schema_text] = self._client.register(subject, schema_text)
        return self._ids[subject, schema_text]


def _wait_for_exit(pid: int, timeout_s: float = 30) -> None:
    """Until the process is gone; a killed child of this process is reaped (else it stays a zombie)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.2)
    raise AssertionError(f"process {pid} still there {timeout_s:.0f} s after SIGKILL")
