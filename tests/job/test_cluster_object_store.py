"""A local standalone Flink cluster whose lake and checkpoints are in S3 buckets (S3Proxy on loopback): a
TaskManager killed with SIGKILL under load, and the whole cluster lost then resumed from its retained
checkpoint in the bucket; every record once, the read models right."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator

import pytest

from lakegate import cluster
from lakegate.objectstore import filesystem
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import objectstore
from lakegate.testing.invariant import assert_every_record_once, wait_until_drained
from lakegate.testing.lake import own_lake
from lakegate.testing.ports import free_port, free_port_range
from lakegate.testing.readmodels import mismatches
from udfs.contract import Contracts

pytestmark = pytest.mark.job

CHECKPOINTS = "s3://flink-state/s3cl"


@pytest.fixture(scope="module")
def s3_cluster(
    lakegate_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Contracts]]:
    folder = tmp_path_factory.mktemp("s3-cluster")
    settings, contracts = own_lake(
        lakegate_stack,
        folder,
        "s3cl",
        home=folder / "home",
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="lakegate-test",
        s3_secret_access_key=secrets.token_urlsafe(24),
        s3_warehouse="s3://lake/warehouse",
        s3_checkpoints=CHECKPOINTS,
        cluster_rest_url=f"http://127.0.0.1:{free_port()}",
        cluster_rpc_port=free_port(),
        metrics_port=free_port_range(4),
        cluster_taskmanager_memory="1536m",
        job_name="lakegate-s3-cluster",
        drain=False,
        restart_attempts=20,
    )
    objectstore.start(settings)  # with the warehouse's bucket
    try:
        filesystem(settings, allow_bucket_creation=True).create_dir("flink-state")
        cluster.up(settings)
        try:
            yield settings, contracts
        finally:
            cluster.down(settings)
    finally:
        objectstore.stop(settings)


def _checks(settings: Settings, contracts: Contracts) -> None:
    assert_every_record_once(settings, contracts)
    assert mismatches(settings, contracts) == {}, "read models equal the independent computation"
    assert not settings.paths.warehouse_path.exists(), "nothing of the lake on this disk"
    secret = settings.objectstore.secret_access_key.reveal().encode()
    logs = [p for p in (cluster.cluster_dir(settings) / "log").rglob("*") if p.is_file()]
    assert logs and not [p for p in logs if secret in p.read_bytes()], "the S3 secret is in no cluster log"


def test_kill_9_of_the_taskmanager_under_load_restores_from_its_checkpoint_in_the_bucket(
    s3_cluster: tuple[Settings, Contracts],
) -> None:
    settings, contracts = s3_cluster
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    produce(settings, contracts, 300, bad_fraction=0.1, seed=63)
    wait_until_drained(settings, contracts)
    stored = objectstore.folder(settings) / "data" / "flink-state" / "s3cl" / "checkpoints" / job
    deadline = time.monotonic() + 30
    while not any(stored.glob("chk-*/_metadata")):
        assert time.monotonic() < deadline, "no checkpoint of the job in the bucket after 30 s"
        time.sleep(1)
    produce(settings, contracts, 600, bad_fraction=0.1, duplicate_fraction=0.05, seed=66)
    pid = cluster.status(settings)["taskmanager"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)  # mid-stream: the job fails over once a new TaskManager registers
    cluster.up(settings)  # the JobManager is still there: only the TaskManager starts again
    wait_until_drained(settings, contracts)
    assert cluster.running_job(settings) == job, "the same job, restored from its checkpoints in the bucket"
    _checks(settings, contracts)
    cluster.rest(settings, "PATCH", f"/jobs/{job}?mode=cancel")


def test_after_losing_the_cluster_resume_from_the_retained_checkpoint_in_the_bucket_keeps_every_record(
    s3_cluster: tuple[Settings, Contracts],
) -> None:
    settings, contracts = s3_cluster
    job = cluster.running_job(settings) or cluster.submit(settings).job_id
    produce(settings, contracts, 600, bad_fraction=0.1, seed=64)
    wait_until_drained(settings, contracts)
    time.sleep(3)  # a checkpoint after the drain: the retained one then covers everything read so far
    # Lose the cluster the hard way: SIGKILL the JobManager and the TaskManager, no savepoint, no cancel.
    for pid in (cluster.status(settings)["jobmanager"], cluster.status(settings)["taskmanager"]):
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
    produce(settings, contracts, 600, bad_fraction=0.1, seed=65)  # while no cluster runs
    cluster.up(settings)
    checkpoint = cluster.latest_checkpoint(settings)
    assert checkpoint is not None and checkpoint.startswith(f"{CHECKPOINTS}/checkpoints/{job}/chk-")
    assert checkpoint.endswith("/_metadata")
    resumed = cluster.resume(settings)
    assert resumed.restored_from == checkpoint
    wait_until_drained(settings, contracts)
    _checks(settings, contracts)
    cluster.rest(settings, "PATCH", f"/jobs/{resumed.job_id}?mode=cancel")
