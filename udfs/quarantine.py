"""The quarantine table's columns and rows: the same facts as the dead-letter topic's headers, typed.

One definition serves the Iceberg DDL (control plane) and the rows the job emits, like
:func:`udfs.audit.audit_columns` does for the audit log. The original key and value bytes are kept
unchanged: quarantine never "fixes" a record, and `lakegate quarantine replay` needs the exact bytes.
"""

from __future__ import annotations

from udfs.columns import Column, ColumnKind
from udfs.router import Quarantined

QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column("quarantined_at", ColumnKind.timestamp_ms, False, "When lakegate quarantined the record (UTC)."),
    Column("reason", ColumnKind.string, False, "Reason code (udfs.reasons.Reason)."),
    Column("rule", ColumnKind.string, True, "Name of the contract rule that failed, for rule_violation."),
    Column("field", ColumnKind.string, True, "Field the problem was found in, when known."),
    Column("error_class", ColumnKind.string, False, "Class of the underlying error."),
    Column("message", ColumnKind.string, False, "What is wrong; never contains payload values."),
    Column("contract", ColumnKind.string, True, "Contract covering the source topic, if any."),
    Column("source_topic", ColumnKind.string, False, "Kafka topic the record was read from."),
    Column("source_partition", ColumnKind.int, False, "Kafka partition."),
    Column("source_offset", ColumnKind.long, False, "Kafka offset."),
    Column("source_timestamp", ColumnKind.timestamp_ms, True, "Kafka record timestamp."),
    Column("schema_id", ColumnKind.int, True, "Registry id of the writer schema, when the frame had one."),
    Column("job_id", ColumnKind.string, False, "lakegate job that quarantined it."),
    Column("original_key", ColumnKind.bytes, True, "The record's key bytes, unchanged."),
    Column("original_value", ColumnKind.bytes, True, "The record's value bytes, unchanged."),
)


def quarantine_values(q: Quarantined, job_id: str, now_ms: int) -> tuple[object, ...]:
    """Row values in :data:`QUARANTINE_COLUMNS` order."""
    raw = q.raw
    return (
        now_ms,
        str(q.reason),
        q.rule,
        q.field,
        q.error_class,
        q.message,
        q.contract,
        raw.topic,
        raw.partition,
        raw.offset,
        raw.timestamp_ms or None,
        q.schema_id,
        job_id,
        raw.key,
        raw.value,
    )
