package io.lakegate.flink.ingest;

import io.lakegate.flink.models.ReadModelGraph;
import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ReaderBody;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.transformations.PhysicalTransformation;
import org.apache.flink.table.data.RowData;

/**
 * The JVM half of the ingest job (docs/hotpath.md), in two pieces around the Python route, called from
 * Python through py4j with the plan's JSON text (jobs/plan.py):
 *
 * <pre>
 * source(env, plan)  Kafka source → pack                                 → input batches (byte[])
 *                    (Python: route, one call per batch                  → result batches (byte[]))
 * sinks(routed, plan) unpack → keyBy(contract, event id) → dedupe
 *                       ├─ audit rows per contract      → Iceberg audit table
 *                       ├─ model events → read models   → model tables (Iceberg) + changelog topics (Kafka)
 *                       └─ quarantine (route's, corrupt bodies, duplicates)
 *                                                       → quarantine table (Iceberg) + dead-letter topic (Kafka)
 * </pre>
 *
 * <p>Operator uids (the savepoint contract: a job restored from a savepoint finds its state by them; change
 * one and that state is dropped): {@value #SOURCE}, {@value #PACK}, {@value #UNPACK}, {@value #DEDUPE}
 * (keyed state {@code seen-event-ids-<contract>}), {@code audit-<contract>} (Iceberg sink, per contract),
 * {@value #QUARANTINE_ROWS} and {@value #QUARANTINE_TABLE} (Iceberg sink), {@value #DEAD_LETTER} (Kafka sink),
 * {@code model-<model>} (Iceberg sink, per model), {@value #CHANGELOG} (Kafka sink), and the stateless filters
 * {@value #QUARANTINE_NEW} and {@value #DEAD_LETTER_NEW}. The Iceberg sinks derive
 * their internal operators' uids from theirs; the read models name their own operators.
 *
 * <p>Exactly-once: the source's offsets are checkpointed; pack flushes before every checkpoint barrier, so
 * the barrier follows all results of the records before it through route, unpack and dedupe (chained or
 * keyed, never buffered across it); every sink commits on checkpoint completion (see {@link Sinks}). A start
 * without a checkpoint re-reads from the lowest offset any sink holds, and each sink drops what it already
 * holds (plan.resume, docs/resume.md): pack journals each checkpoint's offsets, dedupe drops held audit rows
 * and model events, {@link NotHeld} held quarantine elements.
 */
public final class IngestGraph {

    public static final String SOURCE = "kafka-source";
    public static final String PACK = "pack";
    public static final String UNPACK = "unpack";
    public static final String DEDUPE = "dedupe";
    public static final String QUARANTINE_ROWS = "quarantine-rows";
    public static final String QUARANTINE_TABLE = "quarantine-table";
    public static final String DEAD_LETTER = "dead-letter";
    public static final String CHANGELOG = "changelog";
    /** The filters that drop what the quarantine table and the dead-letter topic already hold (resume). */
    public static final String QUARANTINE_NEW = "quarantine-table-new";
    public static final String DEAD_LETTER_NEW = "dead-letter-new";

    private static final TypeInformation<byte[]> BYTES = PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;

    private IngestGraph() {}

    /** The uid (and Iceberg uid suffix) of {@code contract}'s audit table sink. */
    public static String auditUid(Plan.Contract contract) {
        return "audit-" + contract.name();
    }

    /** The uid (and Iceberg uid suffix) of {@code model}'s table sink. */
    public static String modelUid(Plan.Model model) {
        return "model-" + model.name();
    }

    /** The Kafka source of every plan topic, and pack chained to it: a stream of input batches. */
    public static DataStream<byte[]> source(StreamExecutionEnvironment env, String planJson) {
        Plan plan = Plan.parse(planJson);
        DataStream<byte[]> records = env
                .fromSource(IngestSource.of(plan), WatermarkStrategy.noWatermarks(), SOURCE)
                .uid(SOURCE);
        SingleOutputStreamOperator<byte[]> batches = records.transform(PACK, BYTES, new PackOperator(plan));
        // Chained to the source: a record crosses no serializer before it is in a batch.
        ((PhysicalTransformation<byte[]>) batches.getTransformation()).setChainingStrategy(ChainingStrategy.ALWAYS);
        return batches.uid(PACK);
    }

