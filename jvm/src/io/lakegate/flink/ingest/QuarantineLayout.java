package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.utils.ProjectedRowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarBinaryType;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one stream type of every quarantine element (Python's QUARANTINED entries, corrupt bodies, duplicates):
 * a {@link RowData} of the quarantine table's columns, in the table's own order, plus one last BYTES column
 * {@value #HEADERS} holding the dead-letter headers ({@link DeadLetterHeaders}). The quarantine table takes it
 * projected to its columns ({@link #tableProjection()}); the dead-letter topic takes the original key and
 * value columns and the headers ({@link DeadLetterSerializer}).
 *
 * <p>The plan's {@code encoded_columns} (the columns of a QUARANTINED entry's row, {@code udfs.quarantine.
 * QUARANTINE_COLUMNS}) must be the columns this class knows, with the same kinds, and all be in the table:
 * otherwise the Python and Java halves would describe a quarantined record differently, and building the
 * job fails with what differs.
 */
public final class QuarantineLayout implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The name of the headers column (after the table's columns). */
    public static final String HEADERS = "lg_dead_letter_headers";

    /** The quarantine columns, by name, with their kinds: {@code udfs.quarantine.QUARANTINE_COLUMNS}. */
    static final Map<String, String> KNOWN = known();

    private final List<Plan.Column> tableColumns;
    private final String[] encodedKinds;
    private final boolean[] encodedNullable;
    private final int[] encodedToTable;
    private final Map<String, Integer> tablePosition;

    public QuarantineLayout(Plan.Quarantine quarantine) {
        this.tableColumns = quarantine.tableColumns();
        this.tablePosition = new HashMap<>();
        for (int i = 0; i < tableColumns.size(); i++) {
            tablePosition.put(tableColumns.get(i).name(), i);
        }
        if (tablePosition.containsKey(HEADERS)) {
            throw new IllegalArgumentException("the quarantine table " + quarantine.table() + " has a column named "
                    + HEADERS + ", which the job uses for the dead-letter headers; rename that column");
        }
        List<Plan.Column> encoded = quarantine.encodedColumns();
        List<String> names = new ArrayList<>();
        encodedKinds = new String[encoded.size()];
        encodedNullable = new boolean[encoded.size()];
        encodedToTable = new int[encoded.size()];
        for (int i = 0; i < encoded.size(); i++) {
            Plan.Column column = encoded.get(i);
            names.add(column.name());
            String kind = KNOWN.get(column.name());
            if (kind == null || !kind.equals(column.kind())) {
                throw new IllegalArgumentException("plan.quarantine.encoded_columns has " + column.name() + " ("
                        + column.kind() + "); this jar knows " + KNOWN + ": build the plan (jobs/plan.py) and"
                        + " this jar from the same checkout");
            }
            Integer position = tablePosition.get(column.name());
            if (position == null) {
                throw new IllegalArgumentException("the quarantine table " + quarantine.table() + " has no column "
                        + column.name() + "; run `lakegate provision` (or the job's provisioning) to evolve it");
            }
            if (!tableColumns.get(position).kind().equals(kind)) {
                throw new IllegalArgumentException("the quarantine table's column " + column.name() + " is "
                        + tableColumns.get(position).kind() + ", lakegate writes " + kind);
            }
            encodedKinds[i] = column.kind();
            encodedNullable[i] = column.nullable();
            encodedToTable[i] = position;
        }
        if (!names.containsAll(KNOWN.keySet())) {
            throw new IllegalArgumentException("plan.quarantine.encoded_columns " + names + " lacks some of "
                    + KNOWN.keySet() + ": build the plan (jobs/plan.py) and this jar from the same checkout");
        }
    }

    private static Map<String, String> known() {
        Map<String, String> kinds = new LinkedHashMap<>();
        kinds.put("quarantined_at", "timestamp_ms");
        kinds.put("reason", "string");
        kinds.put("rule", "string");
        kinds.put("field", "string");
        kinds.put("error_class", "string");
        kinds.put("message", "string");
        kinds.put("contract", "string");
        kinds.put("source_topic", "string");
        kinds.put("source_partition", "int");
        kinds.put("source_offset", "long");
        kinds.put("source_timestamp", "timestamp_ms");
        kinds.put("schema_id", "int");
        kinds.put("job_id", "string");
        kinds.put("original_key", "bytes");
        kinds.put("original_value", "bytes");
        return java.util.Collections.unmodifiableMap(kinds);
    }

    /** The element's row type: the table's columns, then {@value #HEADERS}. */
    public RowType rowType() {
        List<RowType.RowField> fields = new ArrayList<>(ColumnTypes.rowType(tableColumns).getFields());
        fields.add(new RowType.RowField(HEADERS, new VarBinaryType(false, VarBinaryType.MAX_LENGTH)));
        return new RowType(fields);
    }

    public InternalTypeInfo<RowData> typeInfo() {
        return InternalTypeInfo.of(rowType());
    }

    /** The quarantine table's columns, in its order. */
    public List<Plan.Column> tableColumns() {
        return tableColumns;
    }

    /** The position of the headers column. */
    public int headersIndex() {
        return tableColumns.size();
    }

    /** The position of a quarantine column in the element (and the table). */
    public int position(String name) {
        Integer position = tablePosition.get(name);
        if (position == null) {
            throw new IllegalArgumentException("the quarantine table has no column " + name);
        }
        return position;
    }

    /** Column kinds of the QUARANTINED entry's row, in plan.quarantine.encoded_columns order (AvroRowDecoder). */
    public String[] encodedKinds() {
        return encodedKinds.clone();
    }

    /** Nullability of the QUARANTINED entry's row's columns, in plan.quarantine.encoded_columns order. */
    public boolean[] encodedNullable() {
        return encodedNullable.clone();
    }

    /** The element of a QUARANTINED entry: its decoded row (encoded_columns order) and its encoded headers. */
    public GenericRowData fromEncoded(GenericRowData encoded, byte[] headers) {
        GenericRowData row = new GenericRowData(tableColumns.size() + 1);
        for (int i = 0; i < encodedToTable.length; i++) {
            row.setField(encodedToTable[i], encoded.getField(i));
        }
        row.setField(headersIndex(), headers);
        return row;
    }

    /** The element of a record the JVM quarantines: the values and headers Python builds from the same facts. */
    public GenericRowData element(QuarantineRecord r) {
        GenericRowData row = new GenericRowData(tableColumns.size() + 1);
        set(row, "quarantined_at", TimestampData.fromEpochMillis(r.quarantinedAtMs()));
        set(row, "reason", text(r.reason()));
        set(row, "rule", text(r.rule()));
        set(row, "field", text(r.field()));
        set(row, "error_class", text(r.errorClass()));
        set(row, "message", text(r.message()));
        set(row, "contract", text(r.contract()));
        set(row, "source_topic", text(r.sourceTopic()));
        set(row, "source_partition", r.sourcePartition());
        set(row, "source_offset", r.sourceOffset());
        set(row, "source_timestamp",
                r.sourceTimestampMs() == 0 ? null : TimestampData.fromEpochMillis(r.sourceTimestampMs()));
        set(row, "schema_id", r.schemaId());
        set(row, "job_id", text(r.jobId()));
        set(row, "original_key", r.originalKey());
        set(row, "original_value", r.originalValue());
        row.setField(headersIndex(), r.headers());
        return row;
    }

    private void set(GenericRowData row, String name, Object value) {
        row.setField(tablePosition.get(name), value);
    }

    private static StringData text(String value) {
        return value == null ? null : StringData.fromString(value);
    }

    /** Elements → rows of the quarantine table's columns (a view without the headers column; never mutated). */
    public MapFunction<RowData, RowData> tableProjection() {
        int[] columns = new int[tableColumns.size()];
        for (int i = 0; i < columns.length; i++) {
            columns[i] = i;
        }
        return new TableProjection(columns);
    }

    /** Drops the headers column: a new {@link ProjectedRowData} per element, so object reuse stays safe. */
    private static final class TableProjection implements MapFunction<RowData, RowData> {
        private static final long serialVersionUID = 1L;
        private final int[] columns;

        TableProjection(int[] columns) {
            this.columns = columns;
        }

        @Override
        public RowData map(RowData element) {
            return ProjectedRowData.from(columns).replaceRow(element);
        }
    }
}
