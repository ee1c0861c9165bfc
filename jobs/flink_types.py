"""The one place that maps lakegate's column kinds onto Flink types (DataStream and Table sides)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyflink.common import Types
from pyflink.common.typeinfo import TypeInformation
from pyflink.table import DataTypes, Schema
from pyflink.table.expression import Expression
from pyflink.table.expressions import col, to_timestamp_ltz
from pyflink.table.types import DataType

from udfs.columns import Column, ColumnKind

# Timestamps cross the Python boundary as epoch milliseconds (cheap ints) and become TIMESTAMP_LTZ in the
# table plan; Iceberg's timestamptz is microsecond precision, hence (6).
ICEBERG_TIMESTAMP_PRECISION = 6
_TYPE_INFO: dict[ColumnKind, TypeInformation] = {
    ColumnKind.string: Types.STRING(),
    ColumnKind.boolean: Types.BOOLEAN(),
    ColumnKind.int: Types.INT(),
    ColumnKind.long: Types.LONG(),
    ColumnKind.float: Types.FLOAT(),
    ColumnKind.double: Types.DOUBLE(),
    ColumnKind.bytes: Types.PRIMITIVE_ARRAY(Types.BYTE()),
    ColumnKind.timestamp_ms: Types.LONG(),
}

_DATA_TYPE = {
    ColumnKind.string: DataTypes.STRING,
    ColumnKind.boolean: DataTypes.BOOLEAN,
    ColumnKind.int: DataTypes.INT,
    ColumnKind.long: DataTypes.BIGINT,
    ColumnKind.float: DataTypes.FLOAT,
    ColumnKind.double: DataTypes.DOUBLE,
    ColumnKind.bytes: DataTypes.BYTES,
    ColumnKind.timestamp_ms: DataTypes.BIGINT,
}


def epoch_millis(instant: Any) -> int:
    """A TIMESTAMP_LTZ value as epoch milliseconds, in either Python execution mode.

    Process mode hands Python a ``pyflink.common.time.Instant``; thread mode (pemja) hands it the
    ``java.time.Instant`` itself. Flink cannot cast TIMESTAMP_LTZ to a number in the plan instead.
    """
    if instant is None:
        return 0
    if hasattr(instant, "to_epoch_milli"):
        return int(instant.to_epoch_milli())
    return int(instant.toEpochMilli())


def type_info(column: Column) -> TypeInformation:
    return _TYPE_INFO[column.kind]


def row_type(columns: tuple[Column, ...]) -> TypeInformation:
    return Types.ROW_NAMED([c.name for c in columns], [_TYPE_INFO[c.kind] for c in columns])


def data_type(column: Column) -> DataType:
    """The column's Flink SQL type as it crosses from Python (timestamps as epoch-millisecond BIGINT)."""
    result: DataType = _DATA_TYPE[column.kind](nullable=column.nullable)
    return result


def decoded_data_type(column: Column) -> DataType:
    """The column's type in a table decoded on the JVM (jobs/rowbytes.py): as :func:`data_type`, but a
    timestamp arrives already as Iceberg's ``TIMESTAMP_LTZ(6)``, not as epoch milliseconds."""
    if column.kind is ColumnKind.timestamp_ms:
        result: DataType = DataTypes.TIMESTAMP_LTZ(ICEBERG_TIMESTAMP_PRECISION, nullable=column.nullable)
        return result
    return data_type(column)


def stream_schema(columns: tuple[Column, ...], extra: Sequence[tuple[str, DataType]] = ()) -> Schema:
    """Schema for ``from_data_stream``: declares NOT NULL where the columns guarantee a value."""
    builder = Schema.new_builder()
    for c in columns:
        builder = builder.column(c.name, data_type(c))
    for name, extra_type in extra:
        builder = builder.column(name, extra_type)
    return builder.build()


def sink_projection(columns: tuple[Column, ...], table_order: Sequence[str] | None = None) -> list[Expression]:
    """Expressions turning the stream row into the Iceberg row (epoch millis → TIMESTAMP_LTZ(6)).

    Table inserts map columns by position, and an evolved Iceberg table has its added columns at the end,
    not where the contract's reader schema has them: so the projection follows ``table_order``.
    """
    by_name = {c.name: c for c in columns}
    out: list[Expression] = []
    for name in column_order(columns, table_order):
        if by_name[name].kind is ColumnKind.timestamp_ms:
            iceberg_timestamp = DataTypes.TIMESTAMP_LTZ(ICEBERG_TIMESTAMP_PRECISION)
            out.append(to_timestamp_ltz(col(name), 3).cast(iceberg_timestamp).alias(name))
        else:
            out.append(col(name))
    return out


def column_order(columns: tuple[Column, ...], table_order: Sequence[str] | None) -> list[str]:
    """The column names in the table's order (``None``: the columns' own), checked to be the same set."""
    names = [c.name for c in columns]
    order = list(table_order) if table_order is not None else names
    if sorted(order) != sorted(names):
        raise ValueError(
            f"table columns {order} do not match the contract's columns {names}; "
            "run `lakegate contracts check` to see which change Iceberg cannot follow"
        )
    return order
