package io.lakegate.flink.models.probe;

import io.lakegate.flink.models.ChangeCounters;
import io.lakegate.flink.models.ModelEventKey;
import io.lakegate.flink.models.ModelSpec;
import io.lakegate.flink.models.ReadModelGraph;
import io.lakegate.flink.models.ReadModelOutputs;
import io.lakegate.flink.models.ReadModels;
import io.lakegate.flink.metrics.LabelledCounters;
import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ByteReader;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.GenericRowData;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Test driver for io.lakegate.flink.models from Python (tests/job/test_jvm_readmodels.py): replays model
 * events through {@link ReadModels} with in-memory keyed state, or runs them through
 * {@link ReadModelGraph#attach} on a MiniCluster, and answers with one JSON text, so a whole sequence costs
 * one Py4J call. Rows are rendered with their Java types: {@code ["long", "42"]}, {@code ["string", "x"]}.
 */
public final class ModelProbe {

    private ModelProbe() {}

    /**
     * Applies {@code events} (each an i32 length and a model event) in order; flushes after event i when
     * {@code flushAfter[i] != 0}, and after the last. Answers {"changes": [...], "counters": {...},
     * "pending_after": [...]} where pending_after[i] is the number of pending changes after event i.
     */
    public static String replay(String planJson, byte[] events, byte[] flushAfter) throws Exception {
        Plan plan = Plan.parse(planJson);
        ReadModels models = new ReadModels(plan);
        ModelEventKey keys = new ModelEventKey(plan);
        Map<Object, byte[]> store = new HashMap<>();
        Object[] current = new Object[1];
        ReadModels.KeyedBytes keyed = new ReadModels.KeyedBytes() {
            @Override
            public byte[] value() {
                return store.get(current[0]);
            }

            @Override
            public void update(byte[] value) {
                store.put(current[0], value);
            }
        };
        Map<String, Counter> recorded = new TreeMap<>();
        String[] names = plan.models().stream().map(Plan.Model::name).toArray(String[]::new);
        ChangeCounters counters = new ChangeCounters(new LabelledCounters(new Recording("", recorded)), names);
        StringBuilder changes = new StringBuilder("[");
        ReadModels.ChangeSink sink = (model, delete, row, element) -> {
            if (changes.length() > 1) {
                changes.append(',');
            }
            changes.append(change(model, delete, row, element));
            counters.count(model.index(), delete);
        };
        List<Integer> pendingAfter = new ArrayList<>();
        List<byte[]> list = split(events);
        for (int i = 0; i < list.size(); i++) {
            current[0] = keys.getKey(list.get(i));
            models.apply(list.get(i), current[0], keyed);
            pendingAfter.add(models.pending());
            if (i == list.size() - 1 || flushAfter[i] != 0) {
                models.flush(sink);
            }
        }
        StringBuilder out = new StringBuilder("{\"changes\":").append(changes).append("],\"counters\":{");
        boolean first = true;
        for (Map.Entry<String, Counter> e : recorded.entrySet()) {
            out.append(first ? "" : ",").append(quote(e.getKey())).append(':').append(e.getValue().getCount());
            first = false;
        }
        out.append("},\"pending_after\":").append(pendingAfter).append(",\"state_bytes\":{");
        first = true;
        for (Map.Entry<Object, byte[]> e : store.entrySet()) {
            out.append(first ? "" : ",").append(quote(e.getKey().toString())).append(':').append(e.getValue().length);
            first = false;
        }
        return out.append("}}").toString();
    }

    /**
     * Runs {@code events} through {@link ReadModelGraph#attach} on a local MiniCluster: a source of the events,
     * a map pausing {@code pauseMs} per event, the read models at {@code parallelism}; checkpoints every
     * {@code checkpointMs} (0: none). Answers a JSON array of the collected outputs: {"table": name, "row":
     * [...]} and {"changelog": {...}}.
     */
    public static String runJob(String planJson, byte[] events, String[] jars, long checkpointMs, long pauseMs,
            int parallelism) throws Exception {
        Plan plan = Plan.parse(planJson);
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.JARS, Arrays.asList(jars));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
        if (checkpointMs > 0) {
            env.enableCheckpointing(checkpointMs);
        }
        DataStream<byte[]> source = env.fromData(split(events), PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO)
                .setParallelism(1)
                .map(new Pause(pauseMs))
                .returns(PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO)
                .setParallelism(1);
        ReadModelOutputs outputs = ReadModelGraph.attach(source, plan);
        DataStream<String> all = outputs.changelog().map(new ChangelogText()).returns(Types.STRING);
        for (Plan.Model model : plan.models()) {
            all = all.union(outputs.tables().get(model.name()).map(new RowText(model.name())).returns(Types.STRING));
        }
        List<String> collected = new ArrayList<>();
        try (var iterator = all.executeAndCollect("read-model-probe")) {
            iterator.forEachRemaining(collected::add);
        }
        return "[" + String.join(",", collected) + "]";
    }

    static List<byte[]> split(byte[] events) {
        List<byte[]> out = new ArrayList<>();
        ByteReader in = new ByteReader(events);
        while (!in.atEnd()) {
            out.add(in.nullableBytes());
        }
        return out;
    }

    static String change(ModelSpec model, boolean delete, GenericRowData row, byte[] element) {
        return "{\"model\":" + quote(model.name()) + ",\"delete\":" + delete + ",\"row\":" + row(row)
                + ",\"changelog\":" + changelog(element) + "}";
    }

    static String changelog(byte[] element) {
        ByteReader in = new ByteReader(element);
        int model = in.u16();
        byte[] key = in.nullableBytes();
        byte[] value = in.nullableBytes();
        if (!in.atEnd()) {
            throw new IllegalStateException("bytes left after a changelog element");
        }
        return "{\"model_index\":" + model + ",\"key\":" + text(key) + ",\"value\":" + text(value) + "}";
    }

    private static String text(byte[] utf8) {
        return utf8 == null ? "null" : quote(new String(utf8, StandardCharsets.UTF_8));
    }

    static String row(RowData row) {
        GenericRowData generic = (GenericRowData) row;
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < generic.getArity(); i++) {
            out.append(i == 0 ? "" : ",").append(field(generic.getField(i)));
        }
        return out.append(']').toString();
    }

    private static String field(Object value) {
        if (value == null) {
            return "null";
        }
        String type;
        String text;
        if (value instanceof StringData) {
            type = "string";
            text = value.toString();
        } else if (value instanceof TimestampData) {
            TimestampData t = (TimestampData) value;
            type = t.getNanoOfMillisecond() == 0 ? "timestamp" : "timestamp-with-nanos";
            text = Long.toString(t.getMillisecond());
        } else if (value instanceof byte[]) {
            type = "bytes";
            text = Base64.getEncoder().encodeToString((byte[]) value);
        } else if (value instanceof Float) {
            type = "float";
            text = Double.toString((Float) value);
        } else {
            type = value.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT); // integer, long, double, boolean
            text = value.toString();
        }
        return "[" + quote(type) + "," + quote(text) + "]";
    }

    static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    /** Pauses before passing each event on: spreads the input over time, so timers and checkpoints interleave. */
    public static final class Pause implements MapFunction<byte[], byte[]> {
        private static final long serialVersionUID = 1L;
        private final long millis;

        public Pause(long millis) {
            this.millis = millis;
        }

        @Override
        public byte[] map(byte[] value) throws InterruptedException {
            if (millis > 0) {
                Thread.sleep(millis);
            }
            return value;
        }
    }

    /** A changelog element as {"changelog": {...}}. */
    public static final class ChangelogText implements MapFunction<byte[], String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String map(byte[] element) {
            return "{\"changelog\":" + changelog(element) + "}";
        }
    }

    /** A model table row as {"table": name, "row": [...]}. */
    public static final class RowText implements MapFunction<RowData, String> {
        private static final long serialVersionUID = 1L;
        private final String model;

        public RowText(String model) {
            this.model = model;
        }

        @Override
        public String map(RowData row) {
            return "{\"table\":" + quote(model) + ",\"row\":" + row(row) + "}";
        }
    }

    /** A metric group that records its counters by their scope path ("lakegate.model=x.op=upsert.changes"). */
    static final class Recording extends UnregisteredMetricsGroup {
        private final String path;
        private final Map<String, Counter> counters;

        Recording(String path, Map<String, Counter> counters) {
            this.path = path;
            this.counters = counters;
        }

        @Override
        public MetricGroup addGroup(String name) {
            return new Recording(path.isEmpty() ? name : path + "." + name, counters);
        }

        @Override
        public MetricGroup addGroup(String key, String value) {
            return addGroup(key + "=" + value);
        }

        @Override
        public Counter counter(String name) {
            Counter counter = new SimpleCounter();
            counters.put(path + "." + name, counter);
            return counter;
        }

        @Override
        public <C extends Counter> C counter(String name, C counter) {
            counters.put(path + "." + name, counter);
            return counter;
        }
    }
}
