package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds a contract's audit rows, in the audit table's own column order: reader field {@code i} goes to
 * column {@code fields[i].column}, the envelope ({@code udfs.envelope.ENVELOPE_COLUMNS}) to the plan's
 * {@code envelope} positions, and columns the record does not have (added for a newer contract version)
 * stay null. Values are Flink's internal ones ({@link io.lakegate.flink.wire.ReaderBody}).
 */
final class AuditRows {

    /** The envelope columns this class fills, as udfs/envelope.py names them. */
    static final Set<String> ENVELOPE = Set.of("lg_ingest_time", "lg_topic", "lg_partition", "lg_offset",
            "lg_schema_id", "lg_schema_version", "lg_producer_team");

    private final int width;
    private final int[] fieldColumns;
    private final int ingestTime;
    private final int topic;
    private final int partition;
    private final int offset;
    private final int schemaId;
    private final int schemaVersion;
    private final int producerTeam;
    private final StringData topicName;
    private final StringData team;

    AuditRows(Plan.Contract contract, List<String> topics) {
        if (!contract.envelope().keySet().equals(ENVELOPE)) {
            throw new IllegalArgumentException("contract " + contract.name() + ": the plan's envelope columns "
                    + new TreeSet<>(contract.envelope().keySet()) + " are not the ones this jar writes "
                    + new TreeSet<>(ENVELOPE) + "; build the plan (jobs/plan.py) and this jar from one checkout");
        }
        width = contract.tableColumns().size();
        fieldColumns = contract.fields().stream().mapToInt(Plan.Field::column).toArray();
        for (Plan.Field field : contract.fields()) {
            String kind = contract.tableColumns().get(check(contract, field.column())).kind();
            if (!holds(kind, field.avro())) {
                throw new IllegalArgumentException("contract " + contract.name() + ": field " + field.name()
                        + " is Avro " + field.avro() + " but its audit column is " + kind
                        + "; evolve the table (`lakegate provision`) or fix the plan");
            }
        }
        ingestTime = check(contract, contract.envelope().get("lg_ingest_time"));
        topic = check(contract, contract.envelope().get("lg_topic"));
        partition = check(contract, contract.envelope().get("lg_partition"));
        offset = check(contract, contract.envelope().get("lg_offset"));
        schemaId = check(contract, contract.envelope().get("lg_schema_id"));
        schemaVersion = check(contract, contract.envelope().get("lg_schema_version"));
        producerTeam = check(contract, contract.envelope().get("lg_producer_team"));
        topicName = StringData.fromString(topics.get(contract.topicIndex()));
        team = StringData.fromString(contract.producerTeam());
    }

    /** Whether a column of {@code kind} holds the values {@link io.lakegate.flink.wire.ReaderBody} reads. */
    private static boolean holds(String kind, String avro) {
        switch (avro) {
            case "string":
            case "enum":
                return kind.equals("string");
            case "long":
                return kind.equals("long") || kind.equals("timestamp_ms");
            default:
                return kind.equals(avro); // boolean, int, float, double, bytes
        }
    }

    private int check(Plan.Contract contract, int column) {
        if (column < 0 || column >= width) {
            throw new IllegalArgumentException("contract " + contract.name() + ": column " + column
                    + " is outside its audit table's " + width + " columns");
        }
        return column;
    }

    /** The audit row of the valid record {@code s} whose body decoded to {@code values} (reader field order). */
    GenericRowData row(ValidSegment s, Object[] values) {
        GenericRowData row = new GenericRowData(width);
        for (int i = 0; i < fieldColumns.length; i++) {
            row.setField(fieldColumns[i], values[i]);
        }
        row.setField(ingestTime, TimestampData.fromEpochMillis(s.ingestTimeMs));
        row.setField(topic, topicName);
        row.setField(partition, s.partition);
        row.setField(offset, s.offset);
        row.setField(schemaId, s.schemaId);
        row.setField(schemaVersion, s.schemaVersion < 0 ? null : s.schemaVersion);
        row.setField(producerTeam, team);
        return row;
    }
}
