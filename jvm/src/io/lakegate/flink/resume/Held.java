package io.lakegate.flink.resume;

import io.lakegate.flink.plan.Plan;

import java.io.Serializable;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What one sink already holds (docs/resume.md): per partition, the highest source offset at or below which
 * it holds every record routed to it, so the job drops such records on their way to it. A partition the
 * plan does not name holds nothing ({@link #NONE}). Looked up per record: keys are topic index and partition.
 */
public final class Held implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The offset of a partition the sink holds nothing of. */
    public static final long NONE = -1L;

    private final Map<Long, Long> offsets = new HashMap<>();
    private final Map<String, Integer> topicIndex = new HashMap<>();

    private Held(List<String> topics) {
        for (int i = 0; i < topics.size(); i++) {
            topicIndex.put(topics.get(i), i);
        }
    }

    /** What {@code sinkUid} holds according to {@code plan} (nothing when the plan does not name it). */
    public static Held of(Plan plan, String sinkUid) {
        Held held = new Held(plan.topics());
        for (Plan.StartOffset o : plan.resume().held().getOrDefault(sinkUid, List.of())) {
            Integer topic = held.topicIndex.get(o.topic());
            if (topic == null) {
                throw new IllegalArgumentException("plan.resume.held." + sinkUid + " names topic " + o.topic()
                        + ", which is not among the plan's topics " + plan.topics());
            }
            held.offsets.put(key(topic, o.partition()), o.offset());
        }
        return held;
    }

    static long key(int topic, int partition) {
        return ((long) topic << 32) | (partition & 0xffffffffL);
    }

    public boolean isEmpty() {
        return offsets.isEmpty();
    }

    /** True when the sink already holds the record at {@code offset} of this partition (if routed to it). */
    public boolean holds(int topic, int partition, long offset) {
        return !offsets.isEmpty() && offset <= offsets.getOrDefault(key(topic, partition), NONE);
    }

    /** {@link #holds(int, int, long)} by topic name; a topic outside the plan is never held. */
    public boolean holds(String topic, int partition, long offset) {
        Integer index = topicIndex.get(topic);
        return index != null && holds(index, partition, offset);
    }
}
