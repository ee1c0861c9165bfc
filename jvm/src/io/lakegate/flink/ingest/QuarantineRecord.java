package io.lakegate.flink.ingest;

import io.lakegate.flink.plan.Plan;
import io.lakegate.flink.wire.ReaderBody;

/**
 * The facts of one quarantined record that the JVM itself quarantines (a body that fails the strict check, a
 * duplicate event id): the fields of Python's {@code udfs.router.Quarantined} plus the job id and the time.
 * {@link QuarantineLayout#element} turns them into the row and headers Python's
 * {@code udfs.quarantine.quarantine_values} and {@code udfs.router.quarantine_headers} build from the same facts.
 *
 * @param quarantinedAtMs    when it was quarantined (epoch ms)
 * @param reason             a {@code udfs.reasons.Reason} value
 * @param rule               the failed rule's name, or null
 * @param field              the field the problem was found in, or null
 * @param errorClass         the class of the underlying error
 * @param message            what is wrong (never payload values)
 * @param contract           the contract's name, or null
 * @param sourceTimestampMs  the Kafka timestamp as read (-1: none); the table holds null only for 0, as
 *                           Python's {@code raw.timestamp_ms or None} does, the header always the number
 * @param schemaId           the writer schema's registry id, or null
 * @param originalKey        the record's key bytes, unchanged (null: none)
 * @param originalValue      the record's value bytes, unchanged (null: none)
 */
public record QuarantineRecord(
        long quarantinedAtMs,
        String reason,
        String rule,
        String field,
        String errorClass,
        String message,
        String contract,
        String sourceTopic,
        int sourcePartition,
        long sourceOffset,
        long sourceTimestampMs,
        Integer schemaId,
        String jobId,
        byte[] originalKey,
        byte[] originalValue) {

    static final String SCHEMA_MISMATCH = "schema_mismatch";
    static final String DUPLICATE_EVENT_ID = "duplicate_event_id";

    /**
     * What Python's router reports for a body its decoder rejects (schema_mismatch, error class BadRecord, the
     * field and why), for a valid record whose body fails the JVM's strict check.
     */
    static QuarantineRecord corruptBody(Plan plan, ValidSegment s, ReaderBody.CorruptBody corrupt, long nowMs) {
        return of(plan, s, SCHEMA_MISMATCH, corrupt.field(), "BadRecord", corrupt.getMessage(), nowMs);
    }

    /** What {@code udfs.router.duplicate} builds for a repeat of an event id its contract already accepted. */
    static QuarantineRecord duplicate(Plan plan, ValidSegment s, long nowMs) {
        Plan.Contract contract = plan.contracts().get(s.contract);
        return of(plan, s, DUPLICATE_EVENT_ID, contract.eventIdField(), "DuplicateEventId",
                contract.duplicateMessage(), nowMs);
    }

    private static QuarantineRecord of(
            Plan plan, ValidSegment s, String reason, String field, String errorClass, String message, long nowMs) {
        return new QuarantineRecord(nowMs, reason, null, field, errorClass, message,
                plan.contracts().get(s.contract).name(), plan.topics().get(s.topic), s.partition, s.offset,
                s.timestampMs, s.schemaId, plan.jobName(), s.key(), s.value());
    }

    /** The dead-letter headers, in {@code udfs.router.quarantine_headers}' order, null values left out. */
    public byte[] headers() {
        return new DeadLetterHeaders()
                .add("lg.reason", reason)
                .add("lg.field", field)
                .add("lg.rule", rule)
                .add("lg.error_class", errorClass)
                .add("lg.message", message)
                .add("lg.source.topic", sourceTopic)
                .add("lg.source.partition", sourcePartition)
                .add("lg.source.offset", sourceOffset)
                .add("lg.source.timestamp", sourceTimestampMs)
                .add("lg.schema_id", schemaId)
                .add("lg.contract", contract)
                .add("lg.job_id", jobId)
                .toByteArray();
    }
}
