package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.resume.Held;
import io.lakegate.flink.resume.OffsetSet;

import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.table.data.RowData;

/**
 * Passes the quarantine elements a sink does not hold yet (docs/resume.md): the quarantine table drops those
 * at or below its held offsets ({@link Held}); the dead-letter topic drops those it already holds
 * ({@link OffsetSet}: its writers commit separate transactions, so what it holds is a set, not a prefix).
 */
final class NotHeld implements FilterFunction<RowData> {

    private static final long serialVersionUID = 1L;

    private final Held held;
    private final OffsetSet present;
    private final int topic;
    private final int partition;
    private final int offset;

    private NotHeld(Held held, OffsetSet present, QuarantineLayout layout) {
        this.held = held;
        this.present = present;
        this.topic = layout.position("source_topic");
        this.partition = layout.position("source_partition");
        this.offset = layout.position("source_offset");
    }

    /** For the Iceberg sink {@code sinkUid}. */
    static NotHeld table(Plan plan, String sinkUid, QuarantineLayout layout) {
        return new NotHeld(Held.of(plan, sinkUid), new OffsetSet(java.util.List.of()), layout);
    }

    /** For the dead-letter topic. */
    static NotHeld deadLetter(Plan plan, QuarantineLayout layout) {
        return new NotHeld(Held.of(plan, IngestGraph.DEAD_LETTER), new OffsetSet(plan.resume().deadLetter()), layout);
    }

    @Override
    public boolean filter(RowData element) {
        if (held.isEmpty() && present.isEmpty()) {
            return true;
        }
        String t = element.getString(topic).toString();
        int p = element.getInt(partition);
        long o = element.getLong(offset);
        return !held.holds(t, p, o) && !present.contains(t, p, o);
    }
}
