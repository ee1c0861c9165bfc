"""Rows as one Avro-encoded byte string, for the hand-over from Python to the JVM (the route's quarantine
rows, the replay job's audit rows).

One byte string crosses the boundary in one piece, where a row would cross field by field (a Java object
per field, then Flink's conversion to its internal row) under the Python interpreter's lock;
``jvm/src/io/lakegate/flink/AvroRowDecoder.java`` turns it into Flink's internal row on the JVM. The
encoding is Avro binary of a flat record, one field per :class:`~udfs.columns.Column` in order, a nullable
column as the union ``["null", T]`` (null first), ``timestamp_ms`` as a long of epoch milliseconds. Values
are what :func:`udfs.audit.audit_values` produces.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import fastavro

from udfs.columns import Column, ColumnKind

_AVRO_TYPE = {
    ColumnKind.string: "string",
    ColumnKind.boolean: "boolean",
    ColumnKind.int: "int",
    ColumnKind.long: "long",
    ColumnKind.float: "float",
    ColumnKind.double: "double",
    ColumnKind.bytes: "bytes",
    ColumnKind.timestamp_ms: "long",
}


def avro_schema(columns: Sequence[Column]) -> dict[str, Any]:
    """The record schema the bytes are written with (the decoder needs only each column's kind and nullability)."""
    return {
        "type": "record",
        "name": "lakegate_row",
        "fields": [
            {"name": c.name, "type": ["null", _AVRO_TYPE[c.kind]] if c.nullable else _AVRO_TYPE[c.kind]}
            for c in columns
        ],
    }


class RowEncoder:
    """Encodes rows of ``columns`` (values in column order) as Avro binary. Build once, call per record."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self._names = tuple(c.name for c in self.columns)
        self._schema = fastavro.parse_schema(avro_schema(self.columns))

    def encode(self, values: Sequence[object]) -> bytes:
        """Raises ValueError if the values do not fit the columns (count, a null where none is allowed, type)."""
        if len(values) != len(self._names):
            raise ValueError(f"{len(values)} values for {len(self._names)} columns {list(self._names)}")
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self._schema, dict(zip(self._names, values, strict=True)))
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ValueError(f"row does not fit columns {list(self._names)}: {exc}") from exc
        return out.getvalue()


def decode(columns: Sequence[Column], data: bytes) -> tuple[object, ...]:
    """The values :meth:`RowEncoder.encode` wrote (for tests and tools; the job decodes on the JVM)."""
    record = fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(avro_schema(columns)), None)
    assert isinstance(record, dict)
    return tuple(record[c.name] for c in columns)
