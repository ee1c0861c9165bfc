"""Per-record facts lakegate adds next to the payload in the audit log (the "envelope").

Audit tables hold the payload columns first, in reader-schema order, then the envelope columns listed in
:data:`ENVELOPE_COLUMNS`, all prefixed ``lg_`` so they can never clash with a team's field names (contract
loading rejects payload fields starting with ``lg_``). The event id and event time are not repeated in the
envelope: they are the payload's own typed columns named by the contract's ``event_id_field`` and
``event_time_field``.
"""

from __future__ import annotations

from dataclasses import dataclass

from udfs.columns import Column, ColumnKind

ENVELOPE_PREFIX = "lg_"


@dataclass(frozen=True, slots=True)
class Envelope:
    event_id: str
    event_time_ms: int
    ingest_time_ms: int
    topic: str
    partition: int
    offset: int
    schema_id: int
    schema_version: int | None
    producer_team: str


ENVELOPE_COLUMNS: tuple[Column, ...] = (
    Column("lg_ingest_time", ColumnKind.timestamp_ms, False, "When lakegate read the record (UTC)."),
    Column("lg_topic", ColumnKind.string, False, "Source Kafka topic."),
    Column("lg_partition", ColumnKind.int, False, "Source Kafka partition."),
    Column("lg_offset", ColumnKind.long, False, "Source Kafka offset."),
    Column("lg_schema_id", ColumnKind.int, False, "Registry id of the writer schema."),
    Column("lg_schema_version", ColumnKind.int, True, "Contract version of the writer schema, if listed."),
    Column("lg_producer_team", ColumnKind.string, False, "Team owning the contract (owner_team)."),
)

# Envelope column name -> Envelope attribute holding its value.
ENVELOPE_ATTRIBUTES: dict[str, str] = {
    "lg_ingest_time": "ingest_time_ms",
    "lg_topic": "topic",
    "lg_partition": "partition",
    "lg_offset": "offset",
    "lg_schema_id": "schema_id",
    "lg_schema_version": "schema_version",
    "lg_producer_team": "producer_team",
}
