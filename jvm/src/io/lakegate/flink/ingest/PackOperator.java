package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.resume.Journal;
import io.lakegate.flink.wire.ByteWriter;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
 * checkpoint.
 *
 * <p>It also keeps, per partition, the highest offset it has read ({@value #COVERED}), and the offsets each
 * sink held when the job started fresh (the plan's {@code resume.held}; {@value #HELD}): its only state,
 * union lists restored by every subtask. It writes both to the coverage journal ({@link Journal}) at the
 * job's fresh start (checkpoint 0: the plan's {@code resume.covered}) and in every checkpoint's synchronous
 * phase: what each checkpoint holds, for a later start without a checkpoint (docs/resume.md).
 */
public final class PackOperator extends AbstractStreamOperator<byte[]>
        implements OneInputStreamOperator<byte[], byte[]>, BoundedOneInput {

    private static final long serialVersionUID = 1L;

    /** The name of the operator state of offsets read. */
    public static final String COVERED = "covered-offsets";
    /** The name of the operator state of the offsets each sink held when the job started fresh. */
    public static final String HELD = "held-offsets";

    private final int maxRecords;
    private final int maxBytes;
    private final long maxDelayMs;
    private final List<String> topics;
    private final Plan.Resume resume; // null: no journal (a pack outside the ingest job)

    private transient ByteWriter batch;
    private transient int count;
    private transient long generation; // which batch a timer was armed for
    private transient ScheduledFuture<?> timer;
    private transient Map<Long, Long> covered; // topic index << 32 | partition → highest offset read
    private transient ListState<String> coveredState;
    private transient Map<String, Map<Long, Long>> held; // sink uid → partition key → offset held at the start
    private transient ListState<String> heldState;
    private transient boolean restored;
    private transient Journal journal;

    /** A pack that journals what it covers: the ingest job's. */
    public PackOperator(Plan plan) {
        this(plan.batch(), plan.topics(), plan.resume());
    }

    /** A pack without a journal. */
    public PackOperator(Plan.Batch caps) {
        this(caps, List.of(), null);
    }

    private PackOperator(Plan.Batch caps, List<String> topics, Plan.Resume resume) {
        if (caps.maxRecords() < 1 || caps.maxBytes() < 1 || caps.maxDelayMs() < 0) {
            throw new IllegalArgumentException("plan.batch " + caps + ": max_records and max_bytes must be at"
                    + " least 1 and max_delay_ms at least 0 (see the batch settings in docs/settings.md)");
        }
        this.maxRecords = caps.maxRecords();
        this.maxBytes = caps.maxBytes();
        this.maxDelayMs = caps.maxDelayMs();
        this.topics = List.copyOf(topics);
        this.resume = resume;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        if (resume == null) {
            return;
        }
        covered = new HashMap<>();
        held = new TreeMap<>();
        coveredState = context.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>(COVERED, Types.STRING));
        heldState = context.getOperatorStateStore().getUnionListState(new ListStateDescriptor<>(HELD, Types.STRING));
        restored = context.isRestored();
        if (restored) {
            for (String entry : coveredState.get()) { // topic \t partition \t offset
                String[] parts = entry.split("\t");
                int topic = topics.indexOf(parts[0]);
                if (topic >= 0) { // a topic the plan no longer reads is forgotten
                    covered.merge(key(topic, Integer.parseInt(parts[1])), Long.parseLong(parts[2]), Math::max);
                }
            }
            for (String entry : heldState.get()) { // sink \t topic \t partition \t offset
                String[] parts = entry.split("\t");
                int topic = topics.indexOf(parts[1]);
                if (topic >= 0) {
                    held.computeIfAbsent(parts[0], s -> new HashMap<>())
                            .merge(key(topic, Integer.parseInt(parts[2])), Long.parseLong(parts[3]), Math::max);
                }
            }
        } else {
            for (Map.Entry<String, List<Plan.StartOffset>> sink : resume.held().entrySet()) {
                for (Plan.StartOffset o : sink.getValue()) {
                    int topic = topics.indexOf(o.topic());
                    if (topic >= 0) {
                        held.computeIfAbsent(sink.getKey(), s -> new HashMap<>())
                                .put(key(topic, o.partition()), o.offset());
                    }
                }
            }
            for (Plan.StartOffset o : resume.covered()) {
                int topic = topics.indexOf(o.topic());
                if (topic < 0) {
                    throw new IllegalArgumentException("plan.resume.covered names topic " + o.topic()
                            + ", which is not among the plan's topics " + topics);
                }
                covered.put(key(topic, o.partition()), o.offset());
            }
        }
    }

    private static long key(int topic, int partition) {
        return ((long) topic << 32) | (partition & 0xffffffffL);
    }

    @Override
    public void open() throws Exception {
        super.open();
        batch = new ByteWriter(Math.min(maxBytes, 1 << 20) + 1024);
        if (resume != null) {
            var task = getRuntimeContext().getTaskInfo();
            journal = new Journal(resume.journal(), getContainingTask().getEnvironment().getJobID().toHexString(),
                    task.getIndexOfThisSubtask(), task.getNumberOfParallelSubtasks());
            if (!restored) {
                journal.write(0, false, byTopic(covered), heldByTopic()); // before any checkpoint, so any commit
            }
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        if (resume == null) {
            return;
        }
        List<String> entries = new ArrayList<>(covered.size());
        for (Map.Entry<Long, Long> e : covered.entrySet()) {
            entries.add(topics.get((int) (e.getKey() >>> 32)) + "\t" + (int) (long) e.getKey() + "\t"
                    + e.getValue());
        }
        coveredState.update(entries);
        List<String> heldEntries = new ArrayList<>();
        for (Map.Entry<String, Map<Long, Long>> sink : held.entrySet()) {
            for (Map.Entry<Long, Long> e : sink.getValue().entrySet()) {
                heldEntries.add(sink.getKey() + "\t" + topics.get((int) (e.getKey() >>> 32)) + "\t"
                        + (int) (long) e.getKey() + "\t" + e.getValue());
            }
        }
        heldState.update(heldEntries);
        journal.write(context.getCheckpointId(), restored, byTopic(covered), heldByTopic());
    }

    private Map<String, Map<Integer, Long>> byTopic(Map<Long, Long> offsets) {
        Map<String, Map<Integer, Long>> out = new TreeMap<>();
        for (Map.Entry<Long, Long> e : offsets.entrySet()) {
            out.computeIfAbsent(topics.get((int) (e.getKey() >>> 32)), t -> new TreeMap<>())
                    .put((int) (long) e.getKey(), e.getValue());
        }
        return out;
    }

    private Map<String, Map<String, Map<Integer, Long>>> heldByTopic() {
        Map<String, Map<String, Map<Integer, Long>>> out = new TreeMap<>();
        for (Map.Entry<String, Map<Long, Long>> sink : held.entrySet()) {
            out.put(sink.getKey(), byTopic(sink.getValue()));
        }
        return out;
    }

    @Override
    public void processElement(StreamRecord<byte[]> element) {
        byte[] record = element.getValue();
        if (covered != null) { // the encoding's u16 topic index, i32 partition, i64 offset (InputRecordSchema)
            int topic = ((record[0] & 0xff) << 8) | (record[1] & 0xff);
            int partition = (int) read(record, 2, 4);
            long offset = read(record, 6, 8);
            covered.merge(key(topic, partition), offset, Math::max);
        }
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

    /** {@code length} big-endian bytes of {@code bytes} from {@code at} (ByteWriter writes big-endian). */
    private static long read(byte[] bytes, int at, int length) {
        long value = 0;
        for (int i = 0; i < length; i++) {
            value = (value << 8) | (bytes[at + i] & 0xff);
        }
        return length == 4 ? (int) value : value;
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
