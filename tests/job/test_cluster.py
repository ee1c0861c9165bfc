"""A local standalone Flink cluster: submit the ingest job, upgrade it mid-stream, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from lakegate import cluster
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.testing.ports import free_port, free_port_range
from lakegate.testing.readers import read_audit, read_quarantine, topic_coordinates
from udfs.contract import Contracts

pytestmark = pytest.mark.job

Coordinate = tuple[str, int, int]


@pytest.fixture(scope="module")
def lakegate_cluster(lakegate_stack: Settings) -> Iterator[Settings]:
    settings = lakegate_stack.replace(
        cluster_rest_url=f"http://127.0.0.1:{free_port()}", cluster_rpc_port=free_port(),
        metrics_port=free_port_range(4), cluster_taskmanager_memory="1536m",
        audit_namespace="cl", quarantine_namespace="cl_q", dlq_topic="cl.dlq", consumer_group="cl",
        readmodel_namespace="cl_models", changelog_topic_prefix="cl.changelog.", drain=False,
        restart_attempts=3,
    )
    cluster.up(settings)
    try:
        yield settings
    finally:
        cluster.down(settings)


def _lake(settings: Settings, contracts: Contracts) -> tuple[list[Coordinate], list[Coordinate]]:
    audited: list[Coordinate] = []
    for contract in contracts:
        rows = read_audit(settings, contract)  # once: the job may commit between two reads
        audited += zip(*(rows[n].to_pylist() for n in ("lg_topic", "lg_partition", "lg_offset")), strict=True)
    q = read_quarantine(settings)
    quarantined = list(zip(q["source_topic"].to_pylist(), q["source_partition"].to_pylist(),
                           q["source_offset"].to_pylist(), strict=True))
    return audited, quarantined


def _wait_until_drained(settings: Settings, contracts: Contracts, timeout_s: float = 240) -> None:
    expected = topic_coordinates(settings, [c.topic for c in contracts])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        audited, quarantined = _lake(settings, contracts)
        if set(audited) | set(quarantined) >= expected:
            return
        time.sleep(2)
    audited, quarantined = _lake(settings, contracts)
    pytest.fail(f"the lake holds {len(set(audited) | set(quarantined))} of {len(expected)} records")


def _assert_every_record_once(settings: Settings, contracts: Contracts) -> None:
    """Audit plus quarantine == every record in the topics, disjoint, nothing written twice."""
    audited, quarantined = _lake(settings, contracts)
    doubled = {c: n for c, n in Counter(audited + quarantined).items() if n > 1}
    assert not doubled, f"{len(doubled)} records written twice, e.g. {next(iter(doubled))}"
    assert set(audited) | set(quarantined) == topic_coordinates(settings, [c.topic for c in contracts])
    assert not set(audited) & set(quarantined)


def test_upgrade_of_a_running_job_keeps_every_record(lakegate_cluster: Settings,
                                                     lakegate_contracts: Contracts) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    produce(settings, contracts, 800, bad_fraction=0.1, duplicate_fraction=0.05, seed=61)
    first = cluster.submit(settings)
    assert cluster.running_job(settings) == first.job_id
    _wait_until_drained(settings, contracts)

    # More records, and the upgrade while they stream in: stop with a savepoint, resubmit from it.
    produce(settings, contracts, 800, bad_fraction=0.1, duplicate_fraction=0.05, seed=62)
    upgraded = cluster.upgrade(settings)
    assert upgraded.job_id != first.job_id and upgraded.restored_from
    assert "savepoint" in upgraded.restored_from
    produce(settings, contracts, 400, bad_fraction=0.1, seed=63)
    _wait_until_drained(settings, contracts)

    _assert_every_record_once(settings, contracts)
    assert cluster.running_job(settings) == upgraded.job_id
    cluster.rest(settings, "PATCH", f"/jobs/{upgraded.job_id}?mode=cancel")


def test_after_losing_the_cluster_resume_from_the_retained_checkpoint_keeps_every_record(
    lakegate_cluster: Settings, lakegate_contracts: Contracts
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    produce(settings, contracts, 600, bad_fraction=0.1, seed=64)
    _wait_until_drained(settings, contracts)
    time.sleep(3)  # a checkpoint after the drain: the retained one then covers everything read so far
    # Lose the cluster the hard way: SIGKILL the JobManager and the TaskManager, no savepoint, no cancel.
    for pid in (cluster.status(settings)["jobmanager"], cluster.status(settings)["taskmanager"]):
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
    produce(settings, contracts, 600, bad_fraction=0.1, seed=65)  # while no cluster runs
    cluster.up(settings)
    checkpoint = cluster.latest_checkpoint(settings)
    assert checkpoint is not None and job in checkpoint
    resumed = cluster.resume(settings)
    assert resumed.restored_from == checkpoint
    _wait_until_drained(settings, contracts)

    _assert_every_record_once(settings, contracts)
    cluster.rest(settings, "PATCH", f"/jobs/{resumed.job_id}?mode=cancel")


def test_kill_9_of_the_taskmanager_twice_under_load_keeps_every_record(
    lakegate_cluster: Settings, lakegate_contracts: Contracts
) -> None:
    settings, contracts = lakegate_cluster, lakegate_contracts
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    _wait_until_drained(settings, contracts)
    for seed in (66, 67):
        produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=seed)
        pid = cluster.status(settings)["taskmanager"]
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)  # mid-stream: the job fails over once a new TaskManager registers
        cluster.up(settings)  # the JobManager is still there: only the TaskManager starts again
        _wait_until_drained(settings, contracts)
    assert cluster.running_job(settings) == job  # the same job, restarted from its checkpoints
    _assert_every_record_once(settings, contracts)
    cluster.rest(settings, "PATCH", f"/jobs/{job}?mode=cancel")
