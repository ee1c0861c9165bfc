package io.lakegate.flink.models;

import java.util.Arrays;

/**
 * Per model, the highest event time this operator instance has seen: the watermark that closes an
 * aggregate's windows. Per model, so one contract's traffic never closes another's windows. Kept in memory
 * only (not checkpointed): after a restart it starts again from the first event, as in the Python job.
 */
public final class Watermarks {

    private final long[] highest;

    public Watermarks(int models) {
        highest = new long[models];
        Arrays.fill(highest, Long.MIN_VALUE);
    }

    /** Raises model {@code model}'s watermark to {@code eventTime} if higher and returns it. */
    public long advance(int model, long eventTime) {
        if (eventTime > highest[model]) {
            highest[model] = eventTime;
        }
        return highest[model];
    }

    public long current(int model) {
        return highest[model];
    }
}
