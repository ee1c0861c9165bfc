"""Read-model folds: the stateful step, which applies one model's events to per-key state.

:func:`apply_current` and :func:`apply_aggregate` take a key's state and one event and give the new state
and at most one :class:`Change`, which :func:`change_values` and :func:`change_json` turn into the model
table's row and the changelog topic's value. :func:`fold` runs both steps over a whole history (the rebuild,
the tests' oracle); :func:`current_rows` reads a model back from its change log. Tests alone use
:func:`state_to_json` and :func:`state_from_json`.

Invariant: a current model's key takes an event only if its order tuple is greater than the last one applied
(schemas/README.md#ordering-rule) and keeps a tombstone after a delete; an aggregate counts each event of an
open window once. Every change carries its key's next version: per key, the highest version is the current row.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from udfs.columns import Column
from udfs.readmodels.declarations import (
    FLOAT_KINDS,
    WINDOW_START,
    AggregateModel,
    CurrentModel,
    Measure,
    ReadModel,
    Window,
)
from udfs.readmodels.events import (
    DELETE,
    UPSERT,
    Key,
    ModelEvent,
    Order,
    Row,
    from_json_value,
    order_from_json,
    prepare,
    to_json_value,
)

if TYPE_CHECKING:
    from udfs.contract import Contract
    from udfs.envelope import Envelope


@dataclass(frozen=True, slots=True)
class CurrentState:
    """Per key of a current model: the order of the last applied event (also for tombstones), whether the
    key is deleted, and the version of its last change."""

    order: Order
    deleted: bool
    version: int


@dataclass(frozen=True, slots=True)
class AggregateState:
    """Per group (and window): measure values, non-null inputs seen per measure (events for count), the order
    of the event that set the ``latest`` measures, and the version of the last change."""

    values: dict[str, object]
    counts: dict[str, int]
    latest_order: Order | None
    version: int


@dataclass(frozen=True, slots=True)
class Change:
    """The model table's next row for one key; ``row`` holds the key only for a delete."""

    model: str
    key: Key
    op: str
    row: Row
    version: int
    order: Order
    event_time_ms: int
    topic: str
    partition: int
    offset: int


def apply_current(
    model: CurrentModel, state: CurrentState | None, event: ModelEvent
) -> tuple[CurrentState, Change | None]:
    """Apply one event to a key's state under the ordering rule; at most one change comes out."""
    _same_model(model, event)
    if state is not None and event.order <= state.order:
        return state, None  # older than (or the same event as) what the key already reflects
    version = state.version if state is not None else 0
    # Every winning event is a change, a delete of a deleted key or of a key this state never saw included:
    # the table's latest row per key then holds the state's order (a job started without its checkpoint
    # rebuilds the state from it), and a redundant delete is harmless in the table and on Kafka.
    deleted = event.op == DELETE
    return CurrentState(event.order, deleted, version + 1), _change(event, event.op, dict(event.row), version + 1)


def apply_aggregate(
    model: AggregateModel, state: AggregateState | None, event: ModelEvent, watermark_ms: int
) -> tuple[AggregateState | None, Change | None]:
    """Fold one event into its group's measures; late events of a closed window leave the state as it was."""
    _same_model(model, event)
    if model.window is not None and _closed(model.window, event.key, watermark_ms):
        return state, None
    old = state if state is not None else _empty(model)
    newer = old.latest_order is None or event.order > old.latest_order
    values, counts = dict(old.values), dict(old.counts)
    for measure in model.measures:
        _fold_measure(measure, event.row, values, counts, newer)
    new = AggregateState(values, counts, event.order if newer else old.latest_order, old.version + 1)
    return new, _change(event, UPSERT, _aggregate_row(model, event.key, values), new.version)


def _same_model(model: ReadModel, event: ModelEvent) -> None:
    if event.model != model.name:
        raise ValueError(f"event of model {event.model!r} applied to model {model.name!r}")


def _closed(window: Window, key: Key, watermark_ms: int) -> bool:
    start = key[-1]
    assert isinstance(start, int)
    return start + window.size_ms + window.allowed_lateness_ms <= watermark_ms


def _empty(model: AggregateModel) -> AggregateState:
    values: dict[str, object] = {m.name: 0 if m.fn in ("count", "sum") else None for m in model.measures}
    return AggregateState(values, {m.name: 0 for m in model.measures}, None, 0)


def _fold_measure(
    measure: Measure, inputs: Row, values: dict[str, object], counts: dict[str, int], newer: bool
) -> None:
    name = measure.name
    if measure.field is None:
        counts[name] += 1
        values[name] = counts[name]
        return
    value: Any = inputs.get(measure.field)
    if measure.fn == "latest":
        if newer:
            values[name] = value
        counts[name] += value is not None
        return
    if value is None:
        return
    current: Any = values[name]
    if measure.fn == "sum":
        counts[name] += 1
        values[name] = current + value
        return
    if isinstance(value, float) and math.isnan(value):  # no order: min/max would depend on arrival order
        return
    counts[name] += 1
    if current is None or (value < current if measure.fn == "min" else value > current):
        values[name] = value


