"""The benchmark's data: its contracts (the repo's, plus a free-text field) and a fast pre-loader.

The repo's contracts make records of about 120 bytes; the benchmark wants about 850, as real events with a
free-text field have. :func:`bench_contracts` copies ``schemas/`` into the run's home and gives each
contract one more schema version with an optional ``notes`` string (a backward-compatible change, as a
team would make), its own topic names, and only the read models asked for. Rules, PII and everything else
stay the repo's. :func:`preload` then writes the records with the repo's generator (``lakegate.produce``:
same events, same kinds of bad record), without keeping a future per record, so millions fit in memory.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from lakegate.events import Padding
from lakegate.produce import VALID, RecordMaker, registered_maker
from lakegate.settings import Settings
from udfs.contract import CONTRACT_FILE, Contracts, load_contracts

PAD_FIELD = "notes"
Coordinate = tuple[str, int, int]
PartitionKey = tuple[str, int]


def bench_contracts(
    source: Path,
    target: Path,
    *,
    topic_prefix: str,
    read_models: Collection[str] | None,
    expression_rules: bool = True,
) -> Contracts:
    """Copy the contracts under ``source`` to ``target`` with the padding field, topics named
    ``<topic_prefix><contract>``, only the read models named in ``read_models`` (None: all), and without the
    CEL rules (``[[rules]]`` with ``expr``) unless ``expression_rules``."""
    if target.exists():
        shutil.rmtree(target)
    for contract_file in sorted(source.glob(f"*/{CONTRACT_FILE}")):
        _copy_contract(
            contract_file.parent, target / contract_file.parent.name, topic_prefix, read_models, expression_rules
        )
    contracts = load_contracts(target)
    for contract in contracts:  # the text edits below are checked here, not trusted
        assert contract.topic == f"{topic_prefix}{contract.name}", contract.topic
        assert any(f["name"] == PAD_FIELD for f in contract.reader_schema_json["fields"]), contract.name
        if read_models is not None:
            assert {m.name for m in contract.read_models} <= set(read_models), contract.read_models
        if not expression_rules:
            assert all(r.expression is None for r in contract.rules), contract.rules
    return contracts


def _copy_contract(
    source: Path, target: Path, topic_prefix: str, read_models: Collection[str] | None, expression_rules: bool
) -> None:
    shutil.copytree(source, target)
    text = (source / CONTRACT_FILE).read_text()
    data = tomllib.loads(text)
    latest = data["schemas"][-1]
    schema = json.loads((source / latest).read_text())
    schema["fields"].append(
        {
            "name": PAD_FIELD,
            "type": ["null", "string"],
            "default": None,
            "doc": "Free text written by an agent (added by the benchmark for a realistic size).",
        }
    )
    padded = latest.split(".")[0] + ".bench.avsc"
    (target / padded).write_text(json.dumps(schema, indent=2))
    # Line edits of the two keys, and dropping whole [[read_models]] tables, keep the file's other content.
    text = re.sub(
        r"(?ms)^schemas\s*=\s*\[.*?\]", lambda _: f"schemas = {json.dumps([*data['schemas'], padded])}", text, count=1
    )
    text = re.sub(r"(?m)^topic\s*=.*$", lambda _: f"topic = {json.dumps(topic_prefix + data['name'])}", text, count=1)
    if read_models is not None:
        keep = set(read_models)
        text = _drop_tables(text, "[[read_models]]", lambda table: table.get("name") not in keep)
    if not expression_rules:
        text = _drop_tables(text, "[[rules]]", lambda table: "expr" in table)
    (target / CONTRACT_FILE).write_text(text)


def _drop_tables(text: str, header: str, drop: Callable[[dict[str, Any]], bool]) -> str:
    """``text`` without the ``header`` tables (e.g. ``[[rules]]``) that ``drop`` picks."""
    blocks = re.split(r"(?m)^(?=\[)", text)  # a block runs from one table header to the next
    return "".join(
        block
        for block in blocks
        if not (block.startswith(header) and drop(tomllib.loads(block.replace(header, "", 1))))
    )


@dataclass(slots=True)
class Manifest:
    """What the pre-loader wrote: every record's coordinates follow from the end offsets (fresh topics, one
    producer, no transactions: offsets 0 … end-1), and the bad ones are listed with their reason."""

    events: int = 0
    value_bytes: int = 0
    seconds: float = 0.0
    end_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    bad: dict[Coordinate, str] = field(default_factory=dict)

    @property
    def valid(self) -> int:
        return self.events - len(self.bad)

    @property
    def avg_value_bytes(self) -> float:
        return self.value_bytes / max(self.events, 1)

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "valid": self.valid,
            "bad": len(self.bad),
            "avg_value_bytes": round(self.avg_value_bytes, 1),
            "seconds": round(self.seconds, 1),
            "events_per_s": round(self.events / max(self.seconds, 1e-9)),
        }


def padding_for(contracts: Contracts, target_bytes: int) -> Padding:
    """The padding that brings the average framed value to about ``target_bytes``, measured on a sample."""
    ids = {c.name: list(range(1, len(c.schema_texts) + 1)) for c in contracts}
    sample = RecordMaker(
        contracts,
        ids,
        {},
        random.Random(1),  # noqa: S311
        bad_fraction=0.0,
        bad_kinds=(),
        all_versions=False,
    )
    base = statistics.mean(len(sample.make(i).value or b"") for i in range(400))
    # The padded value also carries the string's length (2 bytes below 16 KiB); the union branch is in base.
    return Padding(PAD_FIELD, max(round(target_bytes - base - 2), 0))


def preload(
    settings: Settings, contracts: Contracts, events: int, *, bad_fraction: float, padding: Padding, seed: int = 7
) -> Manifest:
    """Write ``events`` records to the contracts' (empty) topics; ``bad_fraction`` of them bad."""
    maker = registered_maker(
        settings,
        contracts,
        random.Random(seed),  # noqa: S311
        bad_fraction=bad_fraction,
        padding=padding,
    )
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap,
        acks="all",
        linger_ms=50,
        batch_size=1024 * 1024,
        metrics_enabled=False,
        client_id="bench-preload",
    )
    manifest = Manifest(events=events)
    failures: list[BaseException] = []
    bad_futures = []
    started = time.monotonic()
    try:
        for i in range(events):
            draft = maker.make(i)
            manifest.value_bytes += len(draft.value or b"")
            future = producer.send(draft.contract.topic, key=draft.key, value=draft.value)
            if draft.expected == VALID:
                future.add_errback(failures.append)  # only bad records need their coordinates kept
            else:
                bad_futures.append((future, draft.expected))
        producer.flush()
    finally:
        producer.close()
    manifest.seconds = time.monotonic() - started
    if failures:
        raise RuntimeError(f"{len(failures)} records were not written, first: {failures[0]!r}")
    for future, reason in bad_futures:
        meta = future.get(timeout=60)
        manifest.bad[(meta.topic, meta.partition, meta.offset)] = reason
    manifest.end_offsets = end_offsets(settings, [c.topic for c in contracts])
    if sum(manifest.end_offsets.values()) != events:
        raise RuntimeError(f"topics hold {sum(manifest.end_offsets.values())} records, {events} were written")
    return manifest


