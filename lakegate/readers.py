"""Read back what a job wrote: audit rows (pyiceberg) and dead letters (read_committed consumer).

Used by the demo's summary and, as ``lakegate.testing.readers``, by the tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition

from lakegate import kafka_clients
from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.settings import Settings
from udfs.contract import Contract
from udfs.router import RawRecord


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def source(self) -> tuple[str, int, int]:
        h = self.headers
        return h["lg.source.topic"], int(h["lg.source.partition"]), int(h["lg.source.offset"])

    @property
    def reason(self) -> str:
        return self.headers["lg.reason"]


def topic_coordinates(settings: Settings, topics: list[str]) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every record currently in the topics (non-transactional producers)."""
    consumer = KafkaConsumer(**kafka_clients.python_config(settings), client_id="lakegate-test-offsets")
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        start, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition, o) for tp in partitions for o in range(start[tp], end[tp])}
    finally:
        consumer.close()


def read_records(settings: Settings, topics: list[str], *, timeout_s: float = 60.0) -> list[RawRecord]:
    """Every record currently in the topics, as the router receives it (raw key and value bytes)."""
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings), enable_auto_commit=False, client_id="lakegate-test-records"
    )
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return [
            RawRecord(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                timestamp_ms=m.timestamp,
                key=m.key,
                value=m.value,
            )
            for m in _to_end(consumer, partitions, timeout_s, f"topics {topics}")
        ]
    finally:
        consumer.close()


def read_audit(settings: Settings, contract: Contract) -> pa.Table:
    table = open_catalog(settings).load_table(audit_table_name(settings, contract))
    return table.scan().to_arrow()


def read_quarantine(settings: Settings) -> pa.Table:
    return open_catalog(settings).load_table(quarantine_table_name(settings)).scan().to_arrow()


def quarantined_coordinates(settings: Settings) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every quarantine row's source record, one per row (repeats show)."""
    columns = ["source_topic", "source_partition", "source_offset"]
    rows = read_quarantine(settings).select(columns).to_pylist()
    return [(r["source_topic"], r["source_partition"], r["source_offset"]) for r in rows]


def read_dead_letters(settings: Settings, *, since_ms: int | None = None, timeout_s: float = 30.0) -> list[DeadLetter]:
    """Every committed record of the dead-letter topic (``since_ms``: from the first one Kafka timestamps at
    or after it), read up to its current end."""
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="lakegate-test-reader",
    )
    try:
        partitions = [
            TopicPartition(settings.kafka.dlq_topic, p)
            for p in sorted(consumer.partitions_for_topic(settings.kafka.dlq_topic) or ())
        ]
        out: list[DeadLetter] = []
        what = f"dead-letter topic {settings.kafka.dlq_topic}"
        for message in _to_end(consumer, partitions, timeout_s, what, since_ms=since_ms):
            headers = {k: v.decode("utf-8", "replace") for k, v in message.headers}
            out.append(DeadLetter(message.key, message.value, headers))
        return out
    finally:
        consumer.close()


def _to_end(
    consumer: KafkaConsumer,
    partitions: list[TopicPartition],
    timeout_s: float,
    what: str,
    *,
    since_ms: int | None = None,
) -> Iterator[Any]:
    """The messages of ``partitions`` from their beginning (or the first timestamped at or after
    ``since_ms``) up to their current end (with ``read_committed``: the last stable offset)."""
    consumer.assign(partitions)
    end = consumer.end_offsets(partitions)
    if since_ms is None:
        consumer.seek_to_beginning(*partitions)
    else:
        found = consumer.offsets_for_times({tp: max(since_ms, 0) for tp in partitions})
        for tp in partitions:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else end[tp])
    # Poll, not iterate: the last offset of a transactional partition is a commit marker, which is never
    # returned as a message, so "seen a message at the end offset" would never happen.
    deadline = time.monotonic() + timeout_s
    while not all(consumer.position(tp) >= end[tp] for tp in partitions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not read to its end in {timeout_s}s")
        for records in consumer.poll(timeout_ms=500).values():
            yield from records
