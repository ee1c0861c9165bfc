"""CQRS read models declared in a contract's ``[[read_models]]``: the pure layer (no pyflink).

A read model is a table lakegate keeps current from a contract's valid records. Two kinds:

* **current** (:class:`CurrentModel`): the latest state per key. Each event whose ``event_type_field`` is
  in ``upsert_on`` replaces the key's row with its projection (key fields, then ``fields``); one in
  ``delete_on`` removes the key; any other event type is ignored by the model.
* **aggregate** (:class:`AggregateModel`): measures (count, sum, min, max, latest) per ``group_by`` value,
  optionally per event-time tumbling window. Every valid record of the contract counts once.

The record path is split in two so the same code runs in the stream and in a rebuild:

1. :func:`prepare` (stateless, in the routing operator): a valid record becomes a :class:`ModelEvent`
   (model key, op, PII-treated row, order tuple) or ``None``; :func:`event_to_json` carries it across a
   Flink operator boundary as one string and :func:`key_text` is its Flink/Kafka key.
2. :func:`apply_current` / :func:`apply_aggregate` (stateful, keyed by the model key): the key's state and
   the event give the new state and at most one :class:`Change`, the model table's next row
   (:func:`change_values`) and the changelog topic's value (:func:`change_json`).

:func:`fold` runs both steps over a whole history (the rebuild, and the tests' oracle);
:func:`current_rows` reads a model back from its change log.

**Ordering rule.** A change wins over the key's current one iff its order tuple is greater:
``(order value, Kafka partition, Kafka offset)``, where the order value is the model's ``order_by`` field
(epoch millis for timestamps). Partition then offset only break ties, so the outcome never depends on the
order in which partitions are read. ``order_by = "offset"`` uses ``(offset, partition, offset)`` and is
allowed only when the model key is exactly the contract's ``key_field``: the Kafka key must equal that field,
so all events of a key sit in one partition, where offset order is produce order. Any other key spans
partitions, whose offsets say nothing about each other, so it needs an order field.

**Why the state of a deleted key is kept (tombstones).** Events reach the stateful step out of order
(several partitions, late producers). If a delete simply dropped the key's state, an *older* upsert
arriving afterwards would find no state and resurrect the row. So a delete leaves a tombstone with the
delete's order (and the version reached). A delete of a key the state has never seen leaves one too and is
still emitted: the state may be younger than the key (a job started without its checkpoint), and a redundant
delete is a no-op in the table's view and on the compacted topic. Versions continue across tombstones, so per
key the highest version in the change log is always the current row (:func:`current_rows`).
Tombstones live as long as the job's state.

**Late data (windowed aggregates).** A window ``[start, start + size)`` accepts events until the watermark
passes ``start + size + allowed_lateness``; after that an event for it is dropped (no change). The caller
keeps the watermark as the maximum event time it has seen; :func:`fold` does the same, so a windowed
aggregate's result depends on arrival order only through what was late.

**JSON.** Payload values in rows, keys and states are ``str``, ``int``, ``float``, ``bool``, ``None`` or
``bytes``; timestamps are int epoch millis and enums their symbol. In :func:`event_to_json` and
:func:`state_to_json` bytes travel as ``{"$bytes": "<base64>"}`` (rows never hold objects otherwise) so
they round-trip exactly; in the changelog (:func:`change_json`) they are plain base64 strings. Non-finite
floats are written as Python's ``json`` writes them (``NaN``, ``Infinity``).
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from udfs.columns import Column, ColumnKind, _millis, payload_columns
from udfs.errors import ContractError
from udfs.pii import treat

if TYPE_CHECKING:
    from udfs.contract import Contract
    from udfs.envelope import Envelope

KINDS = ("current", "aggregate")
FUNCTIONS = ("count", "sum", "min", "max", "latest")
OFFSET = "offset"  # order_by value meaning "Kafka offset order"
UPSERT, DELETE = "upsert", "delete"
WINDOW_START = "window_start"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

_CURRENT_KEYS = frozenset({"name", "kind", "key", "fields", "event_type_field", "upsert_on", "delete_on", "order_by"})
_AGGREGATE_KEYS = frozenset({"name", "kind", "group_by", "measures", "order_by", "window"})
_MEASURE_KEYS = frozenset({"name", "fn", "field"})
_WINDOW_KEYS = frozenset({"size_s", "allowed_lateness_s"})
_KEYABLE = frozenset({ColumnKind.string, ColumnKind.int, ColumnKind.long, ColumnKind.boolean, ColumnKind.timestamp_ms})
_ORDERABLE = frozenset({ColumnKind.int, ColumnKind.long, ColumnKind.timestamp_ms})
_SUMMABLE = frozenset({ColumnKind.int, ColumnKind.long, ColumnKind.float, ColumnKind.double})
_COMPARABLE = _SUMMABLE | {ColumnKind.timestamp_ms}
_FLOATS = frozenset({ColumnKind.float, ColumnKind.double})
_BYTES_TAG = "$bytes"

Key: TypeAlias = tuple[object, ...]
Order: TypeAlias = tuple[int, int, int]
Row: TypeAlias = dict[str, object]


# -- declarations ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """Event-time tumbling window: ``[start, start + size_ms)``, open until the watermark passes
    ``start + size_ms + allowed_lateness_ms``."""

    size_ms: int
    allowed_lateness_ms: int


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    fn: str  # count | sum | min | max | latest
    field: str | None  # None only for count


@dataclass(frozen=True, slots=True)
class CurrentModel:
    name: str
    contract: str
    key: tuple[str, ...]
    fields: tuple[str, ...]  # projected besides the key fields, never repeating them
    event_type_field: str
    upsert_on: frozenset[str]
    delete_on: frozenset[str]
    order_by: str  # a field name, or OFFSET


@dataclass(frozen=True, slots=True)
class AggregateModel:
    name: str
    contract: str
    group_by: tuple[str, ...]
    measures: tuple[Measure, ...]
    order_by: str  # what "latest" means: a field name, or OFFSET
    window: Window | None = None


ReadModel: TypeAlias = CurrentModel | AggregateModel


# -- parsing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scope:
    """What parsing one ``[[read_models]]`` table needs to know about its contract."""

    path: Path
    where: str  # read_models[<i>]
    contract: str
    key_field: str
    event_time_field: str
    columns: Mapping[str, Column]
    enums: Mapping[str, Sequence[str]]
    pii: Mapping[str, str]

    def error(self, key: str | None, problem: str, fix: str) -> ContractError:
        return ContractError(self.path, self.where if key is None else f"{self.where}.{key}", problem, fix)


def parse_read_models(  # noqa: PLR0917
    raw: object,
    path: Path,
    columns: Sequence[Column],
    enums: Mapping[str, Sequence[str]],
    pii: Mapping[str, str],
    contract: str,
    key_field: str,
    event_time_field: str,
) -> tuple[ReadModel, ...]:
    """Validate a contract's ``[[read_models]]`` against its reader-schema columns, enums and ``[pii]``."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ContractError(
            path,
            "read_models",
            "must be an array of tables",
            'write each model as [[read_models]] name = "..." (see schemas/README.md)',
        )
    by_name = {c.name: c for c in columns}
    models: list[ReadModel] = []
    for index, table in enumerate(raw):
        scope = _Scope(path, f"read_models[{index}]", contract, key_field, event_time_field, by_name, enums, pii)
        model = _parse_model(table, scope)
        if any(m.name == model.name for m in models):
            raise scope.error("name", f"read model {model.name!r} is declared twice", "give each model its own name")
        models.append(model)
    return tuple(models)


