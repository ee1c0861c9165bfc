package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.BooleanType;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.FloatType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarBinaryType;
import org.apache.flink.table.types.logical.VarCharType;

import java.util.ArrayList;
import java.util.List;

/**
 * Flink's internal types for the plan's table columns (a udfs {@code ColumnKind} per column), so the rows the
 * ingest job sends to the Iceberg sinks travel between operators with Flink's own {@code RowData} serializer.
 * Timestamps are {@code TIMESTAMP_LTZ(6)}, Iceberg's {@code timestamptz}; the values are {@code TimestampData}
 * either way, so a {@code timestamp} column takes them too.
 */
public final class ColumnTypes {

    private ColumnTypes() {}

    /** The logical type of a column kind; IllegalArgumentException for a kind lakegate's tables never hold. */
    public static LogicalType of(String kind, boolean nullable) {
        switch (kind) {
            case "string": return new VarCharType(nullable, VarCharType.MAX_LENGTH);
            case "boolean": return new BooleanType(nullable);
            case "int": return new IntType(nullable);
            case "long": return new BigIntType(nullable);
            case "float": return new FloatType(nullable);
            case "double": return new DoubleType(nullable);
            case "bytes": return new VarBinaryType(nullable, VarBinaryType.MAX_LENGTH);
            case "timestamp_ms": return new LocalZonedTimestampType(nullable, 6);
            default:
                throw new IllegalArgumentException("column kind '" + kind + "' is not one of udfs.columns.ColumnKind;"
                        + " build the plan (jobs/plan.py) and this jar from the same checkout");
        }
    }

    /** The row type of {@code columns}, in their order. */
    public static RowType rowType(List<Plan.Column> columns) {
        List<RowType.RowField> fields = new ArrayList<>(columns.size());
        for (Plan.Column column : columns) {
            fields.add(new RowType.RowField(column.name(), of(column.kind(), column.nullable())));
        }
        return new RowType(fields);
    }

    /** The type information of rows of {@code columns}. */
    public static InternalTypeInfo<org.apache.flink.table.data.RowData> typeInfo(List<Plan.Column> columns) {
        return InternalTypeInfo.of(rowType(columns));
    }
}
