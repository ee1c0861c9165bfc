package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteWriter;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import java.util.concurrent.ScheduledFuture;

/**
 * Packs encoded Kafka records ({@link InputRecordSchema}) into input batches (docs/hotpath.md, "Input batch":
 * an i32 count, then the records), so the Python route is called once per batch. Chained to the source.
 *
 * <p>A batch is emitted when it holds {@code max_records} records or {@code max_bytes} bytes, when
 * {@code max_delay_ms} has passed since its first record (a processing-time timer; its callback runs in the
 * task thread, like {@link #processElement}), and whenever the stream must not run ahead of it: before a
 * checkpoint barrier ({@link #prepareSnapshotPreBarrier}, so every record read before the barrier is
 * processed, and its results are written, before it: exactly-once with the source's checkpointed offsets
 * and no state of its own), before a watermark, and at the end of input. Nothing is buffered across a
 * checkpoint, so the operator has no state.
 */
public final class PackOperator extends AbstractStreamOperator<byte[]>
        implements OneInputStreamOperator<byte[], byte[]>, BoundedOneInput {

    private static final long serialVersionUID = 1L;

    private final int maxRecords;
    private final int maxBytes;
    private final long maxDelayMs;

    private transient ByteWriter batch;
    private transient int count;
    private transient long generation; // which batch a timer was armed for
    private transient ScheduledFuture<?> timer;

    public PackOperator(Plan.Batch caps) {
        if (caps.maxRecords() < 1 || caps.maxBytes() < 1 || caps.maxDelayMs() < 0) {
            throw new IllegalArgumentException("plan.batch " + caps + ": max_records and max_bytes must be at"
                    + " least 1 and max_delay_ms at least 0 (see the batch settings in docs/settings.md)");
        }
        this.maxRecords = caps.maxRecords();
        this.maxBytes = caps.maxBytes();
        this.maxDelayMs = caps.maxDelayMs();
    }

    @Override
    public void open() throws Exception {
        super.open();
        batch = new ByteWriter(Math.min(maxBytes, 1 << 20) + 1024);
    }

    @Override
    public void processElement(StreamRecord<byte[]> element) {
        byte[] record = element.getValue();
        if (count == 0) {
            batch.reset();
            batch.i32(0);
            arm();
        }
        batch.raw(record, 0, record.length);
        count++;
        if (count >= maxRecords || batch.size() >= maxBytes) {
            flush();
        }
    }

    private void arm() {
        long batchId = ++generation;
        long now = getProcessingTimeService().getCurrentProcessingTime();
        timer = getProcessingTimeService().registerTimer(now + maxDelayMs, time -> {
            if (batchId == generation) {
                flush();
            }
        });
    }

    /** Emits the open batch, if any. */
    private void flush() {
        if (count == 0) {
            return;
        }
        batch.i32At(0, count);
        count = 0;
        generation++;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        output.collect(new StreamRecord<>(batch.toByteArray()));
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        flush();
        super.processWatermark(mark);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush();
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void endInput() {
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }
}
