"""Route each Kafka record to exactly one place: the audit log (:class:`Valid`) or quarantine.

:meth:`Router.route` never raises for bad data: every problem becomes a :class:`Quarantined` with a
:class:`~udfs.reasons.Reason`. Only infrastructure faults (:class:`~udfs.errors.RegistryUnavailable`)
propagate, so Flink restarts from the checkpoint instead of quarantining good records. Quarantine messages
describe the problem and never carry payload values (they may be PII).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from udfs.contract import Contract, Contracts
from udfs.decode import check_indexes, decode
from udfs.envelope import Envelope
from udfs.errors import BadRecord, RegistryUnavailable
from udfs.reasons import Reason
from udfs.registry import SchemaSource
from udfs.rules import Check, Rule, compile_rules, first_violation
from udfs.wire import parse_frame


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Valid:
    contract: str
    envelope: Envelope
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class Quarantined:
    raw: RawRecord
    reason: Reason
    message: str
    field: str | None
    error_class: str
    schema_id: int | None
    contract: str | None
    rule: str | None = None  # the contract rule's name, for Reason.rule_violation


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds: ingest times, quarantine times."""
    return time.time_ns() // 1_000_000


class Router:
    def __init__(
        self,
        contracts: Contracts,
        schemas: SchemaSource,
        clock: Callable[[], int] = now_ms,
        *,
        strict_indexes: bool = False,
    ) -> None:
        """``strict_indexes``: also check every enum and union index of a body against its writer schema
        (:func:`udfs.decode.check_indexes`), for callers whose audit rows are not decoded again on the JVM
        (the replay): the ingest job's JVM half checks its bodies itself."""
        self._contracts = contracts
        self._strict_indexes = strict_indexes
        self._schemas = schemas
        self._clock = clock
        self._versions: dict[tuple[str, int], int | None] = {}
        self._checks: dict[str, tuple[tuple[Rule, Check], ...]] = {c.name: compile_rules(c.rules) for c in contracts}

    def route(self, raw: RawRecord) -> Valid | Quarantined:
        contract = self._contracts.by_topic(raw.topic)
        if contract is None:
            return Quarantined(
                raw,
                Reason.no_contract,
                f"no contract covers topic {raw.topic!r}",
                None,
                "BadRecord",
                None,
                None,
            )
        state: list[int] = []  # schema id once known
        try:
            return self._route(raw, contract, state)
        except RegistryUnavailable:
            raise
        except BadRecord as bad:
            cause = bad.__cause__
            error_class = type(cause).__name__ if cause is not None else "BadRecord"
            return Quarantined(
                raw,
                bad.reason,
                bad.message,
                bad.field,
                error_class,
                state[0] if state else None,
                contract.name,
                bad.rule,
            )
        except Exception as exc:  # a bug or an unforeseen decoder failure must not stop the job
            return Quarantined(
                raw,
                Reason.schema_mismatch,
                f"unexpected {type(exc).__name__} while reading the record",
                None,
                type(exc).__name__,
                state[0] if state else None,
                contract.name,
            )

    def _route(self, raw: RawRecord, contract: Contract, state: list[int]) -> Valid:
        value = raw.value
        if value is not None and len(value) > contract.max_record_bytes:
            raise BadRecord(
                Reason.oversized,
                f"value is {len(value)} bytes, the contract allows {contract.max_record_bytes}",
            )
        frame = parse_frame(value)
        state.append(frame.schema_id)
        writer = self._schemas.writer_schema(frame.schema_id)
        payload = decode(frame.body, writer, contract.reader_schema, max_length=contract.max_record_bytes)
        if self._strict_indexes:
            check_indexes(frame.body, writer, max_length=contract.max_record_bytes)

        event_id = payload.get(contract.event_id_field)
        if event_id is None or event_id == "":
            raise BadRecord(Reason.missing_event_id, "event id is null or empty", contract.event_id_field)
        event_time = payload.get(contract.event_time_field)
        if not isinstance(event_time, int) or isinstance(event_time, bool):
            raise BadRecord(Reason.missing_event_time, "event time is null", contract.event_time_field)
        if not raw.key:
            raise BadRecord(Reason.missing_key, "Kafka key is null or empty", contract.key_field)
        if raw.key != str(payload.get(contract.key_field)).encode("utf-8"):
            raise BadRecord(Reason.wrong_key, "Kafka key differs from the payload's key field", contract.key_field)
        ingest_time = self._clock()
        if event_time > ingest_time + contract.max_event_time_skew_ms:
            raise BadRecord(
                Reason.event_time_skew,
                f"event time is more than {contract.max_event_time_skew_ms} ms ahead of ingest time",
                contract.event_time_field,
            )
        violation = first_violation(self._checks[contract.name], payload)
        if violation is not None:
            rule, problem = violation
            raise BadRecord(Reason.rule_violation, f"rule {rule.name} failed: {problem}", rule.field, rule.name)

        version_key = (contract.name, frame.schema_id)
        if version_key not in self._versions:
            self._versions[version_key] = contract.version_of(writer.text)
        envelope = Envelope(
            event_id=str(event_id),
            event_time_ms=event_time,
            ingest_time_ms=ingest_time,
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            schema_id=frame.schema_id,
            schema_version=self._versions[version_key],
            producer_team=contract.owner_team,
        )
        return Valid(contract.name, envelope, payload)


def duplicate(raw: RawRecord, valid: Valid, contract: Contract) -> Quarantined:
    """The quarantine verdict for a valid record whose event id the contract already accepted (dedupe).

    Deciding *whether* it is a duplicate needs the job's keyed state; this only builds the verdict.
    """
    return Quarantined(
        raw,
        Reason.duplicate_event_id,
        duplicate_message(contract),
        contract.event_id_field,
        "DuplicateEventId",
        valid.envelope.schema_id,
        valid.contract,
    )


def duplicate_message(contract: Contract) -> str:
    """The quarantine message of a duplicate: the same for every duplicate of the contract, no payload values."""
    return (
        f"event id already accepted within the contract's dedupe window of {contract.dedupe_window_s} s "
        "(a producer retry; the first occurrence is audited)"
    )


def quarantine_headers(q: Quarantined, job_id: str) -> list[tuple[str, bytes]]:
    """Kafka headers for the dead-letter topic (UTF-8 values; None values are omitted)."""
    values: list[tuple[str, object]] = [
        ("lg.reason", q.reason.value),
        ("lg.field", q.field),
        ("lg.rule", q.rule),
        ("lg.error_class", q.error_class),
        ("lg.message", q.message),
        ("lg.source.topic", q.raw.topic),
        ("lg.source.partition", q.raw.partition),
        ("lg.source.offset", q.raw.offset),
        ("lg.source.timestamp", q.raw.timestamp_ms),
        ("lg.schema_id", q.schema_id),
        ("lg.contract", q.contract),
        ("lg.job_id", job_id),
    ]
    return [(name, str(value).encode("utf-8")) for name, value in values if value is not None]
