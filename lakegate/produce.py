"""`lakegate produce`: publish realistic events through the registry, some deliberately bad.

Each record's Kafka coordinates (topic, partition, offset) and intended outcome are returned, so a test or
the demo can check afterwards that every record ended in exactly one place.
"""

from __future__ import annotations

import io
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import fastavro
from kafka import KafkaProducer

from lakegate.events import EventFactory
from lakegate.logs import kv
from lakegate.settings import Settings
from lakegate.testing.corrupt import KEY_KINDS, VALUE_KINDS, corrupt, corrupt_key
from udfs.contract import Contract, Contracts
from udfs.reasons import Reason
from udfs.registry import RegistryClient
from udfs.wire import frame

log = logging.getLogger(__name__)

VALID = "valid"
# Oversized records need values above the contract's max_record_bytes (1 MiB by default), which the broker
# rejects at its own default limit: not produced unless asked for explicitly.
DEFAULT_BAD_KINDS: tuple[Reason, ...] = tuple(
    sorted((VALUE_KINDS | KEY_KINDS) - {Reason.oversized}, key=str)
)


@dataclass(frozen=True, slots=True)
class ProducedRecord:
    topic: str
    partition: int
    offset: int
    contract: str
    event_id: str
    expected: str  # "valid" or the Reason the router must give
    key: bytes | None = None  # kept for bad records only, to check the dead letter carries them unchanged
    value: bytes | None = None


@dataclass(slots=True)
class ProduceReport:
    records: list[ProducedRecord] = field(default_factory=list)
    seconds: float = 0.0

    def expected_counts(self) -> Counter[str]:
        return Counter(r.expected for r in self.records)

    def per_contract(self) -> Counter[str]:
        return Counter(r.contract for r in self.records)


def subject(contract: Contract) -> str:
    """Confluent's default TopicNameStrategy."""
    return f"{contract.topic}-value"


def register_contracts(registry: RegistryClient, contracts: Contracts) -> dict[str, int]:
    """Register every schema version of every contract (idempotent in the registry); return latest ids."""
    latest: dict[str, int] = {}
    for contract in contracts:
        for text in contract.schema_texts:
            latest[contract.name] = registry.register(subject(contract), text)
    return latest


def produce(
    settings: Settings,
    contracts: Contracts,
    count: int,
    *,
    rate: float | None = None,
    bad_fraction: float = 0.0,
    bad_kinds: Sequence[Reason] = DEFAULT_BAD_KINDS,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> ProduceReport:
    """Produce ``count`` records spread over the contracts; ``bad_fraction`` of them corrupted."""
    if count < 0 or not 0.0 <= bad_fraction <= 1.0:
        raise ValueError("count must be >= 0 and bad_fraction within [0, 1]")
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    registry = RegistryClient(settings.registry_url)
    schema_ids = register_contracts(registry, contracts)
    unknown_id = max(schema_ids.values()) + 100_000
    factories = [EventFactory(c, rng) for c in contracts]
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024,
        client_id="lakegate-produce",
    )
    report = ProduceReport()
    pending: list[tuple[object, str, str, str, tuple[bytes | None, bytes | None] | None]] = []
    started = time.monotonic()
    try:
        for i in range(count):
            factory = factories[i % len(factories)]
            contract = factory.contract
            event = factory.next()
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, cast(Any, contract.reader_schema), event)
            value: bytes | None = frame(schema_ids[contract.name], buffer.getvalue())
            key: bytes | None = str(event[contract.key_field]).encode()
            expected = VALID
            if bad_fraction and rng.random() < bad_fraction:
                kind = rng.choice(list(bad_kinds))
                expected = str(kind)
                if kind in KEY_KINDS:
                    key = corrupt_key(kind, key or b"")
                else:
                    assert value is not None
                    value = corrupt(kind, value, rng=rng, unknown_schema_id=unknown_id, contract=contract)
            future = producer.send(contract.topic, key=key, value=value)
            kept = None if expected == VALID else (key, value)
            pending.append((future, contract.name, str(event[contract.event_id_field]), expected, kept))
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and (i + 1) % 1000 == 0:
                progress(i + 1, count)
        producer.flush()
        for future, name, event_id, expected, kept in pending:
            meta = future.get(timeout=60)  # type: ignore[attr-defined]
            key_kept, value_kept = kept or (None, None)
            report.records.append(ProducedRecord(
                meta.topic, meta.partition, meta.offset, name, event_id, expected, key_kept, value_kept))
    finally:
        producer.close()
    report.seconds = time.monotonic() - started
    if progress:
        progress(count, count)
    log.info("produced", extra=kv(records=count, seconds=round(report.seconds, 1),
                                  bad=sum(1 for r in report.records if r.expected != VALID)))
    return report
