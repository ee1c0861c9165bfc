"""Pipeline (c) of bench/compare.py: a plain Python consumer, Kafka → fastavro → pyiceberg appends in batches.

Usage:  <bench venv>/bin/python -m bench.plain_consumer TASK.json   (settings in LAKEGATE_* variables)

Runs in its own virtualenv (bench/requirements-plain.txt: pyiceberg writes need a newer pyarrow than PyFlink
allows). Per record: framing → writer schema by id (cached) → fastavro, resolved to the reader schema → a row
shaped like lakegate's audit row, buffered per contract and appended (one commit) at ``batch_records`` rows or
when its oldest row waited ``flush_ms``. No quarantine: a record that does not decode is counted and skipped.
``parallelism`` N: N processes with a fixed share of the partitions, retrying a commit that loses the race.
Prints one JSON line of totals. See bench/README.md, "bench/compare.py".
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import fastavro
import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from bench.task import Task
from lakegate import catalog
from lakegate.settings import Settings
from udfs.audit import audit_columns
from udfs.columns import ColumnKind
from udfs.contract import Contract, load_contracts
from udfs.errors import RegistryUnavailable
from udfs.registry import RegistryClient
from udfs.wire import parse_frame

COMMIT_ATTEMPTS = 20
Getter = Callable[[dict[str, Any], Any, int, int], Any]  # (payload, kafka record, schema id, now ms) → value


class Sink:
    """One contract's rows on their way to its Iceberg table: column buffers, then an append."""

    def __init__(self, contract: Contract, table: Table) -> None:
        self.table = table
        self.arrow_schema = table.schema().as_arrow()
        columns = {c.name: c for c in audit_columns(contract)}
        self.names = [f.name for f in self.arrow_schema]
        self.getters = [_getter(columns[name].name, columns[name].kind, contract) for name in self.names]
        self.buffers: list[list[Any]] = [[] for _ in self.names]
        self.first_at = 0.0

    def __len__(self) -> int:
        return len(self.buffers[0])

    def add(self, payload: dict[str, Any], record: Any, schema_id: int, now_ms: int) -> None:
        if not len(self):
            self.first_at = time.monotonic()
        for buffer, get in zip(self.buffers, self.getters, strict=True):
            buffer.append(get(payload, record, schema_id, now_ms))

    def flush(self) -> int:
        rows = len(self)
        if not rows:
            return 0
        arrays = [pa.array(b, type=f.type) for b, f in zip(self.buffers, self.arrow_schema, strict=True)]
        batch = pa.Table.from_arrays(arrays, schema=self.arrow_schema)
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                self.table.append(batch)
                break
            except CommitFailedException:  # another worker committed first: retry on the new metadata
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                self.table.refresh()
        self.buffers = [[] for _ in self.names]
        return rows


def _getter(name: str, kind: ColumnKind, contract: Contract) -> Getter:
    envelope: dict[str, Getter] = {
        "lg_ingest_time": lambda _p, _r, _s, now: datetime.fromtimestamp(now / 1000, UTC),
        "lg_topic": lambda _p, r, _s, _n: r.topic,
        "lg_partition": lambda _p, r, _s, _n: r.partition,
        "lg_offset": lambda _p, r, _s, _n: r.offset,
        "lg_schema_id": lambda _p, _r, s, _n: s,
        "lg_schema_version": lambda _p, _r, _s, _n: None,
        "lg_producer_team": lambda _p, _r, _s, _n: contract.owner_team,
    }
    if name in envelope:
        return envelope[name]
    if kind is ColumnKind.string:  # fastavro gives enums as str, but a uuid logical type as a UUID
        return lambda p, _r, _s, _n: _text(p.get(name))
    return lambda p, _r, _s, _n: p.get(name)  # timestamps come as datetime, which pyarrow takes


def _text(value: Any) -> Any:
    return value if value is None or type(value) is str else str(value)


