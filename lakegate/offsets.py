"""Where the ingest job starts reading: after the last offset the lake already holds, per partition.

The audit and quarantine tables carry every record's source coordinates, and their Iceberg commits happen
on the same checkpoints as the dead-letter topic's transactions. So "the highest offset recorded per
partition, plus one" is exactly what has been processed, whatever happened to Kafka's committed offsets,
which a bounded, draining run never commits for its last records (its source finishes before the final
checkpoint completes). Cost: one scan of three columns of each table at job start; restarts from a
checkpoint or savepoint do not consult it.
"""

from __future__ import annotations

import logging

from kafka import KafkaConsumer

from lakegate import kafka_clients
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.observe.ledger import high_water, read_lake
from lakegate.settings import Settings
from udfs.contract import Contracts

log = logging.getLogger(__name__)

Offsets = dict[str, dict[int, int]]  # topic → partition → first offset to read


def lake_offsets(settings: Settings, contracts: Contracts) -> Offsets:
    """Next offset per topic partition according to the audit and quarantine tables (0 where none)."""
    topics = {c.topic for c in contracts}
    # The same coordinates the exporter's ledger reads (lakegate/observe/ledger.py), highest per partition.
    seen = by_topic(high_water(*read_lake(settings, contracts)), topics)
    partitions = _partitions(settings, sorted(topics))
    for topic in topics:
        if seen[topic] and not partitions.get(topic):
            # Without partitions the source would fall back to the earliest offset and audit the whole
            # topic again: refuse instead.
            raise StackError(
                f"Kafka reports no partitions for {topic!r}, yet the lake holds records from it; check that "
                f"the topic exists and this client may describe it at {settings.kafka.bootstrap}, then rerun"
            )
    # Partitions the lake knows but Kafka did not list (a stale metadata answer) are kept, not restarted.
    offsets = {
        t: {p: seen[t].get(p, -1) + 1 for p in sorted(set(partitions.get(t, ())) | set(seen[t]))} for t in topics
    }
    log.info(
        "resuming after the lake's offsets",
        extra=kv(**{t: ",".join(f"{p}:{o}" for p, o in sorted(po.items())) for t, po in offsets.items()}),
    )
    return offsets


def by_topic(highest: dict[tuple[str, int], int], topics: set[str]) -> Offsets:
    """Highest offset per partition, grouped by topic; topics without a contract are left out."""
    seen: Offsets = {topic: {} for topic in topics}
    for (topic, partition), offset in highest.items():
        if topic in seen:
            seen[topic][partition] = offset
    return seen


def _partitions(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    consumer = KafkaConsumer(**kafka_clients.python_config(settings), client_id="lakegate-offsets")
    try:
        return {t: sorted(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        consumer.close()


def specific_offsets_option(partitions: dict[int, int]) -> str:
    """The Flink Kafka connector's `scan.startup.specific-offsets` value."""
    return ";".join(f"partition:{p},offset:{o}" for p, o in sorted(partitions.items()))
