"""Typed audit-table columns derived from a contract's reader schema.

The Iceberg audit table (created by the control plane) and the Flink sink row both come from
:func:`audit_columns`, so table DDL and row values cannot drift apart. Only flat records of primitive
types are supported for now; anything else is a :class:`~udfs.errors.ContractError` at contract load.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from udfs.errors import ContractError

if TYPE_CHECKING:
    from udfs.contract import Contract
    from udfs.router import Valid

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class ColumnKind(enum.StrEnum):
    string = "string"
    boolean = "boolean"
    int = "int"
    long = "long"
    float = "float"
    double = "double"
    bytes = "bytes"
    timestamp_ms = "timestamp_ms"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool
    doc: str | None = None


_PRIMITIVES = {
    "string": ColumnKind.string,
    "boolean": ColumnKind.boolean,
    "int": ColumnKind.int,
    "long": ColumnKind.long,
    "float": ColumnKind.float,
    "double": ColumnKind.double,
    "bytes": ColumnKind.bytes,
}


def _kind(avro: Any) -> ColumnKind | None:
    if isinstance(avro, str):
        return _PRIMITIVES.get(avro)
    if isinstance(avro, Mapping):
        base = avro.get("type")
        if base == "enum":
            return ColumnKind.string
        if base == "long" and avro.get("logicalType") == "timestamp-millis":
            return ColumnKind.timestamp_ms
        if isinstance(base, str) and base in _PRIMITIVES:
            return _PRIMITIVES[base]  # other logical types (uuid, date, ...) keep their Avro base type
    return None


def payload_columns(
    reader_schema_json: Mapping[str, Any], *, source: Path | str = "<reader schema>"
) -> tuple[Column, ...]:
    """One column per top-level field, in schema order; ``["null", X]`` becomes a nullable X."""
    columns = []
    for field in reader_schema_json.get("fields", ()):
        name, avro = field["name"], field["type"]
        if name.startswith("lg_"):
            raise ContractError(source, name, "names starting with 'lg_' are reserved for lakegate", "rename the field")
        nullable = False
        if isinstance(avro, list) and len(avro) == 2 and "null" in avro:
            nullable, avro = True, avro[1] if avro[0] == "null" else avro[0]
        kind = _kind(avro)
        if kind is None:
            raise ContractError(
                source,
                name,
                f"type {avro!r} is not supported yet in audit columns",
                'use a primitive, enum, timestamp-millis or ["null", <one of those>]',
            )
        columns.append(Column(name, kind, nullable, field.get("doc")))
    return tuple(columns)


def audit_columns(contract: Contract) -> tuple[Column, ...]:
    """Payload columns (reader-schema order) followed by the ``lg_`` envelope columns."""
    from udfs.envelope import ENVELOPE_COLUMNS

    return payload_columns(contract.reader_schema_json, source=contract.directory) + ENVELOPE_COLUMNS


def audit_values(valid: Valid, columns: tuple[Column, ...]) -> tuple[object, ...]:
    """Row values in column order: enums as str, timestamp_ms as int epoch millis, bytes as bytes."""
    payload, envelope = valid.payload, valid.envelope
    return tuple([get(payload, envelope) for get in _getters(columns)])


_Getter = Callable[[Mapping[str, object], object], object]
_getter_cache: dict[int, tuple[tuple[Column, ...], tuple[_Getter, ...]]] = {}


def _getters(columns: tuple[Column, ...]) -> tuple[_Getter, ...]:
    cached = _getter_cache.get(id(columns))
    if cached is not None and cached[0] is columns:
        return cached[1]
    from udfs.envelope import ENVELOPE_ATTRIBUTES

    getters = tuple(
        _envelope_getter(ENVELOPE_ATTRIBUTES[c.name]) if c.name in ENVELOPE_ATTRIBUTES else _payload_getter(c)
        for c in columns
    )
    if len(_getter_cache) > 256:
        _getter_cache.clear()
    _getter_cache[id(columns)] = (columns, getters)  # keeps columns alive, so the id stays unique
    return getters


def _envelope_getter(attribute: str) -> _Getter:
    return lambda _payload, envelope: getattr(envelope, attribute)


def _payload_getter(column: Column) -> _Getter:
    name = column.name
    if column.kind is ColumnKind.timestamp_ms:
        return lambda payload, _env: _millis(payload.get(name))
    if column.kind is ColumnKind.string:
        return lambda payload, _env: _text(payload.get(name))
    if column.kind is ColumnKind.bytes:
        return lambda payload, _env: _bytes(payload.get(name))
    return lambda payload, _env: payload.get(name)


def _millis(value: object) -> object:
    if isinstance(value, dt.datetime):  # a payload decoded with logical types
        return (value - _EPOCH) // _MS
    return value


def _text(value: object) -> object:
    return value if value is None or type(value) is str else str(value)  # uuid.UUID, enum-like objects


def _bytes(value: object) -> object:
    return value if value is None or type(value) is bytes else bytes(value)  # type: ignore[call-overload]
