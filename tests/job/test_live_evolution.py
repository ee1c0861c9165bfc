"""A contract gains a field, or renames one, while the job runs: the audit table gains or renames the column
at `contracts publish` without a job restart, the running job keeps committing, and across a crash and
restart no record is lost or doubled; a renamed column holds old and new writers' values under its new name."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from lakegate.catalog import audit_table_name, open_catalog
from lakegate.contracts_check import run_publish
from lakegate.produce import VALID, ProduceReport, produce
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun, RunningJob
from lakegate.testing.readers import quarantined_coordinates, read_audit
from udfs.contract import Contract, load_contracts

pytestmark = pytest.mark.job

NEW_FIELD = "csat_score"  # added by tickets v2 (as satisfaction_score), renamed by v3
OLD_NAME = "satisfaction_score"
ALL_VERSIONS = 'schemas = ["ticket_event.v1.avsc", "ticket_event.v2.avsc", "ticket_event.v3.avsc"]'


def _v1_only(schemas: Path) -> str:
    """Make the tickets contract list v1 only (rules on v2's field go too); return the original text."""
    contract = schemas / "tickets" / "contract.toml"
    original = contract.read_text()
    head, sep, tail = original.partition("\n[[rules]]")
    assert ALL_VERSIONS in head
    head = head.replace(ALL_VERSIONS, 'schemas = ["ticket_event.v1.avsc"]')
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
    settings, _ = own_lake(lakegate_stack, tmp_path, "live", drain=False)
    schemas = settings.paths.schemas_dir
    original = _v1_only(schemas)
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
    quarantined = set(quarantined_coordinates(settings))
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


def _audit_table(settings: Settings, contract: Contract) -> Table:
    return open_catalog(settings).load_table(audit_table_name(settings, contract))


def _before_rename(schemas: Path) -> str:
    """Make the tickets contract list v1 and v2 (the field under its old name); return the original text."""
    contract = schemas / "tickets" / "contract.toml"
    original = contract.read_text()
    assert ALL_VERSIONS in original and f'field = "{NEW_FIELD}"' in original
    contract.write_text(
        original.replace(ALL_VERSIONS, 'schemas = ["ticket_event.v1.avsc", "ticket_event.v2.avsc"]').replace(
            f'field = "{NEW_FIELD}"', f'field = "{OLD_NAME}"'
        )
    )
    return original


def test_a_field_renamed_while_the_job_runs_keeps_one_column_with_every_writers_values(
    lakegate_stack: Settings,
    run_job: Callable[..., JobRun],
    start_job: Callable[[str, Settings], RunningJob],
    tmp_path: Path,
) -> None:
    settings, _ = own_lake(lakegate_stack, tmp_path, "renamed", drain=False)
    schemas = settings.paths.schemas_dir
    original = _before_rename(schemas)
    job = start_job("ingest", settings)  # reads tickets as v2 reads them: satisfaction_score
    before = load_contracts(schemas)
    first = produce(settings, before, 300, seed=21, all_versions=True)  # v1 and v2 writers
    _wait_until_audited(settings, first, job)
    tickets_v2 = before.by_name("tickets")
    field_id = _audit_table(settings, tickets_v2).schema().find_field(OLD_NAME).field_id

    (schemas / "tickets" / "contract.toml").write_text(original)  # v3 renames the field
    out: list[str] = []
    assert run_publish(settings, out=out.append) == 0, "\n".join(out)
    tickets = load_contracts(schemas).by_name("tickets")
    columns = {f.name: f.field_id for f in _audit_table(settings, tickets).schema().fields}
    assert OLD_NAME not in columns and columns[NEW_FIELD] == field_id, "publish renames the column (same id)"
    # Producers move to v3 after the job does; until then they write v1 and v2 (v3's values would be lost
    # on a v2 reader: Avro resolution follows aliases from the reader only).
    second = produce(settings, before, 300, seed=22, all_versions=True)
    _wait_until_audited(settings, second, job)  # still the v2-reader job: it keeps committing
    assert job.alive

    job.stop()  # a crash: the next run, on v3, resumes from the lake
    third = produce(settings, load_contracts(schemas), 600, seed=23, all_versions=True)  # v1, v2, v3 interleaved
    run_job("ingest", settings.replace(drain=True))

    audited = _audited(settings)
    quarantined = set(quarantined_coordinates(settings))
    versions_seen = set()
    for report in (first, second, third):
        for record in report.records:
            coordinate = (record.topic, record.partition, record.offset)
            assert (coordinate in audited) != (coordinate in quarantined), f"{coordinate}: not in exactly one place"
            if record.contract != "tickets" or record.expected != VALID:
                continue
            row = audited[coordinate]
            assert OLD_NAME not in row
            # The generator gives a score exactly to SOLVED and CLOSED tickets; v1 has no such field.
            scored = record.version >= 2 and row["status"] in ("SOLVED", "CLOSED")
            assert (row[NEW_FIELD] is not None) == scored, f"v{record.version} writer's value lost: {row}"
            versions_seen.add((report is third, record.version))
    assert {(False, 2), (True, 2), (True, 3)} <= versions_seen, versions_seen
