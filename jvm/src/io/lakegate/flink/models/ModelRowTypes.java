package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.table.data.RowData;
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
 * The Flink row type of a model table's rows (plan {@code table_columns}, in table order), for the side
 * output that feeds the model's Iceberg sink. Timestamps are {@code TIMESTAMP_LTZ(6)}, Iceberg's timestamptz
 * (jobs/flink_types.py, ICEBERG_TIMESTAMP_PRECISION); the values are {@code TimestampData} of epoch millis.
 */
public final class ModelRowTypes {

    /** Iceberg's timestamp precision (microseconds). */
    public static final int TIMESTAMP_PRECISION = 6;

    private ModelRowTypes() {}

    public static RowType rowType(Plan.Model model) {
        List<RowType.RowField> fields = new ArrayList<>();
        for (Plan.Column column : model.tableColumns()) {
            ColumnKind kind = ColumnKind.of(column.kind(), "model '" + model.name() + "' column '" + column.name()
                    + "'");
            fields.add(new RowType.RowField(column.name(), logicalType(kind, column.nullable())));
        }
        return new RowType(false, fields);
    }

    public static InternalTypeInfo<RowData> typeInfo(Plan.Model model) {
        return InternalTypeInfo.of(rowType(model));
    }

    static LogicalType logicalType(ColumnKind kind, boolean nullable) {
        switch (kind) {
            case STRING: return new VarCharType(nullable, VarCharType.MAX_LENGTH);
            case BOOLEAN: return new BooleanType(nullable);
            case INT: return new IntType(nullable);
            case LONG: return new BigIntType(nullable);
            case FLOAT: return new FloatType(nullable);
            case DOUBLE: return new DoubleType(nullable);
            case BYTES: return new VarBinaryType(nullable, VarBinaryType.MAX_LENGTH);
            case TIMESTAMP_MS: return new LocalZonedTimestampType(nullable, TIMESTAMP_PRECISION);
            default: throw new IllegalStateException("unhandled kind " + kind);
        }
    }
}
