"""Read-model events: the stateless step from one valid record to what one model sees of it.

:func:`prepare` turns a valid record into a :class:`ModelEvent` (model key, ``upsert`` or ``delete``,
PII-treated row, order tuple), or ``None`` when a current model ignores the record's event type.
:func:`key_text` is the model key's text, which the route writes into each model event and the changelog
uses as its Kafka key. :func:`event_to_json` and :func:`event_from_json` write an event as one JSON string
and read it back; only tests use them.

Invariant: an event depends on its record and model alone (no state, no arrival order), so the stream and a
rebuild derive the same events. Rows and keys hold only JSON-able values with PII already treated, and an
event survives :func:`event_to_json` and :func:`event_from_json` unchanged, bytes included.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from udfs.columns import as_epoch_millis
from udfs.pii import treat
from udfs.readmodels.declarations import OFFSET, CurrentModel, ReadModel

if TYPE_CHECKING:
    from udfs.contract import Contract
    from udfs.envelope import Envelope

UPSERT, DELETE = "upsert", "delete"
_BYTES_TAG = "$bytes"

Key: TypeAlias = tuple[object, ...]
Order: TypeAlias = tuple[int, int, int]
Row: TypeAlias = dict[str, object]


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """One valid record as seen by one model: its key, what to do, the PII-treated values, its order."""

    model: str
    key: Key
    op: str  # upsert | delete (aggregates: always upsert)
    row: Row  # current: key + fields (delete: key only); aggregate: measure inputs by field name
    order: Order
    event_time_ms: int
    topic: str
    partition: int
    offset: int


def prepare(
    model: ReadModel, contract: Contract, payload: Mapping[str, object], envelope: Envelope, salt: bytes
) -> ModelEvent | None:
    """The model's view of a valid record, or None if a current model ignores its event type."""
    if isinstance(model, CurrentModel):
        event_type = payload.get(model.event_type_field)
        op = UPSERT if event_type in model.upsert_on else DELETE if event_type in model.delete_on else None
        if op is None:
            return None
        names = model.key if op == DELETE else model.key + model.fields
        row = _treated(contract, payload, names, salt)
        key = tuple(row[f] for f in model.key)
    else:
        op = UPSERT
        groups = _treated(contract, payload, model.group_by, salt)
        key = tuple(groups.values())
        if model.window is not None:
            key += (envelope.event_time_ms - envelope.event_time_ms % model.window.size_ms,)
        row = _treated(contract, payload, tuple(dict.fromkeys(m.field for m in model.measures if m.field)), salt)
    order = _order(model.order_by, payload, envelope)
    return ModelEvent(
        model.name, key, op, row, order, envelope.event_time_ms, envelope.topic, envelope.partition, envelope.offset
    )


def _treated(contract: Contract, payload: Mapping[str, object], names: Iterable[str], salt: bytes) -> Row:
    projection = {name: _plain(payload.get(name)) for name in names}
    return treat(contract, projection, salt)


def _plain(value: object) -> object:
    """A JSON-able payload value: timestamps as int epoch millis, uuid/enum-like objects as str."""
    if value is None or isinstance(value, str | bool | int | float | bytes):
        return value
    if isinstance(value, dt.datetime):
        return as_epoch_millis(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value)


def _order(order_by: str, payload: Mapping[str, object], envelope: Envelope) -> Order:
    if order_by == OFFSET:
        return (envelope.offset, envelope.partition, envelope.offset)
    value = _plain(payload.get(order_by))
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"order_by field {order_by!r} holds {type(value).__name__}, not an int (contract bug?)")
    return (value, envelope.partition, envelope.offset)


def key_text(key: Key) -> str:
    """Canonical JSON of a model key (in the read models' state key and the changelog's Kafka key): equal keys,
    equal text."""
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def event_to_json(event: ModelEvent) -> str:
    """The event as one JSON string (bytes tagged as :func:`to_json_value` does)."""
    return json.dumps(
        {
            "model": event.model,
            "key": [to_json_value(v) for v in event.key],
            "op": event.op,
            "row": {k: to_json_value(v) for k, v in event.row.items()},
            "order": list(event.order),
            "event_time_ms": event.event_time_ms,
            "topic": event.topic,
            "partition": event.partition,
            "offset": event.offset,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def event_from_json(text: str) -> ModelEvent:
    """The inverse of :func:`event_to_json`."""
    data = json.loads(text)
    return ModelEvent(
        data["model"],
        tuple(from_json_value(v) for v in data["key"]),
        data["op"],
        {k: from_json_value(v) for k, v in data["row"].items()},
        order_from_json(data["order"]),
        data["event_time_ms"],
        data["topic"],
        data["partition"],
        data["offset"],
    )


def to_json_value(value: object) -> object:
    """A key, row or state value as JSON holds it: bytes as ``{"$bytes": "<base64>"}``, others unchanged."""
    return {_BYTES_TAG: base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def from_json_value(value: object) -> object:
    """The inverse of :func:`to_json_value`."""
    return base64.b64decode(value[_BYTES_TAG]) if isinstance(value, dict) else value


def order_from_json(value: Sequence[int]) -> Order:
    """An order tuple from its JSON array."""
    first, second, third = value
    return (first, second, third)
