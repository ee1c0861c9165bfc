package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ReaderBody;

import org.apache.flink.table.data.GenericRowData;

import java.util.ArrayList;
import java.util.List;

/**
 * What unpack and dedupe make of one VALID segment, for callers outside a Flink job (the tests drive it
 * through PyFlink's gateway): the same classes the operators use, without their state or outputs.
 */
public final class Segments {

    private Segments() {}

    /** The dedupe key ({@link SegmentKey}). */
    public static String key(Plan plan, byte[] segment) {
        return new SegmentKey(IngestGraph.contractNames(plan)).getKey(segment);
    }

    /** The quarantine facts unpack reports when the segment's body fails the strict check; null if it passes. */
    public static QuarantineRecord corruptBody(Plan plan, byte[] segment, long nowMs) {
        ValidSegment s = read(plan, segment);
        try {
            ReaderBody.of(plan.contracts().get(s.contract)).check(segment, s.bodyStart, s.bodyLength);
            return null;
        } catch (ReaderBody.CorruptBody corrupt) {
            return QuarantineRecord.corruptBody(plan, s, corrupt, nowMs);
        }
    }

    /** The quarantine facts dedupe reports when the segment repeats an accepted event id. */
    public static QuarantineRecord duplicate(Plan plan, byte[] segment, long nowMs) {
        return QuarantineRecord.duplicate(plan, read(plan, segment), nowMs);
    }

    /** The audit row dedupe emits for the segment (its body must pass the strict check). */
    public static GenericRowData auditRow(Plan plan, byte[] segment) throws ReaderBody.CorruptBody {
        ValidSegment s = read(plan, segment);
        Plan.Contract contract = plan.contracts().get(s.contract);
        AuditRows rows = new AuditRows(contract, plan.topics());
        return rows.row(s, ReaderBody.of(contract).decode(segment, s.bodyStart, s.bodyLength));
    }

    /** The model events dedupe emits for the segment, in its order. */
    public static List<byte[]> modelEvents(Plan plan, byte[] segment) {
        List<byte[]> events = new ArrayList<>();
        new ModelEvents().write(read(plan, segment), events::add);
        return events;
    }

    private static ValidSegment read(Plan plan, byte[] segment) {
        ValidSegment s = new ValidSegment();
        ByteReader in = new ByteReader(segment);
        s.read(in, plan);
        if (!in.atEnd()) {
            throw new IllegalArgumentException(in.remaining() + " bytes left after the segment");
        }
        return s;
    }
}
