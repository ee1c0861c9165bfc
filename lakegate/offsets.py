"""Where the ingest job starts reading: after the last offset the lake already holds, per partition.

The audit and quarantine tables carry every record's source coordinates, and their Iceberg commits happen
on the same checkpoints as the dead-letter topic's transactions. So "the highest offset recorded per
partition, plus one" is what has been processed, whatever happened to Kafka's committed offsets, which a
bounded, draining run never commits for its last records. Cost: one scan of three columns of each table at
job start; restarts from a checkpoint or savepoint do not consult it. A fresh start also records each new
partition's origin, the offset the lake's account of it begins at (a job started mid-topic from the group's
offsets does not own what came before), for the ledger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping

from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaPartition

from lakegate import kafka_clients
from lakegate.catalog import open_catalog, quarantine_table_name
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.observe.ledger import ORIGINS, TopicPartition, high_water, read_lake, read_origins
from lakegate.settings import Settings
from udfs.contract import Contracts

log = logging.getLogger(__name__)

Offsets = dict[str, dict[int, int]]  # topic → partition → first offset to read


def lake_high(settings: Settings, contracts: Contracts) -> dict[TopicPartition, int]:
    """The highest offset per partition in the audit and quarantine tables (what the ledger reads)."""
    return high_water(*read_lake(settings, contracts))


def lake_offsets(settings: Settings, contracts: Contracts, held: dict[TopicPartition, int]) -> Offsets:
    """Next offset per topic partition after ``held`` (:func:`lake_high`; 0 where the lake holds none)."""
    topics = {c.topic for c in contracts}
    seen = by_topic(held, topics)
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


def new_origins(
    partitions: Iterable[TopicPartition],
    held: Mapping[TopicPartition, int],
    recorded: Mapping[TopicPartition, int],
    first_read: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Origins to record at a fresh start: for each partition the lake holds nothing of and has no origin for
    yet, the offset the job reads first. A partition the lake already holds keeps its recorded origin, or, if
    it has none (a lake older than origins), none: the ledger then counts it from Kafka's log start."""
    return {tp: first_read[tp] for tp in partitions if tp not in held and tp not in recorded and tp in first_read}


def record_origins(settings: Settings, contracts: Contracts, held: Mapping[TopicPartition, int]) -> None:
    """At a fresh start: where the lake's account of each partition it holds nothing of begins (see
    :func:`new_origins`). The first read offset is the group's committed offset with ``start_from =
    "group-offsets"`` (Kafka's log start for a partition the group never committed), else the log start."""
    iceberg = open_catalog(settings)
    table = iceberg.load_table(quarantine_table_name(settings))
    recorded = read_origins(table)
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings),
        client_id="lakegate-origins",
        group_id=settings.kafka.consumer_group,
        enable_auto_commit=False,
    )
    try:
        partitions = [
            KafkaPartition(t, p)
            for t in sorted({c.topic for c in contracts})
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        first_read = {(tp.topic, tp.partition): o for tp, o in consumer.beginning_offsets(partitions).items()}
        if settings.job.start_from == "group-offsets":
            for tp in partitions:
                committed = consumer.committed(tp)
                if committed is not None:
                    first_read[(tp.topic, tp.partition)] = committed
    finally:
        consumer.close()
    added = new_origins(first_read, held, recorded, first_read)
    if not added:
        return
    merged: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted({**recorded, **added}.items()):
        merged.setdefault(topic, {})[str(partition)] = offset
    with table.transaction() as tx:  # retried on a conflict with the job's own commits
        tx.set_properties({ORIGINS: json.dumps(merged, sort_keys=True)})
    log.info("origins recorded", extra=kv(**{f"{t}[{p}]": o for (t, p), o in sorted(added.items())}))


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
