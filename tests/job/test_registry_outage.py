"""Infrastructure faults are not bad data: a registry outage makes the job wait or restart, never quarantine."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import registry
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit, read_quarantine

pytestmark = pytest.mark.job

# The registry stays frozen until the routing task has failed on it (the registry client's budget below is 2
# attempts of 1 s), then a little longer so Flink restarts the task from its checkpoint more than once.
# Event-driven, not a fixed outage: on a busy machine the job may need longer than any fixed time to start.
AFTER_FIRST_FAILURE_S = 6.0
MAX_OUTAGE_S = 300.0


def test_a_frozen_registry_delays_the_job_and_quarantines_nothing(
    lakegate_stack: Settings, tmp_path: Path, run_job: Callable[..., JobRun]
) -> None:
    settings, contracts = own_lake(
        lakegate_stack,
        tmp_path,
        "outage",
        restart_attempts=20,
        registry_timeout_s=1,
        registry_retries=1,
    )
    report = produce(settings, contracts, 600, seed=31337)  # all valid
    pid = registry.service(settings).pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the process stays, its port accepts nothing: requests hang, then time out
    before = _registry_failures(settings)
    done = threading.Event()
    thaw = threading.Thread(target=_thaw_after_failures, args=(settings, pid, before, done), daemon=True)
    thaw.start()
    try:
        job = run_job("ingest", settings)
    finally:
        done.set()
        os.kill(pid, signal.SIGCONT)

    assert job.returncode == 0
    assert _registry_failures(settings) > before, "the outage should have failed the routing task at least once"
    rows = [r for c in contracts for r in read_audit(settings, c).to_pylist()]
    audited = {(r["lg_topic"], r["lg_partition"], r["lg_offset"]): r for r in rows}
    assert len(audited) == len(rows), "a record was audited twice across the restarts"
    quarantined = {
        (r["source_topic"], r["source_partition"], r["source_offset"]): r["reason"]
        for r in read_quarantine(settings).to_pylist()
    }
    mine = {(r.topic, r.partition, r.offset) for r in report.records}
    assert mine <= set(audited), f"{len(mine - set(audited))} of our records were not audited"
    assert not mine & set(quarantined), "a registry outage must never quarantine a record"


def _registry_failures(settings: Settings) -> int:
    return sum(
        p.read_text(errors="replace").count("RegistryUnavailable") for p in settings.paths.log_dir.glob("flink-*.log")
    )


def _thaw_after_failures(settings: Settings, pid: int, before: int, done: threading.Event) -> None:
    deadline = time.monotonic() + MAX_OUTAGE_S
    while not done.is_set() and time.monotonic() < deadline and _registry_failures(settings) <= before:
        time.sleep(0.5)
    done.wait(AFTER_FIRST_FAILURE_S)
    os.kill(pid, signal.SIGCONT)
