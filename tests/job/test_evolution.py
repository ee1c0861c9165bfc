"""Schema evolution end to end: producers on every version of a contract at once, one job, one table; a
field renamed by the latest version is one column holding every writer's values under its new name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate.produce import VALID, produce
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit

pytestmark = pytest.mark.job


def test_producers_on_every_version_interleaved_land_in_one_evolving_table(
    lakegate_stack: Settings, tmp_path: Path, run_job: Callable[..., JobRun]
) -> None:
    settings, contracts = own_lake(lakegate_stack, tmp_path, "evolution")
    contract = next(c for c in contracts if len(c.schema_texts) > 1)
    first, latest = (json.loads(contract.schema_texts[i]) for i in (0, -1))
    new_fields = [f["name"] for f in latest["fields"] if f["name"] not in {g["name"] for g in first["fields"]}]
    assert new_fields, f"{contract.name}: the latest version should add a field"

    report = produce(settings, contracts, 1200, all_versions=True, seed=4242)
    run_job("ingest", settings)

    table = read_audit(settings, contract)
    assert set(new_fields) <= set(table.column_names)
    rows = {(r["lg_topic"], r["lg_partition"], r["lg_offset"]): r for r in table.to_pylist()}
    mine = [r for r in report.records if r.contract == contract.name and r.expected == VALID]
    by_version = {v: [r for r in mine if r.version == v] for v in (1, len(contract.schema_texts))}
    assert all(len(records) > 100 for records in by_version.values()), "both versions must be produced"
    for record in mine:
        row = rows[(record.topic, record.partition, record.offset)]
        assert row[contract.event_id_field] == record.event_id
        assert row["lg_schema_version"] == record.version
    old_rows = [rows[(r.topic, r.partition, r.offset)] for r in by_version[1]]
    new_rows = [rows[(r.topic, r.partition, r.offset)] for r in by_version[len(contract.schema_texts)]]
    for name in new_fields:
        assert all(row[name] is None for row in old_rows), "v1 rows must carry the reader default (null)"
        assert any(row[name] is not None for row in new_rows), "the latest version's rows must carry their values"

    assert contract.renames, f"{contract.name}: the latest version should rename a field"
    latest_version = len(contract.schema_texts)
    for old_name, new_name in contract.renames.items():
        assert old_name not in table.column_names, "a renamed field is one column, under its new name"
        # Writers of the versions between the field's first and the rename write it under its old name.
        writers = [v for v, schema in enumerate(map(json.loads, contract.schema_texts), 1) if _has(schema, old_name)]
        old_name_rows = [rows[(r.topic, r.partition, r.offset)] for r in mine if r.version in writers]
        assert len(old_name_rows) > 100 and latest_version not in writers
        assert any(row[new_name] is not None for row in old_name_rows), f"{old_name} writers' values are lost"
        assert any(row[new_name] is not None for row in new_rows), f"{new_name} writers' values are lost"


def _has(schema: dict[str, object], name: str) -> bool:
    fields = schema["fields"]
    assert isinstance(fields, list)
    return any(f["name"] == name for f in fields)
