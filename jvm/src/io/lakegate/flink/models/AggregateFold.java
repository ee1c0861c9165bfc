package io.lakegate.flink.models;

import io.lakegate.flink.plan.Plan;

/**
 * The folds of an aggregate model (udfs.readmodels.apply_aggregate and _fold_measure): count counts events;
 * sum adds non-null inputs (long or double, 0 before any); min and max skip null and NaN; latest takes the
 * input (null too) of the event with the greatest order tuple. Every event that is not late makes a change;
 * an event of a window closed by the watermark leaves the state as it was.
 */
public final class AggregateFold {

    private final MeasureSpec[] measures;
    /** Whether a measure is "latest": only then does the state keep the latest order tuple (20 bytes). */
    private final boolean tracksLatest;
    private final boolean windowed;
    private final long windowSize;
    private final long allowedLateness;

    /** The fold of {@code measures}, windowed when {@code window} is not null. */
    public AggregateFold(MeasureSpec[] measures, Plan.Window window) {
        this.measures = measures.clone();
        this.tracksLatest = java.util.Arrays.stream(measures).anyMatch(m -> m.fn() == MeasureSpec.Fn.LATEST);
        this.windowed = window != null;
        this.windowSize = window != null ? window.sizeMs() : 0;
        this.allowedLateness = window != null ? window.allowedLatenessMs() : 0;
        if (windowed && (windowSize <= 0 || allowedLateness < 0)) {
            throw new ModelPlanError("window size " + windowSize + " ms and lateness " + allowedLateness
                    + " ms: the size must be > 0, the lateness >= 0");
        }
    }

    public MeasureSpec[] measures() {
        return measures.clone();
    }

    public AggregateState empty() {
        return AggregateState.empty(measures);
    }

    /** Whether the window starting at {@code windowStart} no longer accepts events at {@code watermark}:
     * {@code start + size + lateness <= watermark} (never for a model without a window). */
    public boolean closed(long windowStart, long watermark) {
        return windowed && saturatedSum(windowStart, windowSize + allowedLateness) <= watermark;
    }

    /**
     * Folds one event into its group's {@code state} (null: none yet). {@code inputs} holds each measure's
     * input value in plan order, as {@link Values#canonical} (ignored for count).
     */
    public Step<AggregateState> apply(AggregateState state, long windowStart, long orderValue, int partition,
            long offset, Object[] inputs, long watermark) {
        if (closed(windowStart, watermark)) {
            return new Step<>(state, false);
        }
        AggregateState old = state != null ? state : empty();
        if (old.measureCount() != measures.length) {
            throw new CorruptModelState("state of " + old.measureCount() + " measures for a model of "
                    + measures.length);
        }
        boolean newer = !old.hasLatest() || Orders.compare(orderValue, partition, offset, old.latestValue(),
                old.latestPartition(), old.latestOffset()) > 0;
        Object[] values = old.copyValues();
        long[] counts = old.copyCounts();
        for (int i = 0; i < measures.length; i++) {
            fold(measures[i], inputs[i], values, counts, i, newer);
        }
        AggregateState next;
        if (!tracksLatest) {
            next = new AggregateState(values, counts, false, 0, 0, 0, old.version() + 1);
        } else if (newer) {
            next = new AggregateState(values, counts, true, orderValue, partition, offset, old.version() + 1);
        } else {
            next = new AggregateState(values, counts, true, old.latestValue(), old.latestPartition(),
                    old.latestOffset(), old.version() + 1);
        }
        return new Step<>(next, true);
    }

    private static void fold(MeasureSpec measure, Object value, Object[] values, long[] counts, int i,
            boolean newer) {
        switch (measure.fn()) {
            case COUNT:
                counts[i]++;
                values[i] = counts[i];
                return;
            case LATEST:
                if (newer) {
                    values[i] = value;
                }
                if (value != null) {
                    counts[i]++;
                }
                return;
            default:
                break;
        }
        if (value == null) {
            return;
        }
        if (measure.fn() == MeasureSpec.Fn.SUM) {
            counts[i]++;
            values[i] = sum(measure, values[i], value);
            return;
        }
        Number number = number(measure, value);
        if (number instanceof Double && ((Double) number).isNaN()) {
            return; // NaN has no order: min and max would depend on arrival order
        }
        counts[i]++;
        Object current = values[i];
        if (current == null) {
            values[i] = value;
            return;
        }
        int c = compare(number, number(measure, current));
        if (measure.fn() == MeasureSpec.Fn.MIN ? c < 0 : c > 0) {
            values[i] = value;
        }
    }

    private static Object sum(MeasureSpec measure, Object current, Object value) {
        Number added = number(measure, value);
        Number sum = number(measure, current);
        if (measure.kind() == ColumnKind.DOUBLE) {
            return sum.doubleValue() + added.doubleValue();
        }
        if (!(added instanceof Long) || !(sum instanceof Long)) {
            throw new ValueMismatch("measure '" + measure.name() + "' sums longs, not " + value.getClass()
                    .getSimpleName());
        }
        try {
            return Math.addExact((Long) sum, (Long) added);
        } catch (ArithmeticException e) {
            throw new ValueMismatch("measure '" + measure.name() + "': the sum overflows a long (" + sum + " + "
                    + added + ")");
        }
    }

    private static Number number(MeasureSpec measure, Object value) {
        if (value instanceof Long || value instanceof Double) {
            return (Number) value;
        }
        throw new ValueMismatch("measure '" + measure.name() + "' (" + measure.fn() + ") needs a number, not "
                + value.getClass().getSimpleName());
    }

    /** Compares as Python compares numbers: longs exactly, otherwise as doubles (-0.0 equals 0.0). */
    private static int compare(Number a, Number b) {
        if (a instanceof Long && b instanceof Long) {
            return Long.compare((Long) a, (Long) b);
        }
        double x = a.doubleValue();
        double y = b.doubleValue();
        return x < y ? -1 : x > y ? 1 : 0;
    }

    private static long saturatedSum(long a, long b) {
        long sum = a + b;
        if (((a ^ sum) & (b ^ sum)) < 0) {
            return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
        return sum;
    }
}
