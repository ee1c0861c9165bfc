"""A contract gains a field while the job runs: the audit table gains the column without a job restart,
the running job keeps committing, and across a crash and restart no record is lost or doubled."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyiceberg.exceptions import NoSuchTableError

from lakegate.contracts_check import run_publish
from lakegate.produce import VALID, ProduceReport, produce
from lakegate.settings import Settings
from lakegate.testing.plugin import JobRun, RunningJob
from lakegate.testing.readers import read_audit, read_quarantine
from udfs.contract import load_contracts

pytestmark = pytest.mark.job

NEW_FIELD = "satisfaction_score"  # added by tickets v2


def _v1_only(schemas: Path) -> str:
    """Make the tickets contract list v1 only (rules on v2's field go too); return the original text."""
    contract = schemas / "tickets" / "contract.toml"
    original = contract.read_text()
    head, sep, tail = original.partition("\n[[rules]]")
    both = 'schemas = ["ticket_event.v1.avsc", "ticket_event.v2.avsc"]'
    assert both in head
    head = head.replace(both, 'schemas = ["ticket_event.v1.avsc"]')
    rules = [block for block in (sep + tail).split("\n[[rules]]") if block and NEW_FIELD not in block]
    contract.write_text(head + "".join("\n[[rules]]" + block for block in rules))
    return original


def _audited(settings: Settings) -> dict[tuple[str, int, int], dict[str, object]]:
    out: dict[tuple[str, int, int], dict[str, object]] = {}
    for contract in load_contracts(settings.paths.schemas_dir):
        try:
            rows = read_audit(settings, contract).to_pylist()
        except NoSuchTableError:  # the job creates its tables when it starts
            continue
        for row in rows:
            key = (row["lg_topic"], row["lg_partition"], row["lg_offset"])
            assert key not in out, f"{key} audited twice"
            out[key] = row
    return out


def _wait_until_audited(settings: Settings, report: ProduceReport, job: RunningJob, timeout_s: float = 180) -> None:
    wanted = {(r.topic, r.partition, r.offset) for r in report.records if r.expected == VALID}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert job.alive, f"the job died; see {job.log}"
        if wanted <= set(_audited(settings)):
            return
        time.sleep(2)
    pytest.fail(f"records not audited within {timeout_s}s; see {job.log}")


def test_a_field_added_while_the_job_runs(
    lakegate_stack: Settings,
    run_job: Callable[..., JobRun],
    start_job: Callable[[str, Settings], RunningJob],
    tmp_path: Path,
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(lakegate_stack.paths.schemas_dir, schemas)
    original = _v1_only(schemas)
    settings = lakegate_stack.replace(
        schemas_dir=schemas,
        audit_namespace="live",
        quarantine_namespace="live_q",
        dlq_topic="live.dlq",
        consumer_group="live",
        drain=False,
    )
    job = start_job("ingest", settings)
    first = produce(settings, load_contracts(schemas), 300, seed=1)
    _wait_until_audited(settings, first, job)

    (schemas / "tickets" / "contract.toml").write_text(original)  # the contract gains v2
    out: list[str] = []
    assert run_publish(settings, out=out.append) == 0, "\n".join(out)
    tickets = load_contracts(schemas).by_name("tickets")
    assert NEW_FIELD in read_audit(settings, tickets).column_names, "the table gains the column at publish"
    second = produce(settings, load_contracts(schemas), 300, seed=2, all_versions=True)
    _wait_until_audited(settings, second, job)  # still the v1-reader job: it keeps committing
    assert job.alive

    job.stop()  # a crash: no final checkpoint; the next run resumes from the lake
    third = produce(settings, load_contracts(schemas), 300, seed=3)
    run_job("ingest", settings.replace(drain=True))

    audited = _audited(settings)
    quarantined = {
        (r["source_topic"], r["source_partition"], r["source_offset"]) for r in read_quarantine(settings).to_pylist()
    }
    for report in (first, second, third):
        for record in report.records:
            coordinate = (record.topic, record.partition, record.offset)
            assert (coordinate in audited) != (coordinate in quarantined), f"{coordinate}: not in exactly one place"
    new_rows = [
        audited[(r.topic, r.partition, r.offset)]
        for r in third.records
        if r.contract == "tickets" and r.expected == VALID
    ]
    assert any(row[NEW_FIELD] is not None for row in new_rows), "after the restart the job fills the column"
