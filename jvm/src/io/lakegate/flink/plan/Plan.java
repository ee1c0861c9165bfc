package io.lakegate.flink.plan;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The ingest job's plan (docs/hotpath.md, "The plan"): built by Python (jobs/plan.py) from the settings, the
 * contracts and the tables' layouts, parsed here once when the job graph is built, and carried (serialized
 * with the operators) to the tasks. Indexes in the batches refer to its lists. Unknown or missing fields are
 * errors: the two halves of the job must agree on every one.
 */
public record Plan(
        int format,
        String jobName,
        Batch batch,
        long minibatchMs,
        Kafka kafka,
        Catalog catalog,
        List<String> topics,
        List<Contract> contracts,
        Quarantine quarantine,
        List<Model> models,
        Resume resume) implements Serializable {

    public static final int FORMAT = 1;

    public record Batch(int maxRecords, int maxBytes, long maxDelayMs) implements Serializable {}

    public record Kafka(
            Map<String, String> properties,
            String groupId,
            String startup,
            List<StartOffset> startOffsets,
            boolean bounded,
            String deadLetterTopic,
            String transactionalIdPrefix,
            long transactionTimeoutMs) implements Serializable {}

    public record StartOffset(String topic, int partition, long offset) implements Serializable {}

    /** Offsets of one partition as sorted, disjoint inclusive ranges: {@code bounds} is first, last, first, ... */
    public record OffsetRanges(String topic, int partition, List<Long> bounds) implements Serializable {}

    /**
     * What a start knows from the lake (docs/resume.md): {@code journal} is the folder where pack records, per
     * checkpoint, the offsets it covers; {@code covered} what a fresh start covers per partition (one before
     * its first offset; empty when the job restores a checkpoint); {@code held}, per sink uid, the highest
     * offset per partition the sink already holds (it drops records at or below it); {@code audited} the
     * offsets in the audit tables above the lowest held ones and {@code duplicates} the quarantine table's
     * duplicates there (dedupe's decisions there are the lake's); {@code deadLetter} the offsets already in the
     * dead-letter topic above them; {@code modelState} the file of read-model state rebuilt from the model
     * tables ("": none).
     */
    public record Resume(
            String journal,
            List<StartOffset> covered,
            Map<String, List<StartOffset>> held,
            List<OffsetRanges> audited,
            List<OffsetRanges> duplicates,
            List<OffsetRanges> deadLetter,
            String modelState) implements Serializable {}

    public record Catalog(String name, String impl, Map<String, String> properties) implements Serializable {}

    /** A table column: name, a udfs ColumnKind value ("string", "timestamp_ms", ...), nullability. */
    public record Column(String name, String kind, boolean nullable) implements Serializable {}

    /** A reader-schema field: its Avro base type, where "null" sits in its union (-1: no union), its enum
     * symbols (empty unless "enum") and its position in the audit table. */
    public record Field(String name, String avro, int nullBranch, List<String> symbols, int column)
            implements Serializable {}

    public record Contract(
            String name,
            int topicIndex,
            String producerTeam,
            long dedupeWindowMs,
            String eventIdField,
            String duplicateMessage,
            String auditTable,
            List<Column> tableColumns,
            List<Field> fields,
            Map<String, Integer> envelope) implements Serializable {}

    public record Quarantine(String table, List<Column> tableColumns, List<Column> encodedColumns)
            implements Serializable {}

    /** A model table column and where its value comes from (docs/hotpath.md): {@code source} is "field",
     * "treated", "window_start", "measure" or an lg_ change column; {@code field}, {@code treated} and
     * {@code measure} are indexes (-1 where they do not apply). */
    public record ModelColumn(String name, String kind, String source, int field, int treated, int measure)
            implements Serializable {}

    public record Window(long sizeMs, long allowedLatenessMs) implements Serializable {}

    /** A measure: fn is count, sum, min, max or latest; field and treated are indexes (-1: none); kind is
     * the model column's kind. */
    public record Measure(String name, String fn, int field, int treated, String kind) implements Serializable {}

    /** A read model: {@code columns} in table order; {@code key} the positions (in {@code columns}) of the
     * columns that identify a row (current: the key fields; aggregate: group_by, then window_start), the only
     * values a delete row holds; {@code json} the positions of the changelog JSON's fields, in order;
     * {@code window} null when the model has none. */
    public record Model(
            String name,
            String kind,
            int contractIndex,
            String table,
            String changelogTopic,
            List<Column> tableColumns,
            List<String> treated,
            List<ModelColumn> columns,
            List<Integer> key,
            List<Integer> json,
            Window window,
            List<Measure> measures) implements Serializable {

        public boolean isCurrent() {
            return "current".equals(kind);
        }
    }

    /** Parses the plan's JSON text; IllegalArgumentException naming the first missing or unknown field. */
    public static Plan parse(String json) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("the plan is not valid JSON: " + e.getMessage(), e);
        }
        Node plan = new Node(root, "plan");
        plan.only("format", "job_name", "batch", "minibatch_ms", "kafka", "catalog", "topics", "contracts",
                "quarantine", "models", "resume");
        int format = plan.integer("format");
        if (format != FORMAT) {
            throw new IllegalArgumentException("plan format " + format + ", this jar reads " + FORMAT);
        }
        Node batch = plan.object("batch");
        batch.only("max_records", "max_bytes", "max_delay_ms");
        Node kafka = plan.object("kafka");
        kafka.only("properties", "group_id", "startup", "start_offsets", "bounded", "dead_letter_topic",
                "transactional_id_prefix", "transaction_timeout_ms");
        Node catalog = plan.object("catalog");
        catalog.only("name", "impl", "properties");
        Node quarantine = plan.object("quarantine");
        quarantine.only("table", "table_columns", "encoded_columns");
        return new Plan(
                format,
                plan.text("job_name"),
                new Batch(batch.integer("max_records"), batch.integer("max_bytes"), batch.number("max_delay_ms")),
                plan.number("minibatch_ms"),
                new Kafka(
                        kafka.strings("properties"),
                        kafka.text("group_id"),
                        kafka.text("startup"),
                        kafka.list("start_offsets", Plan::offset),
                        kafka.bool("bounded"),
                        kafka.text("dead_letter_topic"),
                        kafka.text("transactional_id_prefix"),
                        kafka.number("transaction_timeout_ms")),
                new Catalog(catalog.text("name"), catalog.text("impl"), catalog.strings("properties")),
                plan.list("topics", n -> n.self()),
                plan.list("contracts", Plan::contract),
                new Quarantine(quarantine.text("table"), quarantine.list("table_columns", Plan::column),
                        quarantine.list("encoded_columns", Plan::column)),
                plan.list("models", Plan::model),
                resume(plan.object("resume")));
    }

    private static StartOffset offset(Node n) {
        n.only("topic", "partition", "offset");
        return new StartOffset(n.text("topic"), n.integer("partition"), n.number("offset"));
    }

    private static OffsetRanges ranges(Node n) {
        n.only("topic", "partition", "bounds");
        List<Long> bounds = n.list("bounds", b -> {
            if (!b.node.isIntegralNumber() || !b.node.canConvertToLong()) {
                throw new IllegalArgumentException(b.path + " must be an integer");
            }
            return b.node.asLong();
        });
        for (int i = 1; i < bounds.size(); i++) {
            if (bounds.get(i) < bounds.get(i - 1) + (i % 2 == 1 ? 0 : 1)) {
                throw new IllegalArgumentException(n.path + ".bounds must be sorted, disjoint [first, last] pairs");
            }
        }
        if (bounds.size() % 2 != 0) {
            throw new IllegalArgumentException(n.path + ".bounds must hold [first, last] pairs");
        }
        return new OffsetRanges(n.text("topic"), n.integer("partition"), bounds);
    }

    private static Resume resume(Node n) {
        n.only("journal", "covered", "held", "audited", "duplicates", "dead_letter", "model_state");
        Node held = n.object("held");
        Map<String, List<StartOffset>> sinks = new LinkedHashMap<>();
        held.node.fieldNames().forEachRemaining(sink -> sinks.put(sink, held.list(sink, Plan::offset)));
        return new Resume(
                n.text("journal"),
                n.list("covered", Plan::offset),
                Collections.unmodifiableMap(sinks),
                n.list("audited", Plan::ranges),
                n.list("duplicates", Plan::ranges),
                n.list("dead_letter", Plan::ranges),
                n.text("model_state"));
    }

    private static Column column(Node n) {
        n.only("name", "kind", "nullable");
        return new Column(n.text("name"), n.text("kind"), n.bool("nullable"));
    }

    private static Contract contract(Node n) {
        n.only("name", "topic_index", "producer_team", "dedupe_window_ms", "event_id_field", "duplicate_message",
                "audit_table", "table_columns", "fields", "envelope");
        Node envelope = n.object("envelope");
        Map<String, Integer> positions = new LinkedHashMap<>();
        envelope.node.fieldNames().forEachRemaining(name -> positions.put(name, envelope.integer(name)));
        return new Contract(
                n.text("name"),
                n.integer("topic_index"),
                n.text("producer_team"),
                n.number("dedupe_window_ms"),
                n.text("event_id_field"),
                n.text("duplicate_message"),
                n.text("audit_table"),
                n.list("table_columns", Plan::column),
                n.list("fields", f -> {
                    f.only("name", "avro", "null_branch", "symbols", "column");
                    return new Field(f.text("name"), f.text("avro"), f.optionalInteger("null_branch"),
                            f.isNull("symbols") ? List.of() : f.list("symbols", Node::self), f.integer("column"));
                }),
                Collections.unmodifiableMap(positions));
    }

    private static Model model(Node n) {
        n.only("name", "kind", "contract_index", "table", "changelog_topic", "table_columns", "treated", "columns",
                "key", "json", "window", "measures");
        Window window = null;
        if (!n.isNull("window")) {
            Node w = n.object("window");
            w.only("size_ms", "allowed_lateness_ms");
            window = new Window(w.number("size_ms"), w.number("allowed_lateness_ms"));
        }
        return new Model(
                n.text("name"),
                n.text("kind"),
                n.integer("contract_index"),
                n.text("table"),
                n.text("changelog_topic"),
                n.list("table_columns", Plan::column),
                n.list("treated", Node::self),
                n.list("columns", c -> {
                    c.only("name", "kind", "source", "field", "treated", "measure");
                    return new ModelColumn(c.text("name"), c.text("kind"), c.text("source"),
                            c.optionalInteger("field"), c.optionalInteger("treated"), c.optionalInteger("measure"));
                }),
                n.list("key", Plan::index),
                n.list("json", Plan::index),
                window,
                n.list("measures", m -> {
                    m.only("name", "fn", "field", "treated", "kind");
                    return new Measure(m.text("name"), m.text("fn"), m.optionalInteger("field"),
                            m.optionalInteger("treated"), m.text("kind"));
                }));
    }

    /** A position in a list of the plan (e.g. a model column), checked to be a non-negative integer. */
    private static Integer index(Node n) {
        if (!n.node.isIntegralNumber() || !n.node.canConvertToInt() || n.node.asInt() < 0) {
            throw new IllegalArgumentException(n.path + " must be a non-negative integer");
        }
        return n.node.asInt();
    }

    /** A JSON node with its path, for errors that say where. */
    private record Node(JsonNode node, String path) {

        void only(String... names) {
            if (!node.isObject()) {
                throw new IllegalArgumentException(path + " must be an object");
            }
            List<String> allowed = List.of(names);
            node.fieldNames().forEachRemaining(name -> {
                if (!allowed.contains(name)) {
                    throw new IllegalArgumentException(path + ": unknown field '" + name + "'");
                }
            });
            for (String name : names) {
                if (!node.has(name)) {
                    throw new IllegalArgumentException(path + ": missing field '" + name + "'");
                }
            }
        }

        JsonNode get(String name) {
            JsonNode value = node.get(name);
            if (value == null) {
                throw new IllegalArgumentException(path + ": missing field '" + name + "'");
            }
            return value;
        }

        boolean isNull(String name) {
            return get(name).isNull();
        }

        Node object(String name) {
            JsonNode value = get(name);
            if (!value.isObject()) {
                throw new IllegalArgumentException(path + "." + name + " must be an object");
            }
            return new Node(value, path + "." + name);
        }

        String text(String name) {
            JsonNode value = get(name);
            if (!value.isTextual()) {
                throw new IllegalArgumentException(path + "." + name + " must be a string");
            }
            return value.asText();
        }

        String self() {
            if (!node.isTextual()) {
                throw new IllegalArgumentException(path + " must be a string");
            }
            return node.asText();
        }

        long number(String name) {
            JsonNode value = get(name);
            if (!value.canConvertToLong() || !value.isIntegralNumber()) {
                throw new IllegalArgumentException(path + "." + name + " must be an integer");
            }
            return value.asLong();
        }

        int integer(String name) {
            long value = number(name);
            if (value != (int) value) {
                throw new IllegalArgumentException(path + "." + name + " is out of range: " + value);
            }
            return (int) value;
        }

        /** An integer, or -1 for JSON null. */
        int optionalInteger(String name) {
            return isNull(name) ? -1 : integer(name);
        }

        boolean bool(String name) {
            JsonNode value = get(name);
            if (!value.isBoolean()) {
                throw new IllegalArgumentException(path + "." + name + " must be true or false");
            }
            return value.asBoolean();
        }

        Map<String, String> strings(String name) {
            Node object = object(name);
            Map<String, String> out = new LinkedHashMap<>();
            object.node.fieldNames().forEachRemaining(key -> out.put(key, object.text(key)));
            return Collections.unmodifiableMap(out);
        }

        <T> List<T> list(String name, java.util.function.Function<Node, T> each) {
            JsonNode value = get(name);
            if (!value.isArray()) {
                throw new IllegalArgumentException(path + "." + name + " must be an array");
            }
            List<T> out = new ArrayList<>();
            for (int i = 0; i < value.size(); i++) {
                out.add(each.apply(new Node(value.get(i), path + "." + name + "[" + i + "]")));
            }
            return Collections.unmodifiableList(out);
        }
    }
}
