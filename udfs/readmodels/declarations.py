"""Read-model declarations: a contract's ``[[read_models]]`` tables parsed into typed models, and their columns.

:func:`parse_read_models` turns each table into a :class:`CurrentModel` (latest row per key) or an
:class:`AggregateModel` (measures per group, optionally per event-time window); :func:`model_columns` gives
a model table's typed columns and :func:`keyed_like_the_topic` says whether a model's key is the Kafka key.

Invariant: a model that parses is valid against its contract's reader schema, enums and ``[pii]``. Every
field it names exists; key and group-by fields are non-null keyable columns that PII treatment keeps
deterministic; ``order_by`` is a non-null orderable field, or ``offset`` on the contract's key alone; no two
columns share a name. Anything else is a :class:`~udfs.errors.ContractError` naming the file, the field and
the fix, so events and folds rely on a declaration without checking it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from udfs.columns import Column, ColumnKind, payload_columns
from udfs.errors import ContractError
from udfs.naming import check_field, check_keys

if TYPE_CHECKING:
    from udfs.contract import Contract

KINDS = ("current", "aggregate")
FUNCTIONS = ("count", "sum", "min", "max", "latest")
OFFSET = "offset"  # order_by value meaning "Kafka offset order"
WINDOW_START = "window_start"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
FLOAT_KINDS = frozenset({ColumnKind.float, ColumnKind.double})

_CURRENT_KEYS = frozenset({"name", "kind", "key", "fields", "event_type_field", "upsert_on", "delete_on", "order_by"})
_AGGREGATE_KEYS = frozenset({"name", "kind", "group_by", "measures", "order_by", "window"})
_MEASURE_KEYS = frozenset({"name", "fn", "field"})
_WINDOW_KEYS = frozenset({"size_s", "allowed_lateness_s"})
_KEYABLE = frozenset({ColumnKind.string, ColumnKind.int, ColumnKind.long, ColumnKind.boolean, ColumnKind.timestamp_ms})
_ORDERABLE = frozenset({ColumnKind.int, ColumnKind.long, ColumnKind.timestamp_ms})
_SUMMABLE = frozenset({ColumnKind.int, ColumnKind.long, ColumnKind.float, ColumnKind.double})
_COMPARABLE = _SUMMABLE | {ColumnKind.timestamp_ms}


# -- models ------------------------------------------------------------------------------------------------


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

    def at(self, key: str | None) -> str:
        """Where ``key`` of this table sits, as a :class:`ContractError` names it."""
        return self.where if key is None else f"{self.where}.{key}"

    def error(self, key: str | None, problem: str, fix: str) -> ContractError:
        return ContractError(self.path, self.at(key), problem, fix)


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
    check_keys(table, allowed, path=scope.path, where=scope.where, problem=f"unknown key for a {kind} read model")
    name = table.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise scope.error(
            "name",
            f"must be an identifier matching [a-z][a-z0-9_]*, not {name!r}",
            'e.g. name = "users_current"; it names the model table',
        )
    return _parse_current(table, scope, name) if kind == "current" else _parse_aggregate(table, scope, name)


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
    return scope.columns[check_field(field, scope.columns, path=scope.path, where=scope.at(key))]


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
    check_keys(raw, _WINDOW_KEYS, path=scope.path, where=scope.at("window"), problem="unknown key for a window")
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
    check_keys(table, _MEASURE_KEYS, path=scope.path, where=scope.at(where), problem="unknown key for a measure")
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
        kind = ColumnKind.double if source.kind in FLOAT_KINDS else ColumnKind.long
        return Column(measure.name, kind, False, doc)
    return Column(measure.name, source.kind, True, doc)


# -- keys --------------------------------------------------------------------------------------------------


def keyed_like_the_topic(model: ReadModel, contract: Contract) -> bool:
    """A current model keyed by the contract's ``key_field`` alone: its key is the Kafka key (the router
    quarantines a record whose Kafka key differs from that field), so whatever is keyed by the Kafka key,
    the ingest job's ``route``, can keep the model's state too. Aggregates are not: a windowed one has
    several keys per Kafka key, and a group-by field is rarely the key."""
    return isinstance(model, CurrentModel) and model.key == (contract.key_field,)
