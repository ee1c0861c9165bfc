package io.lakegate.flink.models;

import io.lakegate.flink.wire.ByteWriter;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;

import java.util.List;

/**
 * Turns a pending change into what leaves the operator: the model table's row (its columns in table order,
 * as Flink's internal data; a delete row holds only the key columns) and the changelog element
 * (docs/hotpath.md: u16 model index, the key text as the Kafka key, the change as JSON or null for a
 * delete), with the JSON of udfs.readmodels.change_json: the row's JSON fields in the plan's order, then
 * {@code _op}, {@code _version}, {@code _topic}, {@code _partition}, {@code _offset}.
 *
 * <p>One instance per operator: it reuses its buffers.
 */
public final class ChangeOutput {

    private static final StringData UPSERT = StringData.fromString("upsert");
    private static final StringData DELETE = StringData.fromString("delete");
    private static final byte[] OP = JsonWriter.fieldName("_op");
    private static final byte[] VERSION = JsonWriter.fieldName("_version");
    private static final byte[] TOPIC = JsonWriter.fieldName("_topic");
    private static final byte[] PARTITION = JsonWriter.fieldName("_partition");
    private static final byte[] OFFSET = JsonWriter.fieldName("_offset");

    private final StringData[] topics;
    private final JsonWriter json = new JsonWriter();
    private final ByteWriter changelog = new ByteWriter(256);

    /** @param topics the plan's topics, by topic index */
    public ChangeOutput(List<String> topics) {
        this.topics = topics.stream().map(StringData::fromString).toArray(StringData[]::new);
    }

    /** Every column's value in canonical form ({@link Values}), in table order. */
    public Object[] values(PendingChange change) {
        ModelSpec model = change.model();
        ModelEvent event = change.event();
        Object[] values = new Object[model.columnCount()];
        for (int i = 0; i < values.length; i++) {
            if (change.isDelete() && !model.isKey(i) && !model.source(i).changeColumn()) {
                continue; // a delete row holds the key only
            }
            values[i] = value(change, model, event, i);
        }
        return values;
    }

    private Object value(PendingChange change, ModelSpec model, ModelEvent event, int column) {
        int index = model.sourceIndex(column);
        switch (model.source(column)) {
            case FIELD: return Values.canonical(change.body()[index]);
            case TREATED: {
                int start = event.treatedStart(index);
                return start < 0 ? null : StringData.fromBytes(event.bytes(), start, event.treatedLength(index));
            }
            case WINDOW_START: return event.windowStart();
            case MEASURE: return change.measureValue(index);
            case LG_OP: return event.isDelete() ? DELETE : UPSERT;
            case LG_ORDER: return event.orderValue();
            case LG_PARTITION: return (long) event.partition();
            case LG_OFFSET: return event.offset();
            case LG_EVENT_TIME: return event.eventTime();
            case LG_TOPIC: return topics[event.topicIndex()];
            case LG_VERSION: return change.version();
            default: throw new IllegalStateException("unhandled column source " + model.source(column));
        }
    }

    /** The model table's row of {@code values} (from {@link #values}). */
    public GenericRowData row(PendingChange change, Object[] values) {
        ModelSpec model = change.model();
        GenericRowData row = new GenericRowData(values.length);
        for (int i = 0; i < values.length; i++) {
            row.setField(i, Values.column(values[i], model.kind(i), model.columnName(i)));
        }
        return row;
    }

    /** The changelog value: the change as JSON (UTF-8), or null for a delete (a Kafka tombstone). */
    public byte[] json(PendingChange change, Object[] values) {
        if (change.isDelete()) {
            return null;
        }
        ModelSpec model = change.model();
        ModelEvent event = change.event();
        int[] fields = model.json();
        byte[][] names = model.jsonNames();
        json.reset();
        json.beginObject();
        for (int i = 0; i < fields.length; i++) {
            json.name(names[i]).value(values[fields[i]], model.kind(fields[i]));
        }
        json.name(OP).value(UPSERT, ColumnKind.STRING);
        json.name(VERSION).number(change.version());
        json.name(TOPIC).value(topics[event.topicIndex()], ColumnKind.STRING);
        json.name(PARTITION).number(event.partition());
        json.name(OFFSET).number(event.offset());
        json.endObject();
        return json.toByteArray();
    }

    /** The changelog element: u16 model index, nullable bytes key (the key text), nullable bytes value. */
    public byte[] changelogElement(PendingChange change, byte[] value) {
        ModelEvent event = change.event();
        changelog.reset();
        changelog.u16(change.model().index());
        changelog.nullableBytes(event.bytes(), event.keyStart(), event.keyLength());
        changelog.nullableBytes(value);
        return changelog.toByteArray();
    }
}
