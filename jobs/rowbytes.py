"""Python rows handed to the JVM as one byte string each, decoded there into Flink's internal rows.

The replay job's routing function yields ``udfs.rowcodec.RowEncoder.encode(values)`` (Avro binary, one
``bytes`` value) rather than a row, which would cross into the JVM field by field (udfs/rowcodec.py says
why). :func:`decoded_table` puts ``io.lakegate.flink.AvroRowDecoder`` (``jvm/src``, compiled into the
pipeline jars by ``lakegate.jvm.runtime_jar``) behind it: a named, uid'd map to ``RowData``, which the
table plan takes without conversion. Timestamps arrive as ``TIMESTAMP_LTZ(6)``, Iceberg's ``timestamptz``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, StreamTableEnvironment, Table
from pyflink.table.expressions import col
from pyflink.table.types import _to_java_data_type

from jobs import flink_types
from udfs.columns import Column

ROW_BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())


def decoder(columns: Sequence[Column]) -> object:
    """A Java ``AvroRowDecoder`` for rows of ``columns`` (a py4j object; usable in tests without a job)."""
    gateway = get_gateway()
    kinds = gateway.new_array(gateway.jvm.String, len(columns))
    nullable = gateway.new_array(gateway.jvm.boolean, len(columns))
    for i, column in enumerate(columns):
        kinds[i] = column.kind.value
        nullable[i] = column.nullable
    return gateway.jvm.io.lakegate.flink.AvroRowDecoder(kinds, nullable)


def decoded_table(
    t_env: StreamTableEnvironment,
    encoded: DataStream,
    columns: Sequence[Column],
    table_order: Sequence[str] | None,
    *,
    name: str,
    uid: str,
) -> Table:
    """``encoded`` (a stream of :data:`ROW_BYTES`) decoded on the JVM into a table of ``columns``, projected
    into ``table_order`` (the Iceberg table's column order; ``None``: the columns' own)."""
    row_type = DataTypes.ROW([DataTypes.FIELD(c.name, flink_types.decoded_data_type(c)) for c in columns])
    gateway = get_gateway()
    # InternalTypeInfo: the stream carries RowData, which from_data_stream takes without conversion. PyFlink
    # has no public way to it from a Python DataType; its own private converter is the one it uses itself.
    type_info = gateway.jvm.org.apache.flink.table.runtime.typeutils.InternalTypeInfo.of(
        _to_java_data_type(row_type).getLogicalType()
    )
    j_rows = encoded._j_data_stream.map(decoder(columns), type_info).name(name).uid(uid).startNewChain()
    table = t_env.from_data_stream(DataStream(j_rows))
    return table.select(*(col(n) for n in flink_types.column_order(tuple(columns), table_order)))