    static java.util.List<String> contractNames(Plan plan) {
        return plan.contracts().stream().map(Plan.Contract::name).toList();
    }

    /** Everything after the route: unpack, dedupe, the read models and every sink, from its result batches. */
    public static void sinks(DataStream<byte[]> routed, String planJson) {
        Plan plan = Plan.parse(planJson);
        QuarantineLayout layout = new QuarantineLayout(plan.quarantine());
        for (Plan.Contract contract : plan.contracts()) { // fail here, while building, not in every task
            ReaderBody.of(contract);
            new AuditRows(contract, plan.topics());
        }
        // unpack and dedupe hand records to other tasks: their network buffers leave (full or not) after at most
        // the batch delay, as pack's batches do, instead of Flink's 100 ms.
        long handOverMs = plan.batch().maxDelayMs();
        SingleOutputStreamOperator<byte[]> segments = routed
                .process(new UnpackFunction(plan, layout), BYTES)
                .name(UNPACK)
                .uid(UNPACK)
                .setBufferTimeout(handOverMs);
        SingleOutputStreamOperator<RowData> duplicates = segments
                .keyBy(new SegmentKey(contractNames(plan)), Types.STRING)
                .process(new DedupeFunction(plan, layout), layout.typeInfo())
                .name(DEDUPE)
                .uid(DEDUPE)
                .setBufferTimeout(handOverMs);
        for (Plan.Contract contract : plan.contracts()) {
            Sinks.iceberg(duplicates.getSideOutput(DedupeFunction.auditTag(contract)), plan.catalog(),
                    contract.auditTable(), auditUid(contract));
        }
        quarantine(plan, layout, segments.getSideOutput(UnpackFunction.quarantineTag(layout)).union(duplicates));
        if (!plan.models().isEmpty()) {
            readModels(plan, duplicates.getSideOutput(DedupeFunction.MODEL_EVENTS));
        }
    }

    private static void quarantine(Plan plan, QuarantineLayout layout, DataStream<RowData> elements) {
        elements.filter(NotHeld.deadLetter(plan, layout))
                .name(DEAD_LETTER_NEW)
                .uid(DEAD_LETTER_NEW)
                .sinkTo(Sinks.kafka(plan.kafka(), "dlq",
                        new DeadLetterSerializer(plan.kafka().deadLetterTopic(), layout)))
                .name(DEAD_LETTER)
                .uid(DEAD_LETTER);
        DataStream<RowData> rows = elements
                .filter(NotHeld.table(plan, QUARANTINE_TABLE, layout))
                .name(QUARANTINE_NEW)
                .uid(QUARANTINE_NEW)
                .map(layout.tableProjection(), ColumnTypes.typeInfo(layout.tableColumns()))
                .name(QUARANTINE_ROWS)
                .uid(QUARANTINE_ROWS);
        Sinks.iceberg(rows, plan.catalog(), plan.quarantine().table(), QUARANTINE_TABLE);
    }

    private static void readModels(Plan plan, DataStream<byte[]> events) {
        var models = ReadModelGraph.attach(events, plan);
        for (Plan.Model model : plan.models()) {
            DataStream<RowData> rows = models.tables().get(model.name());
            if (rows == null) {
                throw new IllegalStateException("the read models give no rows for model " + model.name());
            }
            // Not chained to read_models: the writer's file work at each checkpoint (closing this interval's
            // Parquet files, opening the next) runs on its own thread, so it never delays the changelog.
            Sinks.iceberg(rows, plan.catalog(), model.table(), modelUid(model)).disableChaining();
        }
        models.changelog()
                .sinkTo(Sinks.kafka(plan.kafka(), "changelog", new ChangelogSerializer(plan.models())))
                .name(CHANGELOG)
                .uid(CHANGELOG);
    }
}
