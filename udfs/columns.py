"""Typed columns: the column types of lakegate's tables, and the payload columns of a contract's reader schema.

:class:`Column` and :class:`ColumnKind` describe every table lakegate writes (audit log, quarantine, read
models); :func:`payload_columns` derives one column per top-level field of a reader schema; :func:`epoch_millis`
and :func:`as_epoch_millis` give a timestamp value as a ``timestamp_ms`` column holds it. Only flat records of
primitive types are supported for now; anything else is a :class:`~udfs.errors.ContractError` at contract
load. This module imports nothing of lakegate's but the errors, so every other module may import it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udfs.errors import ContractError

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


def epoch_millis(value: int | dt.datetime) -> int:
    """Epoch milliseconds of a timestamp as Avro (int, or an aware datetime with logical types) or Iceberg
    (a datetime; naive means UTC) give it, exactly: integer arithmetic, floored to the millisecond."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return (aware - _EPOCH) // _MS
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"a timestamp is an int of epoch millis or a datetime, not {type(value).__name__}")


def as_epoch_millis(value: object) -> object:
    """A timestamp value as a ``timestamp_ms`` column holds it: a datetime (a payload decoded with logical
    types) as int epoch millis, anything else unchanged."""
    if isinstance(value, dt.datetime):
        return epoch_millis(value)
    return value
