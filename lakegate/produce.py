"""`lakegate produce`: publish realistic events through the registry, some deliberately bad.

Each record's Kafka coordinates (topic, partition, offset) and intended outcome are returned, so a test or
the demo can check afterwards that every record ended in exactly one place.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import fastavro
from kafka import KafkaProducer

from lakegate import kafka_clients
from lakegate.corrupt import KEY_KINDS, VALUE_KINDS, corrupt, corrupt_key
from lakegate.events import EventFactory, Padding
from lakegate.logs import kv
from lakegate.settings import Settings
from udfs.contract import Contract, Contracts
from udfs.reasons import Reason
from udfs.registry import RegistryClient
from udfs.wire import frame

log = logging.getLogger(__name__)

VALID = "valid"
DUPLICATE = str(Reason.duplicate_event_id)
DEFAULT_BAD_KINDS: tuple[Reason, ...] = tuple(sorted(VALUE_KINDS | KEY_KINDS | {Reason.incompatible_schema}, key=str))
# An oversized record must exceed the contract's max_record_bytes yet fit the broker's message limit (1 MB
# by default): for contracts allowing more than this, another kind of bad record is produced instead.
OVERSIZED_LIMIT = 512 * 1024


@dataclass(frozen=True, slots=True)
class ProducedRecord:
    topic: str
    partition: int
    offset: int
    contract: str
    event_id: str
    expected: str  # "valid" or the Reason the router must give
    version: int = 0  # 1-based contract schema version the record was written with
    key: bytes | None = None  # kept for bad records only, to check the dead letter carries them unchanged
    value: bytes | None = None
    timestamp_ms: int = 0  # the record's Kafka timestamp (producer send time): latency benchmarks


@dataclass(slots=True)
class ProduceReport:
    records: list[ProducedRecord] = field(default_factory=list)
    seconds: float = 0.0

    def expected_counts(self) -> Counter[str]:
        return Counter(r.expected for r in self.records)

    def per_contract(self) -> Counter[str]:
        return Counter(r.contract for r in self.records)


class Registrar(Protocol):
    def register(self, subject: str, schema_text: str) -> int:
        """Register (or look up) a schema under a subject; return its global id."""
        ...


def register_versions(registry: Registrar, contracts: Contracts) -> dict[str, list[int]]:
    """Register every schema version of every contract, oldest first (idempotent in the registry).

    Returns the registry ids per contract, in version order.
    """
    return {c.name: [registry.register(c.subject, text) for text in c.schema_texts] for c in contracts}


def incompatible_variant(contract: Contract) -> dict[str, Any] | None:
    """The contract's reader schema minus a field the reader needs and has no default for.

    A producer writing with it (a breaking change registered without `lakegate contracts check`) makes
    records the router must quarantine as ``incompatible_schema``.
    """
    schema = json.loads(contract.schema_texts[-1])
    protected = {contract.key_field, contract.event_id_field, contract.event_time_field}
    for candidate in schema["fields"]:
        if candidate["name"] not in protected and "default" not in candidate:
            schema["fields"] = [f for f in schema["fields"] if f is not candidate]
            return cast(dict[str, Any], schema)
    return None


def register_contracts(registry: RegistryClient, contracts: Contracts) -> dict[str, int]:
    """Register every version; return the latest id per contract."""
    return {name: ids[-1] for name, ids in register_versions(registry, contracts).items()}


@dataclass(frozen=True, slots=True)
class _Draft:
    """One record about to be sent, and what the router must make of it."""

    contract: Contract
    event_id: str
    version: int
    key: bytes | None
    value: bytes | None
    expected: str


class RecordMaker:
    """Builds framed records for the contracts, some deliberately corrupted. Deterministic per seed."""

    def __init__(
        self,
        contracts: Contracts,
        version_ids: dict[str, list[int]],
        incompatible: dict[str, tuple[int, Any]],
        rng: random.Random,
        *,
        bad_fraction: float,
        bad_kinds: Sequence[Reason],
        all_versions: bool,
        duplicate_fraction: float = 0.0,
        unknown_schema_id: int | None = None,
        padding: Padding | None = None,
    ) -> None:
        self._rng = rng
        self._ids = version_ids
        self._incompatible = incompatible  # contract → (schema id, parsed schema)
        self._writers = {c.name: [fastavro.parse_schema(json.loads(t)) for t in c.schema_texts] for c in contracts}
        self._factories = [EventFactory(c, rng, padding=padding) for c in contracts]
        self._unknown_id = unknown_schema_id or max(max(ids) for ids in version_ids.values()) + 100_000
        self._bad_fraction, self._bad_kinds, self._all_versions = bad_fraction, list(bad_kinds), all_versions
        self._duplicate_fraction = duplicate_fraction
        self._rule_turns: Counter[str] = Counter()
        # Its own generator, seeded from (without advancing) the main one: the same seed makes the same
        # records whether or not duplicates are asked for, the retries come on top.
        self._retry_rng = random.Random(repr(rng.getstate()))  # noqa: S311 - test data, not cryptography

    def drafts(self, i: int) -> list[_Draft]:
        """Record ``i``, followed by its retry (same key and value bytes) for ``duplicate_fraction`` of valid ones."""
        draft = self.make(i)
        retried = (
            draft.expected == VALID
            and self._duplicate_fraction > 0
            and self._retry_rng.random() < self._duplicate_fraction
        )
        return [draft, dataclasses.replace(draft, expected=DUPLICATE)] if retried else [draft]

    def make(self, i: int) -> _Draft:
        factory = self._factories[i % len(self._factories)]
        contract, rng = factory.contract, self._rng
        event = factory.next()
        versions = len(contract.schema_texts)
        version = rng.randrange(versions) + 1 if self._all_versions else versions
        writer = self._writers[contract.name][version - 1]
        buffer = io.BytesIO()
        # Fields a version does not have are ignored by the writer: events carry the latest version's fields,
        # and under their old names too where the contract renamed one, for the versions before the rename.
        written = {**event, **{old: event.get(new) for old, new in contract.renames.items()}}
        fastavro.schemaless_writer(buffer, cast(Any, writer), written)
        value: bytes | None = frame(self._ids[contract.name][version - 1], buffer.getvalue())
        key: bytes | None = str(event[contract.key_field]).encode()
        expected = VALID
        if self._bad_fraction and rng.random() < self._bad_fraction:
            kind = self._bad_kind(contract)
            expected = str(kind)
            if kind is Reason.incompatible_schema:
                schema_id, broken = self._incompatible[contract.name]
                buffer = io.BytesIO()
                fastavro.schemaless_writer(buffer, broken, event)
                value = frame(schema_id, buffer.getvalue())
            elif kind in KEY_KINDS:
                key = corrupt_key(kind, key or b"")
            else:
                assert value is not None
                turn = self._rule_turns[contract.name]
                self._rule_turns[contract.name] += kind is Reason.rule_violation
                value = corrupt(
                    kind,
                    value,
                    rng=rng,
                    unknown_schema_id=self._unknown_id,
                    contract=contract,
                    writer_schema=writer,
                    rule_turn=turn,  # rule violations take the contract's rules in turn: each gets broken
                )
        return _Draft(contract, str(event[contract.event_id_field]), version, key, value, expected)

    def _bad_kind(self, contract: Contract) -> Reason:
        while True:
            kind = self._rng.choice(self._bad_kinds)
            if kind is Reason.oversized and contract.max_record_bytes > OVERSIZED_LIMIT:
                continue
            if kind is Reason.incompatible_schema and contract.name not in self._incompatible:
                continue
            return kind


def registered_maker(
    settings: Settings,
    contracts: Contracts,
    rng: random.Random,
    *,
    bad_fraction: float,
    bad_kinds: Sequence[Reason] = DEFAULT_BAD_KINDS,
    all_versions: bool = False,
    duplicate_fraction: float = 0.0,
    padding: Padding | None = None,
    registry: Registrar | None = None,
    unknown_schema_id: int | None = None,
) -> RecordMaker:
    """A :class:`RecordMaker` whose schema ids are the registry's (``registry``, default: the settings'):
    every contract version registered, and for ``incompatible_schema`` records a breaking variant of each
    contract under a subject of its own."""
    registry = registry or settings.registry_client()
    incompatible: dict[str, tuple[int, Any]] = {}
    if Reason.incompatible_schema in bad_kinds:
        for contract in contracts:
            variant = incompatible_variant(contract)
            if variant is not None:
                # Its own subject: the contract's subject may enforce compatibility and refuse it.
                schema_id = registry.register(f"lakegate-generator.{contract.name}.incompatible", json.dumps(variant))
                incompatible[contract.name] = (schema_id, fastavro.parse_schema(variant))
    return RecordMaker(
        contracts,
        register_versions(registry, contracts),
        incompatible,
        rng,
        bad_fraction=bad_fraction,
        bad_kinds=bad_kinds,
        all_versions=all_versions,
        duplicate_fraction=duplicate_fraction,
        padding=padding,
        unknown_schema_id=unknown_schema_id,
    )


def produce(
    settings: Settings,
    contracts: Contracts,
    count: int,
    *,
    rate: float | None = None,
    bad_fraction: float = 0.0,
    bad_kinds: Sequence[Reason] = DEFAULT_BAD_KINDS,
    seed: int = 7,
    all_versions: bool = False,
    duplicate_fraction: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    registry: Registrar | None = None,
    unknown_schema_id: int | None = None,
    padding: Padding | None = None,
) -> ProduceReport:
    """Produce ``count`` records spread over the contracts; ``bad_fraction`` of them corrupted.

    With ``all_versions`` each record is written with a randomly chosen schema version of its contract
    (producers on v1 and v2 at the same time); otherwise with the latest. ``registry``: where the schemas
    are registered (default: the settings' registry); ``unknown_schema_id``: the id records of the
    ``unknown_schema_id`` kind carry (default: one well above every registered id). ``duplicate_fraction`` of the
    valid records are sent a second time right after the original, unchanged (a producer retry): the
    report then holds more than ``count`` records, the retries with ``expected="duplicate_event_id"``.
    ``padding`` fills a free-text field of the contracts that have it (see :class:`lakegate.events.Padding`).
    """
    if count < 0 or not 0.0 <= bad_fraction <= 1.0 or not 0.0 <= duplicate_fraction <= 1.0:
        raise ValueError("count must be >= 0, bad_fraction and duplicate_fraction within [0, 1]")
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    maker = registered_maker(
        settings,
        contracts,
        rng,
        bad_fraction=bad_fraction,
        bad_kinds=bad_kinds,
        all_versions=all_versions,
        duplicate_fraction=duplicate_fraction,
        padding=padding,
        registry=registry,
        unknown_schema_id=unknown_schema_id,
    )
    producer = KafkaProducer(
        **kafka_clients.python_config(settings),
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        client_id="lakegate-produce",
    )
    # Connected and holding every topic's metadata before the first send: the first records' timestamps
    # (and a rate's pacing) then measure sending, not the client's start.
    for topic in sorted({c.topic for c in contracts}) if count else ():
        producer.partitions_for(topic)
    report = ProduceReport()
    pending: list[tuple[Any, _Draft]] = []
    started = time.monotonic()
    try:
        for i in range(count):
            for draft in maker.drafts(i):
                pending.append((producer.send(draft.contract.topic, key=draft.key, value=draft.value), draft))
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and (i + 1) % 1000 == 0:
                progress(i + 1, count)
        producer.flush()
        for future, d in pending:
            meta = future.get(timeout=60)
            bad = d.expected != VALID
            report.records.append(
                ProducedRecord(
                    meta.topic,
                    meta.partition,
                    meta.offset,
                    d.contract.name,
                    d.event_id,
                    d.expected,
                    d.version,
                    d.key if bad else None,
                    d.value if bad else None,
                    meta.timestamp,
                )
            )
    finally:
        producer.close()
    report.seconds = time.monotonic() - started
    if progress and count % 1000:
        progress(count, count)
    counts = report.expected_counts()
    log.info(
        "produced",
        extra=kv(
            records=len(report.records),
            seconds=round(report.seconds, 1),
            duplicates=counts[DUPLICATE],
            bad=len(report.records) - counts[VALID] - counts[DUPLICATE],
        ),
    )
    return report
