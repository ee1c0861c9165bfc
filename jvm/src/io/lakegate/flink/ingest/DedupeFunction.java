package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.resume.Held;
import io.lakegate.flink.resume.OffsetSet;
import io.lakegate.flink.wire.ByteReader;
import io.lakegate.flink.wire.ReaderBody;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Drops repeats of an event id within its contract's dedupe window, and turns every first occurrence into
 * its audit row and model events. Keyed by {@link SegmentKey} (contract name and event id).
 *
 * <p>A contract with {@code dedupe_window_ms > 0} keeps one {@code ValueState<Boolean>} per key
 * ({@link #seenIds}), with the window as a processing-time TTL counted from the first acceptance: a duplicate
 * never writes the state, so never extends it, and an expired id is never returned. A repeat becomes a
 * {@code duplicate_event_id} quarantine element on the main output (what {@code udfs.router.duplicate}
 * builds); a first occurrence (or any record of a contract without dedupe) marks its id as seen and goes to
 * the contract's audit side output ({@link #auditTag}) as a row of the audit table, and its model events to
 * {@link #MODEL_EVENTS}. Only valid records reach this operator, so only they ever mark an id as seen.
 *
 * <p>After a start without a checkpoint (docs/resume.md) the lake's decisions stand for what it holds: a
 * record the quarantine table holds as a duplicate ({@code plan.resume.duplicates}) is a duplicate again; a
 * record its contract's audit table holds the offset of was audited if the table holds it ({@code
 * plan.resume.audited}), and then marks its id as seen and sends only the model events the models do not
 * hold yet, and was a duplicate otherwise. Duplicates go to the quarantine sinks, which drop what they hold.
 */
public final class DedupeFunction extends KeyedProcessFunction<String, byte[], RowData> {

    private static final long serialVersionUID = 1L;

    /** The model events (docs/hotpath.md, "Model event") for the read models. */
    public static final OutputTag<byte[]> MODEL_EVENTS =
            new OutputTag<>("model-events", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);

    private final Plan plan;
    private final QuarantineLayout layout;

    private transient List<ValueState<Boolean>> seen;
    private transient List<OutputTag<RowData>> audit;
    private transient ReaderBody[] bodies;
    private transient AuditRows[] rows;
    private transient ModelEvents modelEvents;
    private transient ValidSegment segment;
    private transient OutcomeCounters counters;
    private transient Held[] auditHeld;
    private transient Held[] modelHeld;
    private transient OffsetSet audited;
    private transient OffsetSet duplicates;

    public DedupeFunction(Plan plan, QuarantineLayout layout) {
        this.plan = plan;
        this.layout = layout;
    }

    /** The side output of {@code contract}'s audit rows (rows of its audit table, in the table's order). */
    public static OutputTag<RowData> auditTag(Plan.Contract contract) {
        return new OutputTag<>("audit-" + contract.name(), ColumnTypes.typeInfo(contract.tableColumns()));
    }

    /** The state of event ids {@code contract} accepted, each forgotten its dedupe window after acceptance. */
    public static ValueStateDescriptor<Boolean> seenIds(Plan.Contract contract) {
        StateTtlConfig ttl = StateTtlConfig.newBuilder(Duration.ofMillis(contract.dedupeWindowMs()))
                .updateTtlOnCreateAndWrite()
                .neverReturnExpired()
                // Heap backend: each state access also checks one other entry and drops it if expired. A record
                // adds at most one id, so one check per access keeps the state within about two windows of ids;
                // checking more per access costs more than deduplicating the record. RocksDB keeps its
                // compaction filter.
                .cleanupIncrementally(1, false)
                .build();
        ValueStateDescriptor<Boolean> descriptor =
                new ValueStateDescriptor<>("seen-event-ids-" + contract.name(), Types.BOOLEAN);
        descriptor.enableTimeToLive(ttl);
        return descriptor;
    }

    @Override
    public void open(OpenContext context) {
        seen = new ArrayList<>();
        audit = new ArrayList<>();
        for (Plan.Contract contract : plan.contracts()) {
            seen.add(contract.dedupeWindowMs() > 0 ? getRuntimeContext().getState(seenIds(contract)) : null);
            audit.add(auditTag(contract));
        }
        bodies = plan.contracts().stream().map(ReaderBody::of).toArray(ReaderBody[]::new);
        rows = plan.contracts().stream().map(c -> new AuditRows(c, plan.topics())).toArray(AuditRows[]::new);
        modelEvents = new ModelEvents();
        segment = new ValidSegment();
        counters = new OutcomeCounters(getRuntimeContext().getMetricGroup(), plan);
        auditHeld = plan.contracts().stream().map(c -> Held.of(plan, IngestGraph.auditUid(c))).toArray(Held[]::new);
        modelHeld = plan.models().stream().map(m -> Held.of(plan, IngestGraph.modelUid(m))).toArray(Held[]::new);
        audited = new OffsetSet(plan.resume().audited());
        duplicates = new OffsetSet(plan.resume().duplicates());
    }

    @Override
    public void processElement(byte[] bytes, Context ctx, Collector<RowData> out) throws IOException {
        try {
            segment.read(new ByteReader(bytes), plan);
        } catch (IllegalArgumentException e) {
            throw new MalformedBatchException("segment of " + bytes.length + " bytes: " + e.getMessage(), e);
        }
        ValueState<Boolean> ids = seen.get(segment.contract);
        if (!duplicates.isEmpty()
                && duplicates.contains(plan.topics().get(segment.topic), segment.partition, segment.offset)) {
            out.collect(layout.element(QuarantineRecord.duplicate(plan, segment, System.currentTimeMillis())));
            return;
        }
        if (auditHeld[segment.contract].holds(segment.topic, segment.partition, segment.offset)) {
            decided(ids, ctx, out);
            return;
        }
        if (ids != null) {
            if (ids.value() != null) {
                out.collect(layout.element(
                        QuarantineRecord.duplicate(plan, segment, System.currentTimeMillis())));
                counters.record(segment, Outcome.DEDUPLICATED);
                counters.quarantined(segment.contract, QuarantineRecord.DUPLICATE_EVENT_ID);
                return;
            }
            ids.update(Boolean.TRUE);
        }
        Object[] values;
        try {
            values = bodies[segment.contract].decode(segment.bytes, segment.bodyStart, segment.bodyLength);
        } catch (ReaderBody.CorruptBody e) {
            throw new IllegalStateException("a body unpack checked does not decode: " + e.getMessage(), e);
        }
        ctx.output(audit.get(segment.contract), rows[segment.contract].row(segment, values));
        modelEvents(ctx);
        counters.record(segment, Outcome.AUDITED);
    }

    /** A record whose audit table holds its offset: the lake's decision stands (see the class comment). */
    private void decided(ValueState<Boolean> ids, Context ctx, Collector<RowData> out) throws IOException {
        if (!audited.contains(plan.topics().get(segment.topic), segment.partition, segment.offset)) {
            out.collect(layout.element(QuarantineRecord.duplicate(plan, segment, System.currentTimeMillis())));
            return;
        }
        if (ids != null) {
            ids.update(Boolean.TRUE);
        }
        modelEvents(ctx);
    }

    /** The segment's model events, except those whose model holds the record already. */
    private void modelEvents(Context ctx) {
        modelEvents.write(segment, event -> {
            int model = ((event[0] & 0xff) << 8) | (event[1] & 0xff); // a model event starts with its u16 index
            if (!modelHeld[model].holds(segment.topic, segment.partition, segment.offset)) {
                ctx.output(MODEL_EVENTS, event);
            }
        });
    }
}
