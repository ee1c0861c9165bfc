package io.lakegate.flink.models;

/**
 * A value does not fit the model column or measure it is meant for (a string where a sum expects a number,
 * a long sum that overflows 64 bits): the plan and the data disagree, or the model cannot hold the result.
 */
public final class ValueMismatch extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ValueMismatch(String message) {
        super(message);
    }
}