def _aggregate_row(model: AggregateModel, key: Key, values: Mapping[str, object]) -> Row:
    row: Row = dict(zip(model.group_by, key, strict=False))
    if model.window is not None:
        row[WINDOW_START] = key[-1]
    row.update((m.name, values[m.name]) for m in model.measures)
    return row


def _change(event: ModelEvent, op: str, row: Row, version: int) -> Change:
    return Change(
        event.model,
        event.key,
        op,
        row,
        version,
        event.order,
        event.event_time_ms,
        event.topic,
        event.partition,
        event.offset,
    )


def change_values(change: Change, columns: Sequence[Column]) -> tuple[object, ...]:
    """Row values in ``columns`` order (from :func:`model_columns`): timestamps as int epoch millis, ints in
    float columns as float, value columns of a delete as None."""
    meta: dict[str, object] = {
        "lg_op": change.op,
        "lg_order": change.order[0],
        "lg_partition": change.partition,
        "lg_offset": change.offset,
        "lg_event_time": change.event_time_ms,
        "lg_topic": change.topic,
        "lg_version": change.version,
    }
    out = []
    for column in columns:
        value = meta[column.name] if column.name in meta else change.row.get(column.name)
        if column.kind in FLOAT_KINDS and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out.append(value)
    return tuple(out)


def change_json(change: Change) -> bytes | None:
    """The changelog value: the row plus ``_op``, ``_version`` and the source record's ``_topic``,
    ``_partition`` and ``_offset`` as a JSON object; None (a Kafka tombstone,
    under :func:`key_text` of the key) for a delete."""
    if change.op == DELETE:
        return None
    body = {k: base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v for k, v in change.row.items()}
    # Provenance: which source record made this change (consumers can trace it to the audit log).
    body.update(
        _op=change.op, _version=change.version, _topic=change.topic, _partition=change.partition, _offset=change.offset
    )
    # NaN is not JSON (strict parsers reject it): null, like a missing value.
    body = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in body.items()}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def state_to_json(state: CurrentState | AggregateState) -> str:
    """The state as one JSON string (bytes tagged as :func:`~udfs.readmodels.events.to_json_value` does)."""
    if isinstance(state, CurrentState):
        data: dict[str, object] = {
            "kind": "current",
            "order": list(state.order),
            "deleted": state.deleted,
            "version": state.version,
        }
    else:
        data = {
            "kind": "aggregate",
            "values": {k: to_json_value(v) for k, v in state.values.items()},
            "counts": state.counts,
            "latest_order": None if state.latest_order is None else list(state.latest_order),
            "version": state.version,
        }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def state_from_json(text: str) -> CurrentState | AggregateState:
    """The inverse of :func:`state_to_json`."""
    data = json.loads(text)
    if data["kind"] == "current":
        return CurrentState(order_from_json(data["order"]), data["deleted"], data["version"])
    latest = data["latest_order"]
    return AggregateState(
        {k: from_json_value(v) for k, v in data["values"].items()},
        dict(data["counts"]),
        None if latest is None else order_from_json(latest),
        data["version"],
    )


# -- whole models ------------------------------------------------------------------------------------------


def fold(
    model: ReadModel, contract: Contract, records: Iterable[tuple[Mapping[str, object], Envelope]], salt: bytes
) -> dict[Key, Row]:
    """The model from scratch: :func:`prepare` and apply every record in the given order (watermark = the
    running maximum event time) and return the current row per key; deleted keys are absent."""
    rows: dict[Key, Row] = {}
    states: dict[Key, Any] = {}
    watermark: int | None = None
    for payload, envelope in records:
        watermark = envelope.event_time_ms if watermark is None else max(watermark, envelope.event_time_ms)
        event = prepare(model, contract, payload, envelope, salt)
        if event is None:
            continue
        if isinstance(model, CurrentModel):
            states[event.key], change = apply_current(model, states.get(event.key), event)
        else:
            states[event.key], change = apply_aggregate(model, states.get(event.key), event, watermark)
        if change is not None and change.op == DELETE:
            rows.pop(change.key, None)
        elif change is not None:
            rows[change.key] = change.row
    return rows


def current_rows(changes: Iterable[Change]) -> dict[Key, Row]:
    """Read a model's change log: per key the row of its highest version, absent if that change is a delete."""
    latest: dict[Key, Change] = {}
    for change in changes:
        seen = latest.get(change.key)
        if seen is None or change.version > seen.version:
            latest[change.key] = change
    return {key: change.row for key, change in latest.items() if change.op != DELETE}
