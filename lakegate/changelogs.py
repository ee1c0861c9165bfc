"""The read models' compacted changelog topics, brought level with the model tables at a fresh start.

The changelog sink writes Kafka transactions, committed after the checkpoint that made them completes, one
after the model tables' Iceberg commits; a process killed between the two leaves a table holding changes its
topic lacks, and the fresh start's resume (lakegate/resume.py) does not re-apply events a model table holds.
So before such a start, each model's topic is read to its end (``read_committed``) and every key whose last
record is older than the table's latest change (by version) gets that change again: the row as the job's
changelog writes it (``io.lakegate.flink.models.ChangeOutput``: the model's JSON fields, then ``_op``,
``_version``, ``_topic``, ``_partition``, ``_offset``), or a tombstone for a deleted key. Compaction keeps
the last record per key, so a repeated change is harmless.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from lakegate import kafka_clients, readmodels
from lakegate.logs import kv
from lakegate.model_state import plain
from lakegate.settings import Settings
from udfs.readmodels import CurrentModel, ReadModel, key_text

log = logging.getLogger(__name__)

DELETE = "delete"
Published = dict[str, int | None]  # key text → version of its last record (None: a tombstone)


def json_fields(model: ReadModel) -> list[str]:
    """The changelog JSON's model fields, in order (jobs/plan.py's ``json``)."""
    if isinstance(model, CurrentModel):
        return [*model.key, *model.fields]
    return [*readmodels.key_columns(model), *(m.name for m in model.measures)]


def _json_value(value: object) -> object:
    value = plain(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def change_value(model: ReadModel, row: Mapping[str, Any]) -> bytes:
    """The changelog value of an upsert row of the model's table."""
    doc = {name: _json_value(row[name]) for name in json_fields(model)}
    doc |= {
        "_op": "upsert",
        "_version": row["lg_version"],
        "_topic": row["lg_topic"],
        "_partition": row["lg_partition"],
        "_offset": row["lg_offset"],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def corrections(model: ReadModel, rows: pa.Table, published: Published) -> list[tuple[str, bytes | None]]:
    """(key text, value or None for a tombstone) for every key whose topic lags its table's latest change."""
    keys = readmodels.key_columns(model)
    latest: dict[str, dict[str, Any]] = {}
    for row in rows.to_pylist():
        text = key_text(tuple(_json_value(row[k]) for k in keys))
        if text not in latest or row["lg_version"] > latest[text]["lg_version"]:
            latest[text] = row
    out: list[tuple[str, bytes | None]] = []
    for text, row in sorted(latest.items()):
        seen = published.get(text)
        if row["lg_op"] == DELETE:
            if text in published and seen is not None:
                out.append((text, None))
        elif seen is None or seen < row["lg_version"]:
            out.append((text, change_value(model, row)))
    return out


def published(settings: Settings, topic: str, timeout_s: float = 120.0) -> Published:
    """Per key, the version of the topic's last committed record (None: a tombstone)."""
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings),
        isolation_level="read_committed",
        enable_auto_commit=False,
        client_id="lakegate-changelog-check",
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return {}
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        out: Published = {}
        deadline = time.monotonic() + timeout_s
        while not all(consumer.position(tp) >= end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"changelog topic {topic} not read to its end in {timeout_s}s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    if r.key is not None:
                        out[r.key.decode("utf-8")] = None if r.value is None else json.loads(r.value)["_version"]
        return out
    finally:
        consumer.close()


def levelled(settings: Settings, logs: Iterable[tuple[ReadModel, pa.Table]]) -> Iterator[tuple[ReadModel, pa.Table]]:
    """Passes the models' change logs on, each once its changelog topic has what it lacked of it published."""
    producer: KafkaProducer | None = None
    try:
        for model, rows in logs:
            topic = readmodels.changelog_topic(settings, model)
            fixes = corrections(model, rows, published(settings, topic))
            if fixes:
                if producer is None:
                    producer = KafkaProducer(
                        **kafka_clients.python_config(settings), acks="all", client_id="lakegate-changelog-repair"
                    )
                for text, value in fixes:
                    producer.send(topic, key=text.encode("utf-8"), value=value)
                producer.flush()
                log.warning(
                    "changelog topic behind its model table: latest changes published again",
                    extra=kv(model=model.name, topic=topic, records=len(fixes)),
                )
            yield model, rows
    finally:
        if producer is not None:
            producer.close()
