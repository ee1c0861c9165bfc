"""Infrastructure faults are not bad data: a registry outage makes the job wait or restart, never quarantine."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest

from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import registry
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit, read_quarantine
from udfs.contract import Contracts

pytestmark = pytest.mark.job

# Much longer than the registry client's budget configured below (2 attempts of 1 s): the routing task fails
# with RegistryUnavailable, Flink restarts it from the last checkpoint, several times over.
OUTAGE_S = 25.0


def test_a_frozen_registry_delays_the_job_and_quarantines_nothing(
    lakegate_stack: Settings, lakegate_contracts: Contracts, run_job: Callable[..., JobRun]
) -> None:
    settings = lakegate_stack.replace(audit_namespace="outage", quarantine_namespace="outage_q",
                                      dlq_topic="outage.dlq", consumer_group="outage", restart_attempts=20,
                                      registry_timeout_s=1, registry_retries=1)
    report = produce(settings, lakegate_contracts, 600, seed=31337)  # all valid
    pid = registry.service(settings).pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the process stays, its port accepts nothing: requests hang, then time out
    thaw = threading.Timer(OUTAGE_S, os.kill, (pid, signal.SIGCONT))
    thaw.start()
    try:
        job = run_job("ingest", settings)
    finally:
        thaw.cancel()
        os.kill(pid, signal.SIGCONT)

    assert job.returncode == 0
    flink_logs = "".join(p.read_text(errors="replace") for p in settings.log_dir.glob("flink-*.log"))
    assert "RegistryUnavailable" in flink_logs, "the outage should have failed the routing task at least once"
    rows = [r for c in lakegate_contracts for r in read_audit(settings, c).to_pylist()]
    audited = {(r["lg_topic"], r["lg_partition"], r["lg_offset"]): r for r in rows}
    assert len(audited) == len(rows), "a record was audited twice across the restarts"
    quarantined = {(r["source_topic"], r["source_partition"], r["source_offset"]): r["reason"]
                   for r in read_quarantine(settings).to_pylist()}
    mine = {(r.topic, r.partition, r.offset) for r in report.records}
    assert mine <= set(audited), f"{len(mine - set(audited))} of our records were not audited"
    assert not mine & set(quarantined), "a registry outage must never quarantine a record"
