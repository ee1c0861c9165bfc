"""Read models end to end: creates, updates and deletes of the same keys, interleaved across partitions.

The expected state is computed here, independently of udfs/readmodels/, from the audit log (the valid,
deduplicated records) and the ordering rule as the contract documentation states it. The job's Iceberg
tables, its compacted changelog topics, and a rebuild from the audit log must all equal it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest

from jobs.maintain import maintain
from jobs.rebuild_model import rebuild
from lakegate import readmodels
from lakegate.catalog import open_catalog
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readmodels import (
    changelog_state,
    comparable,
    events,
    expected_aggregate,
    expected_current,
    table_state,
)
from udfs.readmodels import AggregateModel, CurrentModel

pytestmark = pytest.mark.job


# rebuild and maintain run here, in PyFlink's gateway JVM: the fixture keeps that JVM's process referenced.
@pytest.mark.usefixtures("jvm_gateway")
def test_read_models_equal_the_last_valid_event_per_key_and_the_changelog_agrees(
    lakegate_stack: Settings, run_job: Callable[..., JobRun], tmp_path: Path
) -> None:
    settings, contracts = own_lake(lakegate_stack, tmp_path, "rm", checkpoint_interval_ms=200)
    produce(settings, contracts, 3000, bad_fraction=0.1, duplicate_fraction=0.05, all_versions=True, seed=2024)
    run_job("ingest", settings)
    salt = settings.job.pii_salt.reveal().encode()
    models = readmodels.all_models(contracts)
    assert {type(m) for m, _ in models} == {CurrentModel, AggregateModel}
    for model, contract in models:
        audited = events(settings, contract)
        if isinstance(model, CurrentModel):
            expected = expected_current(model, contract, audited, salt)
            names = [*model.key, *model.fields]
            # The input really interleaves: keys with several events, over several partitions, some deleted.
            per_key = Counter(tuple(r[k] for k in model.key) for r in audited)
            assert max(per_key.values()) >= 3
            assert len({r["lg_partition"] for r in audited}) > 1
            assert any(r[model.event_type_field] in model.delete_on for r in audited)
        else:
            expected = expected_aggregate(model, contract, audited, salt)
            names = [*model.group_by, *(["window_start"] if model.window else []), *(m.name for m in model.measures)]
        table = table_state(settings, model, names)
        assert table.keys() == expected.keys(), f"{model.name}: keys differ"
        mismatched = {k: (table[k], expected[k]) for k in expected if comparable(table[k]) != comparable(expected[k])}
        assert not mismatched, f"{model.name}: {len(mismatched)} rows differ, e.g. {next(iter(mismatched.items()))}"
        changelog = changelog_state(settings, model)
        assert all(row["_op"] == "upsert" for row in changelog.values())
        as_text = [json.dumps(comparable(v), sort_keys=True, default=str) for v in table.values()]
        from_log = [
            json.dumps(comparable({n: row[n] for n in names}), sort_keys=True, default=str)
            for row in changelog.values()
        ]
        assert sorted(from_log) == sorted(as_text), f"{model.name}: the compacted changelog differs from the table"

    # A rebuild from the audit log yields the same model, key for key (then swap it in: the job is stopped).
    for model, _ in models:
        report = rebuild(settings, contracts, model.name, swap_in=model is models[0][0])
        assert report.diff.identical, (model.name, report.diff)
        assert report.diff.same == len(table_state(settings, model, readmodels.key_columns(model)))
    first = models[0][0]
    after = readmodels.current(readmodels.read_log(settings, first), first)
    assert isinstance(after, pa.Table) and after.num_rows > 0

    # Table care: small files compacted, old snapshots expired and their files deleted; the state unchanged.
    names = [readmodels.table_name(settings, m) for m, _ in models[1:]]
    before = {m.name: readmodels.current(readmodels.read_log(settings, m), m) for m, _ in models[1:]}
    maintained = maintain(settings, names, retain_last=1, older_than_s=0)
    assert [m.table for m in maintained] == names
    assert any(m.files_before > 1 for m in maintained), maintained  # checkpoints every 200 ms: many commits
    for m in maintained:
        assert m.files_after == 1 and m.snapshots_after == 1, m
        # Expiry deleted the files only expired snapshots held; what is left on disk is the live file and the
        # small files the compaction replaced, which go when its own snapshot expires (Iceberg's incremental
        # cleanup): garbage is bounded by one generation.
        table = open_catalog(settings).load_table(m.table)
        entries = table.inspect.entries().to_pylist()
        live = {_path(e["data_file"]["file_path"]) for e in entries if e["status"] != 2}
        replaced = {_path(e["data_file"]["file_path"]) for e in entries if e["status"] == 2}
        on_disk = {str(p) for p in Path(_path(table.location())).glob("data/**/*.parquet")}
        assert len(live) == 1 and on_disk == live | replaced, (m.table, on_disk, live, replaced)
    for model, _ in models[1:]:
        assert readmodels.current(readmodels.read_log(settings, model), model).equals(before[model.name])


def _path(uri: str) -> str:
    """Java writes file:/x, Python file:///x: compare paths."""
    return urlparse(uri).path
