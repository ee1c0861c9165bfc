package io.lakegate.flink.models;

import java.util.Locale;

/**
 * One measure of an aggregate model, from the plan: its function, where its input comes from (a reader
 * field or a treated value, by index; neither for count) and the kind of its model column, which also says
 * how a sum adds (LONG for int/long inputs, DOUBLE for float/double).
 */
public record MeasureSpec(String name, Fn fn, int field, int treated, ColumnKind kind) {

    /** The measure functions of udfs.readmodels.FUNCTIONS. */
    public enum Fn {
        COUNT, SUM, MIN, MAX, LATEST;

        static Fn of(String planFn, String where) {
            try {
                return valueOf(planFn.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new ModelPlanError(where + ": unknown measure function '" + planFn + "'");
            }
        }
    }

    public MeasureSpec {
        String where = "measure '" + name + "'";
        if (fn == Fn.COUNT && (field >= 0 || treated >= 0 || kind != ColumnKind.LONG)) {
            throw new ModelPlanError(where + ": count takes no input and is a long column");
        }
        if (fn != Fn.COUNT && (field >= 0) == (treated >= 0)) {
            throw new ModelPlanError(where + ": " + fn + " needs exactly one input (a field or a treated value)");
        }
        if (fn == Fn.SUM && kind != ColumnKind.LONG && kind != ColumnKind.DOUBLE) {
            throw new ModelPlanError(where + ": a sum is a long or double column, not " + kind);
        }
        if ((fn == Fn.MIN || fn == Fn.MAX) && !kind.comparable()) {
            throw new ModelPlanError(where + ": " + fn + " orders numbers and timestamps, not " + kind);
        }
    }

    /** The spec of a plan measure: {@code planFn} as in the plan ("count", "sum", ...). */
    public static MeasureSpec of(String name, String planFn, int field, int treated, String planKind) {
        String where = "measure '" + name + "'";
        return new MeasureSpec(name, Fn.of(planFn, where), field, treated, ColumnKind.of(planKind, where));
    }
}