def end_offsets(settings: Settings, topics: list[str]) -> dict[PartitionKey, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, client_id="bench-offsets")
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return {(tp.topic, tp.partition): offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def manifest_json(manifest: Manifest) -> str:
    return json.dumps(
        {
            "events": manifest.events,
            "value_bytes": manifest.value_bytes,
            "seconds": manifest.seconds,
            "end_offsets": [[t, p, end] for (t, p), end in sorted(manifest.end_offsets.items())],
            "bad": [[t, p, o, reason] for (t, p, o), reason in sorted(manifest.bad.items())],
        }
    )


def manifest_from_json(text: str) -> Manifest:
    raw = json.loads(text)
    return Manifest(
        events=raw["events"],
        value_bytes=raw["value_bytes"],
        seconds=raw["seconds"],
        end_offsets={(t, p): end for t, p, end in raw["end_offsets"]},
        bad={(t, p, o): reason for t, p, o, reason in raw["bad"]},
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.data EVENTS BAD_FRACTION PAD_CHARS`` (settings in LAKEGATE_* variables): preload
    the contracts' topics and print the manifest as JSON. bench/compare.py runs it in the bench virtualenv,
    whose kafka-python has the crc32c extension (about 3 times the produce rate)."""
    events, bad_fraction, pad_chars = (sys.argv[1:] if argv is None else argv)[:3]
    settings = Settings.load()
    contracts = load_contracts(settings.paths.schemas_dir)
    manifest = preload(
        settings, contracts, int(events), bad_fraction=float(bad_fraction), padding=Padding(PAD_FIELD, int(pad_chars))
    )
    print(manifest_json(manifest), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
