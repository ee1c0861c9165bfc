"""Where the ingest job starts reading: after the last offset the lake already holds, per partition.

The audit and quarantine tables carry every record's source coordinates, and their Iceberg commits happen
on the same checkpoints as the dead-letter topic's transactions. So "the highest offset recorded per
partition, plus one" is exactly what has been processed, whatever happened to Kafka's committed
offsets. (Those are not enough: a bounded, draining run finishes its source before the final checkpoint
completes, so its last offsets are never committed to the consumer group, and a second run would audit
the tail again.)

Cost: one scan of three columns of each table at job start. Fine for the local stack and moderate
tables; large deployments restart from checkpoints or savepoints, where this is not consulted.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from kafka import KafkaConsumer
from pyiceberg.exceptions import NoSuchTableError

from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.settings import Settings
from udfs.contract import Contracts

log = logging.getLogger(__name__)

Offsets = dict[str, dict[int, int]]  # topic → partition → first offset to read


def lake_offsets(settings: Settings, contracts: Contracts) -> Offsets:
    """Next offset per topic partition according to the audit and quarantine tables (0 where none)."""
    topics = {c.topic for c in contracts}
    seen: Offsets = {topic: {} for topic in topics}
    catalog = open_catalog(settings)
    sources = [(audit_table_name(settings, c), ("lg_topic", "lg_partition", "lg_offset")) for c in contracts]
    sources.append((quarantine_table_name(settings), ("source_topic", "source_partition", "source_offset")))
    for table_name, columns in sources:
        try:
            table = catalog.load_table(table_name)
        except NoSuchTableError:
            continue
        _merge_max(seen, table.scan(selected_fields=columns).to_arrow(), columns)
    partitions = _partitions(settings, sorted(topics))
    for topic in topics:
        if seen[topic] and not partitions.get(topic):
            # Without partitions the source would fall back to the earliest offset and audit the whole
            # topic again: refuse instead.
            raise StackError(
                f"Kafka reports no partitions for {topic!r}, yet the lake holds records from it; check that "
                f"the topic exists and this client may describe it at {settings.kafka_bootstrap}, then rerun"
            )
    # Partitions the lake knows but Kafka did not list (a stale metadata answer) are kept, not restarted.
    offsets = {t: {p: seen[t].get(p, -1) + 1 for p in sorted(set(partitions.get(t, ())) | set(seen[t]))}
               for t in topics}
    log.info("resuming after the lake's offsets",
             extra=kv(**{t: ",".join(f"{p}:{o}" for p, o in sorted(po.items())) for t, po in offsets.items()}))
    return offsets


def _merge_max(seen: Offsets, rows: pa.Table, columns: tuple[str, str, str]) -> None:
    if rows.num_rows == 0:
        return
    topic, partition, offset = columns
    grouped = rows.group_by([topic, partition]).aggregate([(offset, "max")])
    maxima = grouped.column(f"{offset}_max")
    for t, p, o in zip(grouped.column(topic).to_pylist(), grouped.column(partition).to_pylist(),
                       maxima.to_pylist(), strict=True):
        if t in seen:
            seen[t][p] = max(seen[t].get(p, -1), int(o))


def _partitions(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id="lakegate-offsets")
    try:
        return {t: sorted(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        consumer.close()


def specific_offsets_option(partitions: dict[int, int]) -> str:
    """The Flink Kafka connector's `scan.startup.specific-offsets` value."""
    return ";".join(f"partition:{p},offset:{o}" for p, o in sorted(partitions.items()))
