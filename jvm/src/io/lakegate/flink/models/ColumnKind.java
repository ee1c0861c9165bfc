package io.lakegate.flink.models;

import java.util.Locale;

/** A column kind of the plan (a udfs.columns.ColumnKind value): what a model column holds. */
public enum ColumnKind {
    STRING, BOOLEAN, INT, LONG, FLOAT, DOUBLE, BYTES, TIMESTAMP_MS;

    /** The kind named {@code planKind} ("string", "timestamp_ms", ...); a {@link ModelPlanError} otherwise. */
    public static ColumnKind of(String planKind, String where) {
        try {
            return valueOf(planKind.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ModelPlanError(where + ": unknown column kind '" + planKind + "'");
        }
    }

    /** Whether min and max order values of this kind (numbers and timestamps). */
    public boolean comparable() {
        return this == INT || this == LONG || this == FLOAT || this == DOUBLE || this == TIMESTAMP_MS;
    }
}
