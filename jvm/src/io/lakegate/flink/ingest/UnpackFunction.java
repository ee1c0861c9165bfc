package io.lakegate.flink.ingest;

import io.lakegate.flink.AvroRowDecoder;
import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ReaderBody;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.util.Arrays;

/**
 * Unpacks the route's result batches (docs/hotpath.md, "Result batch"), chained after the Python route.
 *
 * <ul>
 *   <li>QUARANTINED entry → a quarantine element ({@link QuarantineLayout}) on the {@link #quarantineTag}
 *       side output: the row Python encoded, decoded with {@link AvroRowDecoder}, and Python's headers as
 *       they are.</li>
 *   <li>VALID entry → its Avro body checked strictly ({@link ReaderBody#check}: enum and union indexes,
 *       lengths, UTF-8, trailing bytes). A body that fails is quarantined here as {@code schema_mismatch}
 *       and counted; one that passes leaves as its segment (the entry's bytes, kind to last model event)
 *       on the main output, for dedupe.</li>
 * </ul>
 *
 * A batch that does not follow the format fails the task ({@link MalformedBatchException}).
 */
public final class UnpackFunction extends ProcessFunction<byte[], byte[]> {

    private static final long serialVersionUID = 1L;
    static final int QUARANTINED = 2;

    private final Plan plan;
    private final QuarantineLayout layout;
    private final OutputTag<RowData> quarantine;

    private transient ReaderBody[] bodies;
    private transient AvroRowDecoder rows;
    private transient ValidSegment segment;
    private transient OutcomeCounters counters;

    public UnpackFunction(Plan plan, QuarantineLayout layout) {
        this.plan = plan;
        this.layout = layout;
        this.quarantine = quarantineTag(layout);
    }

    /** The side output of the quarantine elements unpack emits. */
    public static OutputTag<RowData> quarantineTag(QuarantineLayout layout) {
        return new OutputTag<>("quarantine", layout.typeInfo());
    }

    @Override
    public void open(OpenContext context) {
        bodies = plan.contracts().stream().map(ReaderBody::of).toArray(ReaderBody[]::new);
        rows = new AvroRowDecoder(layout.encodedKinds(), layout.encodedNullable());
        segment = new ValidSegment();
        counters = new OutcomeCounters(getRuntimeContext().getMetricGroup(), plan);
    }

    @Override
    public void processElement(byte[] batch, Context ctx, Collector<byte[]> out) {
        ByteReader in = new ByteReader(batch);
        int entry = -1;
        try {
            int count = in.i32();
            if (count < 0) {
                throw new IllegalArgumentException("negative entry count " + count);
            }
            for (entry = 0; entry < count; entry++) {
                if (in.atEnd()) {
                    throw new IllegalArgumentException("the batch ends before its " + count + " entries");
                }
                int kind = batch[in.position()] & 0xff;
                if (kind == ValidSegment.KIND) {
                    valid(in, batch, ctx, out);
                } else if (kind == QUARANTINED) {
                    in.u8();
                    ctx.output(quarantine, quarantined(in, batch));
                } else {
                    throw new IllegalArgumentException(
                            "entry kind " + kind + " is neither 1 (VALID) nor 2 (QUARANTINED)");
                }
            }
            if (!in.atEnd()) {
                throw new IllegalArgumentException(in.remaining() + " bytes left after the last entry");
            }
        } catch (IllegalArgumentException e) {
            throw new MalformedBatchException("result batch of " + batch.length + " bytes"
                    + (entry >= 0 ? ", entry " + entry : "") + ": " + e.getMessage(), e);
        }
    }

    private void valid(ByteReader in, byte[] batch, Context ctx, Collector<byte[]> out) {
        segment.read(in, plan);
        try {
            bodies[segment.contract].check(batch, segment.bodyStart, segment.bodyLength);
        } catch (ReaderBody.CorruptBody corrupt) {
            ctx.output(quarantine, layout.element(
                    QuarantineRecord.corruptBody(plan, segment, corrupt, System.currentTimeMillis())));
            counters.record(segment, Outcome.QUARANTINED);
            counters.quarantined(segment.contract, QuarantineRecord.SCHEMA_MISMATCH);
            return;
        }
        out.collect(Arrays.copyOfRange(batch, segment.start, segment.end));
    }

    private GenericRowData quarantined(ByteReader in, byte[] batch) {
        byte[] row = in.nullableBytes();
        if (row == null) {
            throw new IllegalArgumentException("a QUARANTINED entry with a null row");
        }
        int headers = DeadLetterHeaders.skip(in);
        return layout.fromEncoded(rows.decode(row), Arrays.copyOfRange(batch, headers, in.position()));
    }
}