def _parse_model(table: dict[str, Any], scope: _Scope) -> ReadModel:
    kind = table.get("kind")
    if kind not in KINDS:
        raise scope.error(
            "kind",
            f"must be 'current' or 'aggregate', not {kind!r}",
            'add kind = "current" (latest row per key) or kind = "aggregate" (measures per group)',
        )
    allowed = _CURRENT_KEYS if kind == "current" else _AGGREGATE_KEYS
    _no_unknown_keys(table, allowed, scope, None, f"{kind} read model")
    name = table.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise scope.error(
            "name",
            f"must be an identifier matching [a-z][a-z0-9_]*, not {name!r}",
            'e.g. name = "users_current"; it names the model table',
        )
    return _parse_current(table, scope, name) if kind == "current" else _parse_aggregate(table, scope, name)


def _no_unknown_keys(
    table: Mapping[str, Any], allowed: frozenset[str], scope: _Scope, key: str | None, what: str
) -> None:
    for found in table:
        if found not in allowed:
            close = difflib.get_close_matches(found, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            where = found if key is None else f"{key}.{found}"
            raise scope.error(where, f"unknown key for a {what}", f"remove it; {hint}")


def _parse_current(table: dict[str, Any], scope: _Scope, name: str) -> CurrentModel:
    key = _field_list(table, "key", scope, required=True)
    for field in key:
        _check_grouping_field(field, "key", scope)
    fields = _field_list(table, "fields", scope, required=False)
    for field in fields:
        if field in key:
            raise scope.error(
                "fields",
                f"'{field}' is a key field, and key fields are always included first",
                f"remove '{field}' from fields",
            )
        _check_projected(field, "fields", scope)
    event_type_field = _event_type_field(table, scope)
    symbols = scope.enums.get(event_type_field)
    upsert_on = _event_types(table, "upsert_on", symbols, scope, required=True)
    delete_on = _event_types(table, "delete_on", symbols, scope, required=False)
    both = sorted(upsert_on & delete_on)
    if both:
        raise scope.error(
            "delete_on", f"{both} are in both upsert_on and delete_on", "list each event type in at most one of them"
        )
    order_by = _order_by(table, scope, key, "key", default=None)
    return CurrentModel(name, scope.contract, key, fields, event_type_field, upsert_on, delete_on, order_by)


def _parse_aggregate(table: dict[str, Any], scope: _Scope, name: str) -> AggregateModel:
    group_by = _field_list(table, "group_by", scope, required=True)
    for field in group_by:
        _check_grouping_field(field, "group_by", scope)
    window = _window(table.get("window"), scope)
    if window is not None and WINDOW_START in group_by:
        raise scope.error(
            "group_by",
            f"'{WINDOW_START}' is the windowed model's own column",
            "group by another field or remove the window",
        )
    measures = _measures(table.get("measures"), scope, taken=set(group_by) | ({WINDOW_START} if window else set()))
    needs_order = any(m.fn == "latest" for m in measures)
    order_by = _order_by(table, scope, group_by, "group_by", default=None if needs_order else scope.event_time_field)
    return AggregateModel(name, scope.contract, group_by, measures, order_by, window)


def _column(field: object, key: str, scope: _Scope) -> Column:
    if not isinstance(field, str) or field not in scope.columns:
        close = difflib.get_close_matches(str(field), scope.columns, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise scope.error(
            key,
            f"field {field!r} is not in the reader schema",
            f"name a top-level field of the last schema version{hint}",
        )
    return scope.columns[field]


def _field_list(table: Mapping[str, Any], key: str, scope: _Scope, *, required: bool) -> tuple[str, ...]:
    value = table.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise scope.error(
            key,
            f"{'is required and ' if value is None else ''}must be a "
            f"{'non-empty ' if required else ''}list of field names",
            f'e.g. {key} = ["..."]',
        )
    for field in value:
        _column(field, key, scope)
    duplicates = sorted({f for f in value if value.count(f) > 1})
    if duplicates:
        raise scope.error(key, f"{duplicates} listed twice", "list each field once")
    return tuple(value)


def _check_grouping_field(field: str, key: str, scope: _Scope) -> None:
    column = scope.columns[field]
    if column.nullable or column.kind not in _KEYABLE:
        kinds = ", ".join(sorted(_KEYABLE))
        raise scope.error(
            key,
            f"'{field}' must be a non-null {kinds} field to identify a row, "
            f"not {'nullable ' if column.nullable else ''}{column.kind}",
            f"use another field in {key}",
        )
    treatment = scope.pii.get(field)
    if treatment in ("drop", "mask"):
        raise scope.error(
            key,
            f"'{field}' is tagged pii {treatment!r}, so it cannot identify a row",
            f"tag it 'hash' in [pii] (hashes are deterministic) or use another field in {key}",
        )


def _check_projected(field: str, key: str, scope: _Scope) -> None:
    if scope.pii.get(field) == "drop":
        raise scope.error(
            key,
            f"'{field}' is tagged pii 'drop': it would be dropped anyway",
            f"remove '{field}' from the model, or tag it 'hash' or 'mask' in [pii]",
        )


def _event_type_field(table: Mapping[str, Any], scope: _Scope) -> str:
    if "event_type_field" not in table:
        raise scope.error(
            "event_type_field",
            "is required",
            'name the enum or string field holding the event type, e.g. event_type_field = "event_type"',
        )
    field = table["event_type_field"]
    column = _column(field, "event_type_field", scope)
    if column.kind is not ColumnKind.string:
        raise scope.error(
            "event_type_field",
            f"'{column.name}' must be an enum or string field, not {column.kind}",
            "name the field holding the event type",
        )
    return column.name


def _event_types(
    table: Mapping[str, Any], key: str, symbols: Sequence[str] | None, scope: _Scope, *, required: bool
) -> frozenset[str]:
    value = table.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or (required and not value):
        raise scope.error(
            key,
            f"must be a {'non-empty ' if required else ''}list of event types",
            f'e.g. {key} = ["{(symbols or ["CREATED"])[0]}"]',
        )
    unknown = [v for v in value if symbols is not None and v not in symbols]
    if unknown:
        raise scope.error(
            key,
            f"{unknown} are not symbols of the enum '{table['event_type_field']}'",
            f"use symbols from {list(symbols or ())}",
        )
    return frozenset(value)


def _order_by(table: Mapping[str, Any], scope: _Scope, key: tuple[str, ...], key_name: str, default: str | None) -> str:
    value = table.get("order_by", default)
    if value is None:
        raise scope.error(
            "order_by",
            "is required",
            f'add order_by = "<a non-null long, int or timestamp-millis field>", e.g. "{scope.event_time_field}"',
        )
    if value == OFFSET:
        if key != (scope.key_field,):
            raise scope.error(
                "order_by",
                f'"offset" orders events only when {key_name} = ["{scope.key_field}"]: '
                f"only the contract's key_field keeps every event of a {key_name} value in "
                "one Kafka partition, and offsets of different partitions say nothing "
                "about each other",
                f'order by a non-null long, int or timestamp-millis field, e.g. order_by = "{scope.event_time_field}"',
            )
        return OFFSET
    column = _column(value, "order_by", scope)
    if column.nullable or column.kind not in _ORDERABLE:
        raise scope.error(
            "order_by",
            f"'{column.name}' must be a non-null long, int or timestamp-millis field, "
            f"not {'nullable ' if column.nullable else ''}{column.kind}",
            f'order by such a field, e.g. order_by = "{scope.event_time_field}"',
        )
    return column.name


def _window(raw: object, scope: _Scope) -> Window | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise scope.error("window", "must be a table", "e.g. window = { size_s = 3600, allowed_lateness_s = 600 }")
    _no_unknown_keys(raw, _WINDOW_KEYS, scope, "window", "window")
    size, lateness = raw.get("size_s"), raw.get("allowed_lateness_s", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise scope.error("window.size_s", "must be an integer number of seconds > 0", "e.g. size_s = 3600")
    if isinstance(lateness, bool) or not isinstance(lateness, int) or lateness < 0:
        raise scope.error(
            "window.allowed_lateness_s",
            "must be an integer number of seconds >= 0",
            "e.g. allowed_lateness_s = 600, or leave it out for 0",
        )
    return Window(size * 1000, lateness * 1000)


def _measures(raw: object, scope: _Scope, taken: set[str]) -> tuple[Measure, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise scope.error(
            "measures",
            "an aggregate needs a non-empty list of measures",
            'e.g. measures = [{ name = "events", fn = "count" }]',
        )
    measures: list[Measure] = []
    for index, table in enumerate(raw):
        measure = _measure(table, f"measures[{index}]", scope)
        if measure.name in taken:
            raise scope.error(
                f"measures[{index}].name",
                f"'{measure.name}' is already a column of the model",
                "give each measure a name unlike the group_by fields, window_start and other measures",
            )
        taken.add(measure.name)
        measures.append(measure)
    return tuple(measures)


def _measure(table: Mapping[str, Any], where: str, scope: _Scope) -> Measure:
    _no_unknown_keys(table, _MEASURE_KEYS, scope, where, "measure")
    name, fn, field = table.get("name"), table.get("fn"), table.get("field")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.startswith("lg_"):
        raise scope.error(
            f"{where}.name",
            f"must be an identifier matching [a-z][a-z0-9_]*, not {name!r}",
            'e.g. name = "events" (names starting with lg_ are reserved)',
        )
    if fn not in FUNCTIONS:
        raise scope.error(f"{where}.fn", f"unknown function {fn!r}", f"use one of {', '.join(FUNCTIONS)}")
    if fn == "count":
        if field is not None:
            raise scope.error(f"{where}.field", "count takes no field (it counts events)", "remove field")
        return Measure(name, fn, None)
    if field is None:
        raise scope.error(f"{where}.field", f"{fn} needs a field", f'add field = "..." to measure {name!r}')
    column = _column(field, f"{where}.field", scope)
    fits = _SUMMABLE if fn == "sum" else _COMPARABLE if fn in ("min", "max") else None
    if fits is not None and column.kind not in fits:
        kinds = "int, long, float or double" if fn == "sum" else "int, long, float, double or timestamp"
        raise scope.error(
            f"{where}.field",
            f"{fn} does not fit field '{column.name}' of type {column.kind}",
            f"use {fn} on an {kinds} field, or 'latest'",
        )
    _check_projected(column.name, f"{where}.field", scope)
    return Measure(name, fn, column.name)


# -- columns -----------------------------------------------------------------------------------------------

MODEL_COLUMNS: tuple[Column, ...] = (
    Column("lg_op", ColumnKind.string, False, "'upsert' or 'delete' (a delete row holds only the key)."),
    Column("lg_order", ColumnKind.long, False, "Order value of the change's event (order_by field or offset)."),
    Column("lg_partition", ColumnKind.int, False, "Kafka partition of the change's event."),
    Column("lg_offset", ColumnKind.long, False, "Kafka offset of the change's event."),
    Column("lg_event_time", ColumnKind.timestamp_ms, False, "Event time of the change's event (UTC)."),
    Column("lg_topic", ColumnKind.string, False, "Kafka topic of the change's event."),
    Column("lg_version", ColumnKind.long, False, "Change number of the row's key: 1, 2, 3, ..."),
)


def model_columns(model: ReadModel, contract: Contract) -> tuple[Column, ...]:
    """The model table's typed columns: identifying columns, value columns, then :data:`MODEL_COLUMNS`."""
    payload = {c.name: c for c in payload_columns(contract.reader_schema_json, source=contract.directory)}
    if isinstance(model, CurrentModel):
        own = [_typed(payload, contract, f, nullable=False) for f in model.key]
        own += [_typed(payload, contract, f, nullable=True) for f in model.fields]  # null in delete rows
        return (*own, *MODEL_COLUMNS)
    own = [_typed(payload, contract, f, nullable=False) for f in model.group_by]
    if model.window is not None:
        own.append(Column(WINDOW_START, ColumnKind.timestamp_ms, False, "Start of the event-time window (UTC)."))
    own += [_measure_column(m, payload, contract) for m in model.measures]
    return (*own, *MODEL_COLUMNS)


def _typed(payload: Mapping[str, Column], contract: Contract, field: str, *, nullable: bool) -> Column:
    """The payload column of ``field`` as the model stores it: hashed or masked values are strings."""
    column = payload[field]
    kind = ColumnKind.string if contract.pii.get(field) in ("hash", "mask") else column.kind
    return Column(field, kind, nullable, column.doc)


def _measure_column(measure: Measure, payload: Mapping[str, Column], contract: Contract) -> Column:
    if measure.field is None:
        return Column(measure.name, ColumnKind.long, False, "Number of events.")
    source = _typed(payload, contract, measure.field, nullable=True)
    doc = f"{measure.fn} of {measure.field}"
    if measure.fn == "sum":  # 0 until a non-null value arrives, never null
        kind = ColumnKind.double if source.kind in _FLOATS else ColumnKind.long
        return Column(measure.name, kind, False, doc)
    return Column(measure.name, source.kind, True, doc)


# -- the stateless step ------------------------------------------------------------------------------------


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
        return _millis(value)
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


def keyed_like_the_topic(model: ReadModel, contract: Contract) -> bool:
    """A current model keyed by the contract's ``key_field`` alone: its key is the Kafka key (the router
    quarantines a record whose Kafka key differs from that field), so whatever is keyed by the Kafka key,
    the ingest job's ``route``, can keep the model's state too. Aggregates are not: a windowed one has
    several keys per Kafka key, and a group-by field is rarely the key."""
    return isinstance(model, CurrentModel) and model.key == (contract.key_field,)


def key_text(key: Key) -> str:
    """Canonical JSON of a model key (the Flink key and the changelog's Kafka key): equal keys, equal text."""
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def event_to_json(event: ModelEvent) -> str:
    return json.dumps(
        {
            "model": event.model,
            "key": [_to_json(v) for v in event.key],
            "op": event.op,
            "row": {k: _to_json(v) for k, v in event.row.items()},
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
    data = json.loads(text)
    return ModelEvent(
        data["model"],
        tuple(_from_json(v) for v in data["key"]),
        data["op"],
        {k: _from_json(v) for k, v in data["row"].items()},
        _order_tuple(data["order"]),
        data["event_time_ms"],
        data["topic"],
        data["partition"],
        data["offset"],
    )


def _to_json(value: object) -> object:
    return {_BYTES_TAG: base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def _from_json(value: object) -> object:
    return base64.b64decode(value[_BYTES_TAG]) if isinstance(value, dict) else value


def _order_tuple(value: Sequence[int]) -> Order:
    first, second, third = value
    return (first, second, third)


# -- the stateful step -------------------------------------------------------------------------------------


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
    if event.op == DELETE and state is not None and state.deleted:
        return CurrentState(event.order, True, version), None  # already deleted; remember the newer tombstone
    # A delete of a key this state has never seen is still emitted: the state may be younger than the key
    # (a job started without its checkpoint), and a redundant delete is harmless in the table and on Kafka.
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
        if column.kind in _FLOATS and isinstance(value, int) and not isinstance(value, bool):
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
            "values": {k: _to_json(v) for k, v in state.values.items()},
            "counts": state.counts,
            "latest_order": None if state.latest_order is None else list(state.latest_order),
            "version": state.version,
        }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def state_from_json(text: str) -> CurrentState | AggregateState:
    data = json.loads(text)
    if data["kind"] == "current":
        return CurrentState(_order_tuple(data["order"]), data["deleted"], data["version"])
    latest = data["latest_order"]
    return AggregateState(
        {k: _from_json(v) for k, v in data["values"].items()},
        dict(data["counts"]),
        None if latest is None else _order_tuple(latest),
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