class Decoder:
    """Confluent framing → writer schema (registry, cached) → record resolved to the reader schema."""

    def __init__(self, registry: RegistryClient, contract: Contract) -> None:
        self._registry = registry
        self._reader = contract.reader_schema

    def decode(self, value: bytes | None) -> tuple[int, dict[str, Any]] | None:
        try:
            frame = parse_frame(value)
            writer = self._registry.writer_schema(frame.schema_id)
            writer_schema, reader_schema = cast(Any, writer.parsed), cast(Any, self._reader)
            record = fastavro.schemaless_reader(io.BytesIO(frame.body), writer_schema, reader_schema)
        except RegistryUnavailable:
            raise  # the registry being down is not bad data
        except Exception:
            return None  # bad framing, unknown schema id, a body the reader cannot resolve: skipped
        return (frame.schema_id, record) if isinstance(record, dict) else None


def consume(settings: Settings, task: Task) -> dict[str, Any]:
    """The worker's loop; returns its counts and when it started and finished (epoch seconds)."""
    contracts = load_contracts(settings.paths.schemas_dir)
    iceberg = catalog.open_catalog(settings)
    registry = settings.registry_client()
    sinks = {c.topic: Sink(c, iceberg.load_table(f"{task.namespace}.{c.name}")) for c in contracts}
    decoders = {c.topic: Decoder(registry, c) for c in contracts}
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=5000,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        client_id=f"bench-plain-{task.worker}",
    )
    partitions = _my_partitions(consumer, [c.topic for c in contracts], task)
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = {tp: (task.end_offsets or {}).get(tp.topic, {}).get(tp.partition) for tp in partitions}
    counts = {"read": 0, "written": 0, "skipped": 0, "started": time.time()}
    try:
        while True:
            polled = consumer.poll(timeout_ms=200)
            now_ms = int(time.time() * 1000)
            for tp, records in polled.items():
                sink, decoder = sinks[tp.topic], decoders[tp.topic]
                for record in records:
                    counts["read"] += 1
                    decoded = decoder.decode(record.value)
                    if decoded is None:
                        counts["skipped"] += 1
                    else:
                        sink.add(decoded[1], record, decoded[0], now_ms)
            counts["written"] += _flush_due(sinks.values(), task)
            if task.end_offsets is not None and all(consumer.position(tp) >= (end or 0) for tp, end in ends.items()):
                counts["written"] += sum(s.flush() for s in sinks.values())
                break
    finally:
        consumer.close()
    counts["ended"] = time.time()
    return counts


def _flush_due(sinks: Any, task: Task) -> int:
    written = 0
    for sink in sinks:
        if len(sink) >= task.batch_records or (len(sink) and time.monotonic() - sink.first_at >= task.flush_ms / 1000):
            written += sink.flush()
    return written


def _my_partitions(consumer: KafkaConsumer, topics: list[str], task: Task) -> list[TopicPartition]:
    every = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    return [tp for i, tp in enumerate(every) if i % task.parallelism == (task.worker or 0)]


def launch(task_file: Path, task: Task) -> dict[str, Any]:
    """Start one worker process per unit of parallelism and add up what they report."""
    files = [task.as_worker(i).save(task_file.with_suffix(f".worker{i}.json")) for i in range(task.parallelism)]
    workers = [
        subprocess.Popen([sys.executable, "-m", "bench.plain_consumer", str(f)], stdout=subprocess.PIPE, text=True)
        for f in files
    ]
    reports = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode != 0:
            raise SystemExit(f"plain consumer worker exited {worker.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    totals = {k: sum(r[k] for r in reports) for k in ("read", "written", "skipped")}
    totals["started"] = min(r["started"] for r in reports)
    totals["ended"] = max(r["ended"] for r in reports)
    return totals


def main(argv: list[str] | None = None) -> int:
    task_file = Path((sys.argv[1:] if argv is None else argv)[0])
    task = Task.load(task_file)
    settings = Settings.load()
    counts = consume(settings, task) if task.worker is not None else launch(task_file, task)
    if task.worker is None:
        print(f"finished net_runtime_ms={round((counts['ended'] - counts['started']) * 1000)}")
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
