package io.lakegate.flink.models;

import java.util.Arrays;

/**
 * Per group (and window) of an aggregate model (udfs.readmodels.AggregateState): the measure values, the
 * non-null inputs seen per measure (events, for count), the order tuple of the event that set the latest
 * measures (none before the first event, and none in a model without a latest measure, where nothing reads
 * it) and the version of the last change.
 *
 * <p>Values are those of {@link Values#canonical}: null, Boolean, Long, Double, StringData or byte[]; a sum
 * is a Long 0 until its first input (as Python's int 0), a double sum a Double from then on. Instances are
 * never modified: a fold makes a new one, so a pending change may keep {@link #values()} as they are.
 */
public final class AggregateState {

    private final Object[] values;
    private final long[] counts;
    private final boolean hasLatest;
    private final long latestValue;
    private final int latestPartition;
    private final long latestOffset;
    private final long version;

    public AggregateState(Object[] values, long[] counts, boolean hasLatest, long latestValue, int latestPartition,
            long latestOffset, long version) {
        if (values.length != counts.length) {
            throw new IllegalArgumentException(values.length + " values but " + counts.length + " counts");
        }
        this.values = values;
        this.counts = counts;
        this.hasLatest = hasLatest;
        this.latestValue = latestValue;
        this.latestPartition = latestPartition;
        this.latestOffset = latestOffset;
        this.version = version;
    }

    /** The state of a group before its first event: count and sum 0, the others null, version 0. */
    public static AggregateState empty(MeasureSpec[] measures) {
        Object[] values = new Object[measures.length];
        for (int i = 0; i < measures.length; i++) {
            MeasureSpec.Fn fn = measures[i].fn();
            values[i] = fn == MeasureSpec.Fn.COUNT || fn == MeasureSpec.Fn.SUM ? Long.valueOf(0) : null;
        }
        return new AggregateState(values, new long[measures.length], false, 0, 0, 0, 0);
    }

    /** The measure values in plan order; not to be modified. */
    public Object[] values() {
        return values;
    }

    public Object value(int measure) {
        return values[measure];
    }

    public long count(int measure) {
        return counts[measure];
    }

    public int measureCount() {
        return values.length;
    }

    public boolean hasLatest() {
        return hasLatest;
    }

    public long latestValue() {
        return latestValue;
    }

    public int latestPartition() {
        return latestPartition;
    }

    public long latestOffset() {
        return latestOffset;
    }

    public long version() {
        return version;
    }

    Object[] copyValues() {
        return values.clone();
    }

    long[] copyCounts() {
        return counts.clone();
    }

    @Override
    public String toString() {
        return "AggregateState{values=" + Arrays.toString(values) + ", counts=" + Arrays.toString(counts)
                + ", latest=" + (hasLatest ? "(" + latestValue + "," + latestPartition + "," + latestOffset + ")"
                : "none") + ", version=" + version + "}";
    }
}
