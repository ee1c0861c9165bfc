"""Read models end to end: creates, updates and deletes of the same keys, interleaved across partitions.

The expected state is computed here, independently of udfs/readmodels/, from the audit log (the valid,
deduplicated records) and the ordering rule as the contract documentation states it. The job's Iceberg
tables, its compacted changelog topics, and a rebuild from the audit log must all equal it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pytest
from kafka import KafkaConsumer, TopicPartition

from jobs.maintain import maintain
from jobs.rebuild_model import rebuild
from lakegate import kafka_clients, readmodels
from lakegate.catalog import open_catalog
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit
from udfs.contract import Contract, Contracts
from udfs.readmodels import AggregateModel, CurrentModel, ReadModel

pytestmark = pytest.mark.job

Key = tuple[Any, ...]


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


def _treated(contract: Contract, field: str, value: Any, salt: bytes) -> Any:
    treatment = contract.pii.get(field)
    if value is None or treatment is None:
        return value
    if treatment == "hash":
        return hmac.new(salt, str(value).encode(), hashlib.sha256).hexdigest()
    return str(value)[:1] + "***" if str(value) else str(value)


def _events(settings: Settings, contract: Contract) -> list[dict[str, Any]]:
    """The audit log in routing order."""
    rows = read_audit(settings, contract).sort_by(
        [("lg_ingest_time", "ascending"), ("lg_partition", "ascending"), ("lg_offset", "ascending")]
    )
    return rows.to_pylist()


def _order(model: ReadModel, row: dict[str, Any]) -> tuple[int, int, int]:
    first = row["lg_offset"] if model.order_by == "offset" else _millis(row[model.order_by])
    return first, row["lg_partition"], row["lg_offset"]


def expected_current(
    model: CurrentModel, contract: Contract, events: list[dict[str, Any]], salt: bytes
) -> dict[Key, dict[str, Any]]:
    """Per key, the event with the greatest (order, partition, offset) among upserts and deletes."""
    latest: dict[Key, dict[str, Any]] = {}
    for row in events:
        if row[model.event_type_field] not in model.upsert_on | model.delete_on:
            continue
        key = tuple(row[k] for k in model.key)
        if key not in latest or _order(model, row) > _order(model, latest[key]):
            latest[key] = row
    return {
        key: {f: _treated(contract, f, row[f], salt) for f in (*model.key, *model.fields)}
        for key, row in latest.items()
        if row[model.event_type_field] in model.upsert_on
    }


def expected_aggregate(
    model: AggregateModel, contract: Contract, events: list[dict[str, Any]], salt: bytes
) -> dict[Key, dict[str, Any]]:
    groups: dict[Key, list[dict[str, Any]]] = {}
    watermark = 0
    for row in events:
        event_time = _millis(row[contract.event_time_field])
        watermark = max(watermark, event_time)
        key: Key = tuple(row[g] for g in model.group_by)
        if model.window is not None:
            start = event_time - event_time % model.window.size_ms
            if start + model.window.size_ms + model.window.allowed_lateness_ms <= watermark:
                continue  # late
            key = (*key, start)
        groups.setdefault(key, []).append(row)
    out = {}
    for key, rows in groups.items():
        values: dict[str, Any] = dict(zip(model.group_by, key, strict=False))
        if model.window is not None:
            values["window_start"] = key[-1]
        for m in model.measures:
            present = [r[m.field] for r in rows if m.field is not None and r[m.field] is not None]
            if m.fn == "count":
                values[m.name] = len(rows)
            elif m.fn == "sum":
                values[m.name] = sum(present)
            elif m.fn == "min":
                values[m.name] = min(present, default=None)
            elif m.fn == "max":
                values[m.name] = max(present, default=None)
            else:
                assert m.field is not None
                values[m.name] = max(rows, key=lambda r: _order(model, r))[m.field]
        out[key] = values
    return out


def table_state(settings: Settings, model: ReadModel, names: list[str]) -> dict[Key, dict[str, Any]]:
    rows = readmodels.current(readmodels.read_log(settings, model), model)
    keys = readmodels.key_columns(model)
    return {_plain_key(tuple(r[k] for k in keys)): {n: r[n] for n in names} for r in rows.to_pylist()}


def _plain_key(key: Key) -> Key:
    return tuple(_millis(v) if hasattr(v, "timestamp") else v for v in key)


def _changelog_state(settings: Settings, model: ReadModel) -> dict[str, dict[str, Any]]:
    """The topic as compaction leaves it: the last record per key; a tombstone removes the key."""
    topic = readmodels.changelog_topic(settings, model)
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings), isolation_level="read_committed", enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        state: dict[str, dict[str, Any]] = {}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    key = record.key.decode()
                    if record.value is None:
                        state.pop(key, None)
                    else:
                        state[key] = json.loads(record.value)
        return state
    finally:
        consumer.close()


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _millis(v) if hasattr(v, "timestamp") else v for k, v in row.items()}


def test_read_models_equal_the_last_valid_event_per_key_and_the_changelog_agrees(
    lakegate_stack: Settings, lakegate_contracts: Contracts, run_job: Callable[..., JobRun]
) -> None:
    settings = lakegate_stack.replace(
        audit_namespace="rm",
        quarantine_namespace="rm_q",
        dlq_topic="rm.dlq",
        consumer_group="rm",
        readmodel_namespace="rm_models",
        changelog_topic_prefix="rm.changelog.",
        checkpoint_interval_ms=200,
    )
    produce(settings, lakegate_contracts, 3000, bad_fraction=0.1, duplicate_fraction=0.05, all_versions=True, seed=2024)
    run_job("ingest", settings)
    salt = settings.job.pii_salt.reveal().encode()
    models = readmodels.all_models(lakegate_contracts)
    assert {type(m) for m, _ in models} == {CurrentModel, AggregateModel}
    for model, contract in models:
        events = _events(settings, contract)
        if isinstance(model, CurrentModel):
            expected = expected_current(model, contract, events, salt)
            names = [*model.key, *model.fields]
            # The input really interleaves: keys with several events, over several partitions, some deleted.
            per_key = Counter(tuple(r[k] for k in model.key) for r in events)
            assert max(per_key.values()) >= 3
            assert len({r["lg_partition"] for r in events}) > 1
            assert any(r[model.event_type_field] in model.delete_on for r in events)
        else:
            expected = expected_aggregate(model, contract, events, salt)
            names = [*model.group_by, *(["window_start"] if model.window else []), *(m.name for m in model.measures)]
        table = table_state(settings, model, names)
        assert table.keys() == expected.keys(), f"{model.name}: keys differ"
        mismatched = {k: (table[k], expected[k]) for k in expected if comparable(table[k]) != comparable(expected[k])}
        assert not mismatched, f"{model.name}: {len(mismatched)} rows differ, e.g. {next(iter(mismatched.items()))}"
        changelog = _changelog_state(settings, model)
        assert all(row["_op"] == "upsert" for row in changelog.values())
        as_text = [json.dumps(comparable(v), sort_keys=True, default=str) for v in table.values()]
        from_log = [
            json.dumps(comparable({n: row[n] for n in names}), sort_keys=True, default=str)
            for row in changelog.values()
        ]
        assert sorted(from_log) == sorted(as_text), f"{model.name}: the compacted changelog differs from the table"

    # A rebuild from the audit log yields the same model, key for key (then swap it in: the job is stopped).
    for model, _ in models:
        report = rebuild(settings, lakegate_contracts, model.name, swap_in=model is models[0][0])
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
