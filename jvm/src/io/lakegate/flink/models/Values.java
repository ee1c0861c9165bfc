package io.lakegate.flink.models;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

/**
 * The one representation of model values between decoding and output ("canonical"): null, Boolean, Long
 * (ints, longs and timestamps as epoch millis), Double (floats widened exactly), StringData (strings, enum
 * symbols, treated values) or byte[]. It is what Python's folds hold (udfs.readmodels: ints, floats, str,
 * bytes), so folds compare and add alike, and a model column's kind decides how a value is presented: in the
 * table row ({@link #column}) and in the changelog JSON ({@link JsonWriter}).
 */
public final class Values {

    private Values() {}

    /** A value of {@link io.lakegate.flink.wire.ReaderBody#decode} in canonical form. */
    public static Object canonical(Object decoded) {
        if (decoded instanceof Integer) {
            return ((Integer) decoded).longValue();
        }
        if (decoded instanceof Float) {
            return ((Float) decoded).doubleValue();
        }
        if (decoded instanceof TimestampData) {
            return ((TimestampData) decoded).getMillisecond();
        }
        return decoded;
    }

    /** A canonical value as Flink's internal data for a column of {@code kind} (GenericRowData fields). */
    public static Object column(Object value, ColumnKind kind, String column) {
        if (value == null) {
            return null;
        }
        switch (kind) {
            case STRING:
                if (value instanceof StringData) {
                    return value;
                }
                break;
            case BOOLEAN:
                if (value instanceof Boolean) {
                    return value;
                }
                break;
            case INT:
                if (value instanceof Long) {
                    long v = (Long) value;
                    if (v == (int) v) {
                        return (int) v;
                    }
                }
                break;
            case LONG:
                if (value instanceof Long) {
                    return value;
                }
                break;
            case FLOAT:
                if (value instanceof Double) {
                    return (float) (double) (Double) value;
                }
                break;
            case DOUBLE:
                if (value instanceof Double || value instanceof Long) {
                    return ((Number) value).doubleValue(); // a double sum is Long 0 before its first input
                }
                break;
            case BYTES:
                if (value instanceof byte[]) {
                    return value;
                }
                break;
            case TIMESTAMP_MS:
                if (value instanceof Long) {
                    return TimestampData.fromEpochMillis((Long) value);
                }
                break;
            default:
                break;
        }
        throw new ValueMismatch("column '" + column + "' is " + kind + ", its value a "
                + value.getClass().getSimpleName() + " (" + value + ")");
    }
}
