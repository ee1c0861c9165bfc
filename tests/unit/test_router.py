"""Router: exactly one outcome per record, the exact reason for every corruption, never an exception."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from lakegate.testing.corrupt import KEY_KINDS, VALUE_KINDS, corrupt, corrupt_key, zigzag_varint
from udfs.contract import Contract, Contracts
from udfs.decode import value_spans
from udfs.errors import RegistryUnavailable
from udfs.reasons import Reason
from udfs.registry import InMemorySchemas, WriterSchema
from udfs.router import Quarantined, RawRecord, Router, Valid, duplicate, quarantine_headers
from udfs.wire import frame

from .support import EVENTS, avro_body

Encode = Callable[[Contract, dict[str, object]], bytes]
UNKNOWN_ID = 4242
CLOCK_MS = 1_800_000_000_000


def raw(contract: Contract, value: bytes | None, key: bytes | None) -> RawRecord:
    return RawRecord(contract.topic, 3, 1234, 1_700_000_000_999, key, value)


def good(contract: Contract, encode: Encode) -> tuple[dict[str, object], bytes, bytes]:
    event = EVENTS[contract.name]()
    return event, encode(contract, event), str(event[contract.key_field]).encode()


@pytest.fixture
def router(contracts: Contracts, schemas: InMemorySchemas) -> Router:
    return Router(contracts, schemas, clock=lambda: CLOCK_MS)


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_valid_record_gets_envelope(name: str, contracts: Contracts, router: Router, encode: Encode) -> None:
    contract = contracts.by_name(name)
    event, value, key = good(contract, encode)
    result = router.route(raw(contract, value, key))
    assert isinstance(result, Valid)
    assert result.contract == name
    assert result.payload == event
    env = result.envelope
    assert env.event_id == event["event_id"]
    assert env.event_time_ms == event["event_time"]
    assert (env.ingest_time_ms, env.topic, env.partition, env.offset) == (CLOCK_MS, contract.topic, 3, 1234)
    assert (env.schema_version, env.producer_team) == (len(contract.schema_texts), contract.owner_team)


CASES = [(name, kind, seed) for name in ("tickets", "users") for kind in sorted(VALUE_KINDS) for seed in range(8)]


@pytest.mark.parametrize(("name", "kind", "seed"), CASES)
def test_corrupted_value_gets_exactly_its_reason(
    name: str, kind: Reason, seed: int, contracts: Contracts, router: Router, encode: Encode
) -> None:
    contract = contracts.by_name(name)
    event, value, key = good(contract, encode)
    bad = corrupt(kind, value, rng=random.Random(seed), unknown_schema_id=UNKNOWN_ID, contract=contract)
    result = router.route(raw(contract, bad, key))
    assert isinstance(result, Quarantined), result
    assert result.reason is kind, (result.reason, result.message, result.field)
    assert result.contract == name
    assert result.raw.value == bad
    # messages describe the problem, never payload values (PII)
    for text in (result.message, result.field or ""):
        for field in ("subject", "email", "display_name", "customer_id", "event_id"):
            if field in event:
                assert str(event[field]) not in text


@pytest.mark.parametrize(
    ("name", "cel_rule"), [("tickets", "resolved.has_first_response"), ("users", "signed_up.not_after_event")]
)
def test_rule_violations_break_the_cel_rules_too(
    name: str, cel_rule: str, contracts: Contracts, router: Router, encode: Encode
) -> None:
    contract = contracts.by_name(name)
    _, value, key = good(contract, encode)
    broken: dict[str, str | None] = {}
    for seed in range(64):
        bad = corrupt(Reason.rule_violation, value, rng=random.Random(seed), contract=contract)
        result = router.route(raw(contract, bad, key))
        assert isinstance(result, Quarantined) and result.reason is Reason.rule_violation, result
        assert result.rule is not None
        broken[result.rule] = result.field
    expression = next(r for r in contract.rules if r.name == cel_rule).expression
    assert expression is not None
    assert broken.get(cel_rule) == ",".join(expression.fields), broken


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@pytest.mark.parametrize("name", ["tickets", "users"])
def test_key_corruptions(name: str, kind: Reason, contracts: Contracts, router: Router, encode: Encode) -> None:
    contract = contracts.by_name(name)
    _, value, key = good(contract, encode)
    result = router.route(raw(contract, value, corrupt_key(kind, key)))
    assert isinstance(result, Quarantined)
    assert (result.reason, result.field) == (kind, contract.key_field)
    assert key.decode() not in result.message


def test_empty_key_is_missing_key(contracts: Contracts, router: Router, encode: Encode) -> None:
    contract = contracts.by_name("tickets")
    _, value, _ = good(contract, encode)
    result = router.route(raw(contract, value, b""))
    assert isinstance(result, Quarantined)
    assert result.reason is Reason.missing_key


def test_no_contract(router: Router) -> None:
    result = router.route(RawRecord("unknown.topic", 0, 0, 0, b"k", b"\x00\x00\x00\x00\x01"))
    assert isinstance(result, Quarantined)
    assert (result.reason, result.contract, result.schema_id) == (Reason.no_contract, None, None)


def test_oversized_is_checked_before_decoding(contracts: Contracts, router: Router) -> None:
    contract = contracts.by_name("users")
    result = router.route(raw(contract, b"\xff" * (contract.max_record_bytes + 1), b"U-42"))
    assert isinstance(result, Quarantined)
    assert result.reason is Reason.oversized  # not bad_magic_byte


def test_schema_id_is_reported_once_known(contracts: Contracts, router: Router, encode: Encode) -> None:
    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    result = router.route(raw(contract, value[:-1], key))
    assert isinstance(result, Quarantined)
    assert result.reason is Reason.truncated_body
    assert result.schema_id == int.from_bytes(value[1:5], "big")
    assert result.error_class in {"EOFError", "IndexError"}  # what fastavro raised


def test_old_writer_version_is_read_through_new_reader(contracts: Contracts) -> None:
    users = contracts.by_name("users")
    v1 = json.loads(users.schema_texts[0])
    v0 = {**v1, "fields": [f for f in v1["fields"] if f["name"] not in ("locale", "is_agent")]}
    source = InMemorySchemas()
    old_id = source.add(json.dumps(v0))
    event = {k: v for k, v in EVENTS["users"]().items() if k not in ("locale", "is_agent")}
    router = Router(contracts, source)
    result = router.route(raw(users, frame(old_id, avro_body(v0, event)), b"U-42"))
    assert isinstance(result, Valid)
    assert (result.payload["locale"], result.payload["is_agent"]) == ("en-US", False)
    assert result.envelope.schema_version is None  # the writer schema is not a listed contract version


def test_registry_outage_propagates(contracts: Contracts, encode: Encode) -> None:
    class Down:
        def writer_schema(self, schema_id: int) -> WriterSchema:
            raise RegistryUnavailable("registry down")

    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    with pytest.raises(RegistryUnavailable):
        Router(contracts, Down()).route(raw(contract, value, key))


def test_unexpected_error_becomes_schema_mismatch(contracts: Contracts, encode: Encode) -> None:
    class Broken:
        def writer_schema(self, schema_id: int) -> WriterSchema:
            return WriterSchema(schema_id, "{}", object())  # nonsense parsed schema

    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    result = Router(contracts, Broken()).route(raw(contract, value, key))
    assert isinstance(result, Quarantined)
    assert result.reason is Reason.schema_mismatch
    assert result.error_class != "BadRecord"


def test_random_bytes_never_raise(contracts: Contracts, router: Router, encode: Encode) -> None:
    rng = random.Random(20240601)
    outcomes: set[Reason] = set()
    for contract in contracts:
        _, value, key = good(contract, encode)
        header = value[:5]
        for i in range(2500):
            if i % 3 == 0:  # noise
                candidate = rng.randbytes(rng.randrange(0, 120))
            elif i % 3 == 1:  # noise behind a valid header
                candidate = header + rng.randbytes(rng.randrange(0, 120))
            else:  # a few flipped bytes of a good value
                mutable = bytearray(value)
                for _ in range(rng.randint(1, 4)):
                    mutable[rng.randrange(5, len(mutable))] = rng.randrange(256)
                candidate = bytes(mutable)
            result = router.route(raw(contract, candidate, key))
            assert isinstance(result, Valid | Quarantined)
            if isinstance(result, Quarantined):
                outcomes.add(result.reason)
    assert {Reason.bad_magic_byte, Reason.truncated_body, Reason.schema_mismatch} <= outcomes


def test_quarantine_headers(contracts: Contracts, router: Router, encode: Encode) -> None:
    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    q = router.route(raw(contract, value + b"\x01", key))
    assert isinstance(q, Quarantined)
    headers = dict(quarantine_headers(q, "job-7"))
    assert headers == {
        "lg.reason": b"trailing_bytes",
        "lg.error_class": b"BadRecord",
        "lg.message": q.message.encode(),
        "lg.source.topic": b"support.tickets.v1",
        "lg.source.partition": b"3",
        "lg.source.offset": b"1234",
        "lg.source.timestamp": b"1700000000999",
        "lg.schema_id": str(q.schema_id).encode(),
        "lg.contract": b"tickets",
        "lg.job_id": b"job-7",
    }
    assert "lg.field" not in headers  # None values are omitted
    field_headers = dict(quarantine_headers(router.route(raw(contract, value, b"x")), "j"))  # type: ignore[arg-type]
    assert field_headers["lg.field"] == b"ticket_id"


def test_duplicate_verdict_names_the_event_id_field_and_keeps_the_record(
    contracts: Contracts, router: Router, encode: Encode
) -> None:
    contract = contracts.by_name("users")
    _, value, key = good(contract, encode)
    record = raw(contract, value, key)
    valid = router.route(record)
    assert isinstance(valid, Valid)
    q = duplicate(record, valid, contract)
    assert (q.raw, q.reason, q.field, q.contract) == (record, Reason.duplicate_event_id, "event_id", "users")
    assert (q.error_class, q.schema_id) == ("DuplicateEventId", valid.envelope.schema_id)
    assert f"{contract.dedupe_window_s} s" in q.message
    assert valid.envelope.event_id not in q.message, "messages never carry payload values"
    headers = dict(quarantine_headers(q, "j"))
    assert (headers["lg.reason"], headers["lg.field"]) == (b"duplicate_event_id", b"event_id")


def test_duplicate_reason_says_it_is_informational() -> None:
    text = Reason.duplicate_event_id.description
    assert "Informational, not a data error" in text and "retried" in text


@pytest.mark.parametrize("index", [-1, -4, 4])
def test_a_strict_router_quarantines_an_enum_index_out_of_range_that_decoding_maps_to_a_symbol(
    index: int, contracts: Contracts, schemas: InMemorySchemas, router: Router, encode: Encode
) -> None:
    """The replay reads bodies with the strict router: fastavro maps index -1 to the last symbol, and the
    replay has no JVM half to catch it (the ingest job's JVM half checks every body it audits)."""
    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    span = next(s for s in value_spans(value[5:], contract.reader_schema_json) if s.path == "event_type")
    corrupted = value[: 5 + span.start] + zigzag_varint(index) + value[5 + span.data_start :]
    strict = Router(contracts, schemas, clock=lambda: CLOCK_MS, strict_indexes=True)
    result = strict.route(raw(contract, corrupted, key))
    assert isinstance(result, Quarantined)
    assert (result.reason, result.field) == (Reason.schema_mismatch, "event_type")
    if index < 0:  # what the lenient router makes of it: another symbol, valid
        assert isinstance(router.route(raw(contract, corrupted, key)), Valid)


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_rule_violations_taken_in_turn_break_every_breakable_rule_once_per_round(
    name: str, contracts: Contracts, router: Router, encode: Encode
) -> None:
    contract = contracts.by_name(name)
    _, value, key = good(contract, encode)
    broken = []
    for turn in range(len(contract.rules)):
        bad = corrupt(Reason.rule_violation, value, rng=random.Random(turn), contract=contract, rule_turn=turn)
        result = router.route(raw(contract, bad, key))
        assert isinstance(result, Quarantined) and result.reason is Reason.rule_violation, result
        broken.append(result.rule)
    protected = {contract.key_field, contract.event_id_field, contract.event_time_field}
    for index, rule in enumerate(contract.rules):
        if rule.expression is None and rule.field in protected:
            continue
        # A value that breaks a rule may break an earlier rule on the same field first (a long email's pattern).
        same_field = {r.name for r in contract.rules[: index + 1] if r.field == rule.field}
        assert same_field & set(broken), (rule.name, broken)
    assert broken[-1] == contract.rules[-1].name  # each shipped contract's last rule is its CEL rule
