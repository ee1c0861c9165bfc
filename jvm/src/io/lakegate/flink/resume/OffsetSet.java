package io.lakegate.flink.resume;

import io.lakegate.flink.plan.Plan;

import java.io.Serializable;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A set of source offsets per partition, kept as sorted inclusive ranges ({@link Plan.OffsetRanges}): the
 * offsets the audit tables hold in a fresh start's re-read window, or those the dead-letter topic holds.
 */
public final class OffsetSet implements Serializable {

    private static final long serialVersionUID = 1L;

    private final Map<String, long[]> bounds = new HashMap<>();

    public OffsetSet(List<Plan.OffsetRanges> ranges) {
        for (Plan.OffsetRanges r : ranges) {
            long[] b = r.bounds().stream().mapToLong(Long::longValue).toArray();
            if (bounds.put(r.topic() + "\u0000" + r.partition(), b) != null) {
                throw new IllegalArgumentException("offset ranges name " + r.topic() + "[" + r.partition()
                        + "] twice");
            }
        }
    }

    public boolean isEmpty() {
        return bounds.isEmpty();
    }

    public boolean contains(String topic, int partition, long offset) {
        long[] b = bounds.get(topic + "\u0000" + partition);
        if (b == null) {
            return false;
        }
        // The greatest range start at or below offset: even positions are firsts, odd ones lasts.
        int at = Arrays.binarySearch(b, offset);
        if (at >= 0) {
            return true;
        }
        int insertion = -at - 1; // offset lies between b[insertion - 1] and b[insertion]
        return insertion % 2 == 1;
    }
}
