"""The read models a job should have written, computed independently of udfs/readmodels/ (test kit).

From the audit log (the valid, deduplicated records) and the ordering rule as the contract documentation
states it: per current model the greatest (order, partition, offset) event per key unless a delete, per
aggregate the measures over every event of the group (late windowed events left out). Tests compare a job's
model tables (:func:`table_state`) and compacted changelog topics (:func:`changelog_state`) with it
(:func:`mismatches`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from lakegate import kafka_clients, readmodels
from lakegate.readers import read_audit
from lakegate.settings import Settings
from udfs.columns import as_epoch_millis, epoch_millis
from udfs.contract import Contract, Contracts
from udfs.readmodels import AggregateModel, CurrentModel, ReadModel

Key = tuple[Any, ...]


def _treated(contract: Contract, field: str, value: Any, salt: bytes) -> Any:
    treatment = contract.pii.get(field)
    if value is None or treatment is None:
        return value
    if treatment == "hash":
        return hmac.new(salt, str(value).encode(), hashlib.sha256).hexdigest()
    return str(value)[:1] + "***" if str(value) else str(value)


def events(settings: Settings, contract: Contract) -> list[dict[str, Any]]:
    """The contract's audit log in routing order."""
    rows = read_audit(settings, contract).sort_by(
        [("lg_ingest_time", "ascending"), ("lg_partition", "ascending"), ("lg_offset", "ascending")]
    )
    out: list[dict[str, Any]] = rows.to_pylist()
    return out


def _order(model: ReadModel, row: dict[str, Any]) -> tuple[int, int, int]:
    first = row["lg_offset"] if model.order_by == "offset" else epoch_millis(row[model.order_by])
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
        event_time = epoch_millis(row[contract.event_time_field])
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
    return tuple(as_epoch_millis(v) for v in key)


def changelog_state(settings: Settings, model: ReadModel) -> dict[str, dict[str, Any]]:
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
    return {k: as_epoch_millis(v) for k, v in row.items()}


def compared_columns(model: ReadModel) -> list[str]:
    """The columns the ordering rule makes deterministic: keys and fields, or groups and measures."""
    if isinstance(model, CurrentModel):
        return [*model.key, *model.fields]
    return [*model.group_by, *(["window_start"] if model.window else []), *(m.name for m in model.measures)]


def expected(settings: Settings, model: ReadModel, contract: Contract) -> dict[Key, dict[str, Any]]:
    salt = settings.job.pii_salt.reveal().encode()
    rows = events(settings, contract)
    if isinstance(model, CurrentModel):
        return expected_current(model, contract, rows, salt)
    assert isinstance(model, AggregateModel)
    return expected_aggregate(model, contract, rows, salt)


def mismatches(settings: Settings, contracts: Contracts) -> dict[str, str]:
    """Per model whose table or changelog differs from the independent computation, what differs."""
    out = {}
    for model, contract in readmodels.all_models(contracts):
        want = expected(settings, model, contract)
        names = compared_columns(model)
        table = table_state(settings, model, names)
        if table.keys() != want.keys():
            extra, missing = sorted(table.keys() - want.keys(), key=str), sorted(want.keys() - table.keys(), key=str)
            out[model.name] = (
                f"table keys differ: {len(extra)} extra (e.g. {extra[:3]}), {len(missing)} missing (e.g. {missing[:3]})"
            )
            continue
        wrong = {k: (table[k], want[k]) for k in want if comparable(table[k]) != comparable(want[k])}
        if wrong:
            out[model.name] = f"{len(wrong)} table rows differ, e.g. {next(iter(wrong.items()))}"
            continue
        as_text = sorted(json.dumps(comparable(v), sort_keys=True, default=str) for v in table.values())
        log = changelog_state(settings, model)
        from_log = sorted(
            json.dumps(comparable({n: row[n] for n in names}), sort_keys=True, default=str) for row in log.values()
        )
        if from_log != as_text:
            out[model.name] = f"the compacted changelog ({len(from_log)} keys) differs from the table ({len(as_text)})"
    return out
