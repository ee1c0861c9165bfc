"""BatchRouter (udfs/hotpath.py): the per-record Router's decisions, written as result-batch entries.

The oracle is the per-record path: :class:`udfs.router.Router` decides, quarantined records become
``quarantine_values``/``quarantine_headers``, valid ones :func:`udfs.readmodels.prepare` per model.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import fastavro
import pytest

from lakegate.events import EventFactory
from lakegate.testing.corrupt import KEY_KINDS, VALUE_KINDS, corrupt, corrupt_key, zigzag_varint
from udfs import hotpath
from udfs.batch import (
    BODY_AS_VALUE,
    BODY_FOLLOWS,
    DELETE,
    NO_TIMESTAMP,
    NO_WINDOW,
    UPSERT,
    InputRecord,
    QuarantinedEntry,
    ValidEntry,
    read_result,
    write_input,
)
from udfs.contract import Contract, Contracts, load_contracts
from udfs.decode import plain_schema, value_spans
from udfs.errors import RegistryUnavailable
from udfs.hotpath import BatchRouter, BatchStats, PlanIndexes, _HmacSha256, _key_text
from udfs.quarantine import QUARANTINE_COLUMNS, quarantine_values
from udfs.readmodels import DELETE as V1_DELETE
from udfs.readmodels import AggregateModel, key_text, prepare
from udfs.reasons import Reason
from udfs.registry import InMemorySchemas, WriterSchema
from udfs.router import Quarantined, RawRecord, Router, Valid, quarantine_headers
from udfs.rowcodec import RowEncoder
from udfs.wire import frame

from .support import EVENTS, SCHEMAS, avro_body, plan_indexes

Encode = Callable[[Contract, dict[str, object]], bytes]
CLOCK_MS = 1_800_000_000_000
JOB = "job-7"
SALT = b"unit-test-salt-0123456789"
PARTITION, OFFSET, TIMESTAMP = 3, 1234, 1_700_000_000_999


@pytest.fixture
def indexes(contracts: Contracts) -> PlanIndexes:
    return plan_indexes(contracts)


@pytest.fixture
def batch_router(contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes) -> BatchRouter:
    return BatchRouter(contracts, schemas, indexes, SALT, JOB, clock=lambda: CLOCK_MS)


@pytest.fixture
def router(contracts: Contracts, schemas: InMemorySchemas) -> Router:
    return Router(contracts, schemas, clock=lambda: CLOCK_MS)


def record(
    indexes: PlanIndexes, contract: Contract, value: bytes | None, key: bytes | None, offset: int = OFFSET
) -> InputRecord:
    return InputRecord(indexes.topics.index(contract.topic), PARTITION, offset, TIMESTAMP, key, value)


def route_one(batch_router: BatchRouter, item: InputRecord) -> ValidEntry | QuarantinedEntry:
    (entry,) = read_result(batch_router.route(write_input([item])))
    return entry


def good(contract: Contract, encode: Encode) -> tuple[dict[str, object], bytes, bytes]:
    event = EVENTS[contract.name]()
    return event, encode(contract, event), str(event[contract.key_field]).encode()


def raw_of(indexes: PlanIndexes, item: InputRecord) -> RawRecord:
    timestamp = 0 if item.timestamp_ms == NO_TIMESTAMP else item.timestamp_ms
    return RawRecord(indexes.topics[item.topic_index], item.partition, item.offset, timestamp, item.key, item.value)


def assert_same_quarantine(entry: ValidEntry | QuarantinedEntry, expected: Quarantined) -> None:
    """The entry holds exactly the row and headers the per-record path writes for ``expected``."""
    assert isinstance(entry, QuarantinedEntry), entry
    row = RowEncoder(QUARANTINE_COLUMNS).encode(quarantine_values(expected, JOB, CLOCK_MS))
    assert entry.row == row
    assert list(entry.headers) == quarantine_headers(expected, JOB)


def assert_same_events(
    entry: ValidEntry, valid: Valid, contract: Contract, indexes: PlanIndexes, salt: bytes = SALT
) -> None:
    """The entry's model events are what ``prepare`` computes for each model of the contract, in plan order."""
    expected = []
    for model in contract.read_models:
        event = prepare(model, contract, valid.payload, valid.envelope, salt)
        if event is None:
            continue
        windowed = isinstance(model, AggregateModel) and model.window is not None
        index = next(i for i, m in enumerate(indexes.models) if m.name == model.name)
        # A delete's row holds the key fields only: its other treated values are not compared.
        row = {f: event.row[f] for f in indexes.models[index].treated if f in event.row}
        op = DELETE if event.op == V1_DELETE else UPSERT
        expected.append((index, op, event.order[0], event.key[-1] if windowed else NO_WINDOW, key_text(event.key), row))
    assert len(entry.model_events) == len(expected)
    for got, (index, op, order, window_start, key, row) in zip(entry.model_events, expected, strict=True):
        assert (got.model_index, got.op, got.order, got.window_start, got.key_text) == (
            index,
            op,
            order,
            window_start,
            key,
        )
        treated = indexes.models[index].treated
        assert len(got.treated) == len(treated)
        values = {f: None if v is None else v.decode() for f, v in zip(treated, got.treated, strict=True)}
        assert {f: values[f] for f in row} == row


# -- valid records ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_valid_record_entry(
    name: str, contracts: Contracts, batch_router: BatchRouter, router: Router, indexes: PlanIndexes, encode: Encode
) -> None:
    contract = contracts.by_name(name)
    event, value, key = good(contract, encode)
    item = record(indexes, contract, value, key)
    entry = route_one(batch_router, item)
    valid = router.route(raw_of(indexes, item))
    assert isinstance(valid, Valid) and isinstance(entry, ValidEntry)
    assert entry.contract_index == [c.name for c in indexes.contracts].index(name)
    assert indexes.topics[entry.topic_index] == contract.topic
    assert (entry.partition, entry.offset, entry.timestamp_ms) == (PARTITION, OFFSET, TIMESTAMP)
    assert entry.schema_id == int.from_bytes(value[1:5], "big")
    assert entry.schema_version == len(contract.schema_texts)
    assert (entry.ingest_time_ms, entry.event_time_ms, entry.event_id) == (
        CLOCK_MS,
        event["event_time"],
        event["event_id"],
    )
    assert (entry.key, entry.value) == (key, value)
    assert (entry.body_kind, entry.body) == (BODY_AS_VALUE, None)  # the writer schema is the reader schema
    assert_same_events(entry, valid, contract, indexes)


def test_kafka_timestamp_passes_through_unchanged(
    contracts: Contracts, batch_router: BatchRouter, indexes: PlanIndexes, encode: Encode
) -> None:
    contract = contracts.by_name("users")
    _, value, key = good(contract, encode)
    item = record(indexes, contract, value, key)._replace(timestamp_ms=NO_TIMESTAMP)
    entry = route_one(batch_router, item)
    assert isinstance(entry, ValidEntry)
    assert entry.timestamp_ms == NO_TIMESTAMP


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_model_events_equal_prepare_over_many_events(
    name: str, contracts: Contracts, batch_router: BatchRouter, router: Router, indexes: PlanIndexes, encode: Encode
) -> None:
    contract = contracts.by_name(name)
    factory = EventFactory(contract, random.Random(11), keys=40)
    items = []
    for i in range(300):
        event = factory.next(now_ms=CLOCK_MS - 60_000)
        items.append(record(indexes, contract, encode(contract, event), str(event[contract.key_field]).encode(), i))
    entries = read_result(batch_router.route(write_input(items)))
    ops = set()
    for item, entry in zip(items, entries, strict=True):
        valid = router.route(raw_of(indexes, item))
        assert isinstance(valid, Valid) and isinstance(entry, ValidEntry)
        assert_same_events(entry, valid, contract, indexes)
        ops |= {e.op for e in entry.model_events}
    if name == "tickets":
        assert ops == {UPSERT, DELETE}


def test_pii_values_are_treated(
    contracts: Contracts, batch_router: BatchRouter, indexes: PlanIndexes, encode: Encode
) -> None:
    contract = contracts.by_name("users")
    event, value, key = good(contract, encode)
    entry = route_one(batch_router, record(indexes, contract, value, key))
    assert isinstance(entry, ValidEntry)
    (model_event,) = entry.model_events
    treated = dict(zip(indexes.models[model_event.model_index].treated, model_event.treated, strict=True))
    assert set(treated) == {"email", "display_name"}
    assert treated["display_name"] == b"S***"
    email = treated["email"]
    assert email is not None and len(email) == 64 and str(event["email"]).encode() not in email


def hashed_key_contracts(tmp_path: Path) -> Contracts:
    """The repo's contracts plus read models keyed by a hashed field (a current model, a windowed aggregate),
    by a boolean and a long, and by a boolean alone."""
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, root)
    toml = root / "users" / "contract.toml"
    toml.write_text(
        toml.read_text()
        + """
[[read_models]]
name = "users_by_email"
kind = "current"
key = ["email"]
fields = ["display_name", "user_id"]
event_type_field = "event_type"
upsert_on = ["SIGNED_UP", "PROFILE_UPDATED"]
delete_on = ["DELETED"]
order_by = "event_time"

[[read_models]]
name = "signups_per_email_and_plan"
kind = "aggregate"
group_by = ["email", "plan"]
window = { size_s = 60 }
measures = [{ name = "events", fn = "count" }, { name = "last_name", fn = "latest", field = "display_name" }]
order_by = "event_time"

[[read_models]]
name = "agents_by_time"
kind = "aggregate"
group_by = ["is_agent", "event_time"]
measures = [{ name = "events", fn = "count" }]

[[read_models]]
name = "users_by_agent_flag"
kind = "current"
key = ["is_agent"]
fields = ["email"]
event_type_field = "event_type"
upsert_on = ["SIGNED_UP"]
order_by = "event_time"
"""
    )
    return load_contracts(root)


def test_hashed_model_keys_equal_prepare(tmp_path: Path) -> None:
    contracts = hashed_key_contracts(tmp_path)
    contract = contracts.by_name("users")
    schemas = InMemorySchemas()
    schema_id = schemas.add(contract.schema_texts[-1])
    indexes = plan_indexes(contracts)
    batch_router = BatchRouter(contracts, schemas, indexes, SALT, JOB, clock=lambda: CLOCK_MS)
    router = Router(contracts, schemas, clock=lambda: CLOCK_MS)
    factory = EventFactory(contract, random.Random(5), keys=20)
    items = []
    for i in range(200):
        event = factory.next(now_ms=CLOCK_MS)
        if i % 7 == 0:
            event["display_name"] = "Ünïcode — 名前"
        body = avro_body(json.loads(contract.schema_texts[-1]), event)
        items.append(record(indexes, contract, frame(schema_id, body), str(event["user_id"]).encode(), i))
    entries = read_result(batch_router.route(write_input(items)))
    keys = set()
    for item, entry in zip(items, entries, strict=True):
        valid = router.route(raw_of(indexes, item))
        assert isinstance(valid, Valid) and isinstance(entry, ValidEntry)
        assert_same_events(entry, valid, contract, indexes)
        keys |= {e.key_text for e in entry.model_events if indexes.models[e.model_index].name == "users_by_email"}
    assert keys and all(len(json.loads(k)[0]) == 64 for k in keys)  # hex digests, never the address


def test_another_salt_gives_other_hashes(
    contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes, encode: Encode
) -> None:
    contract = contracts.by_name("users")
    _, value, key = good(contract, encode)
    batch = write_input([record(indexes, contract, value, key)])
    first, second = (
        read_result(BatchRouter(contracts, schemas, indexes, salt, JOB).route(batch))[0] for salt in (SALT, SALT + b"2")
    )
    assert isinstance(first, ValidEntry) and isinstance(second, ValidEntry)
    assert first.model_events[0].treated != second.model_events[0].treated


# -- writer schema other than the reader schema: body kind 1 ------------------------------------------------


def test_older_writer_version_gets_a_reader_body(
    contracts: Contracts, schemas: InMemorySchemas, batch_router: BatchRouter, router: Router, indexes: PlanIndexes
) -> None:
    tickets = contracts.by_name("tickets")
    v1_text = tickets.schema_texts[0]
    v1_id = schemas.add(v1_text)
    event = {k: v for k, v in EVENTS["tickets"]().items() if k != "csat_score"}
    value = frame(v1_id, avro_body(json.loads(v1_text), event))
    item = record(indexes, tickets, value, b"T-1001")
    entry = route_one(batch_router, item)
    valid = router.route(raw_of(indexes, item))
    assert isinstance(valid, Valid) and isinstance(entry, ValidEntry)
    assert (entry.schema_id, entry.schema_version, entry.body_kind) == (v1_id, 1, BODY_FOLLOWS)
    assert entry.value == value  # the original bytes, unchanged
    assert entry.body is not None
    decoded = fastavro.schemaless_reader(io.BytesIO(entry.body), plain_schema(tickets.reader_schema), None)
    assert decoded == valid.payload
    assert decoded["csat_score"] is None  # the reader's default
    assert_same_events(entry, valid, tickets, indexes)


def test_unlisted_writer_schema_has_no_version(
    contracts: Contracts, batch_router: BatchRouter, schemas: InMemorySchemas, indexes: PlanIndexes
) -> None:
    users = contracts.by_name("users")
    v1 = json.loads(users.schema_texts[0])
    v0 = {**v1, "fields": [f for f in v1["fields"] if f["name"] not in ("locale", "is_agent")]}
    old_id = schemas.add(json.dumps(v0))
    event = {k: v for k, v in EVENTS["users"]().items() if k not in ("locale", "is_agent")}
    entry = route_one(batch_router, record(indexes, users, frame(old_id, avro_body(v0, event)), b"U-42"))
    assert isinstance(entry, ValidEntry)
    assert (entry.schema_version, entry.body_kind) == (-1, BODY_FOLLOWS)
    assert entry.body is not None
    decoded = fastavro.schemaless_reader(io.BytesIO(entry.body), plain_schema(users.reader_schema), None)
    assert isinstance(decoded, dict)
    assert (decoded["locale"], decoded["is_agent"], decoded["email"]) == ("en-US", False, event["email"])


# -- enum and union indexes in a writer body the JVM never sees ---------------------------------------------

TICKET_V1_INDEXES = [
    ("event_type", "enum", 4),
    ("priority", "enum", 4),
    ("status", "enum", 5),
    ("channel", "enum", 4),
    ("assignee_id", "union", 2),
    ("first_response_seconds", "union", 2),
]


def v1_ticket_value(schemas: InMemorySchemas, contract: Contract, field: str, index: int) -> bytes:
    """A tickets v1 record whose ``field`` index (enum or union) is replaced by ``index``."""
    v1_text = contract.schema_texts[0]
    schema_id = schemas.add(v1_text)
    event = {k: v for k, v in EVENTS["tickets"](assignee_id="agent-01").items() if k != "csat_score"}
    body = avro_body(json.loads(v1_text), event)
    span = next(s for s in value_spans(body, json.loads(v1_text)) if s.path == field and s.kind in ("enum", "union"))
    return frame(schema_id, body[: span.start] + zigzag_varint(index) + body[span.data_start :])


@pytest.mark.parametrize(("field", "kind", "size"), TICKET_V1_INDEXES)
@pytest.mark.parametrize("where", ["negative", "last negative", "past the end"])
def test_bad_index_in_writer_body_is_quarantined(
    field: str,
    kind: str,
    size: int,
    where: str,
    contracts: Contracts,
    schemas: InMemorySchemas,
    batch_router: BatchRouter,
    router: Router,
    indexes: PlanIndexes,
) -> None:
    tickets = contracts.by_name("tickets")
    index = {"negative": -1, "last negative": -size, "past the end": size}[where]
    value = v1_ticket_value(schemas, tickets, field, index)
    item = record(indexes, tickets, value, b"T-1001")
    entry = route_one(batch_router, item)
    assert isinstance(entry, QuarantinedEntry), f"{field} index {index} was accepted"
    v1 = router.route(raw_of(indexes, item))
    if isinstance(v1, Quarantined):  # the per-record path caught it itself: the same verdict, byte for byte
        assert where != "negative"
        assert_same_quarantine(entry, v1)
        return
    assert where != "past the end"
    headers = dict(entry.headers)
    what = f"{kind} index {index} out of range ({size} {'symbols' if kind == 'enum' else 'branches'})"
    assert (headers["lg.reason"], headers["lg.field"], headers["lg.message"]) == (
        b"schema_mismatch",
        field.encode(),
        what.encode(),
    )
    assert (headers["lg.contract"], headers["lg.error_class"]) == (b"tickets", b"BadRecord")
    assert int(headers["lg.schema_id"]) == int.from_bytes(value[1:5], "big")
    expected = Quarantined(
        raw_of(indexes, item), Reason.schema_mismatch, what, field, "BadRecord", v1.envelope.schema_id, "tickets"
    )
    assert_same_quarantine(entry, expected)


def test_negative_index_is_what_v1_accepts(contracts: Contracts, schemas: InMemorySchemas, router: Router) -> None:
    """Why the check exists: decoding alone reads index -1 as the last symbol (udfs/decode.py, "Known gap")."""
    tickets = contracts.by_name("tickets")
    value = v1_ticket_value(schemas, tickets, "priority", -1)
    v1 = router.route(RawRecord(tickets.topic, 0, 0, 0, b"T-1001", value))
    assert isinstance(v1, Valid)
    assert v1.payload["priority"] == "URGENT"


def test_negative_index_with_the_reader_schema_is_left_to_the_jvm(
    contracts: Contracts, batch_router: BatchRouter, indexes: PlanIndexes, encode: Encode
) -> None:
    """Body kind 0: the JVM reads value[5:] with its strict reader (ReaderBody), which rejects it there."""
    tickets = contracts.by_name("tickets")
    _, value, key = good(tickets, encode)
    body = value[5:]
    span = next(s for s in value_spans(body, json.loads(tickets.schema_texts[-1])) if s.path == "priority")
    bad = value[:5] + body[: span.start] + zigzag_varint(-1) + body[span.data_start :]
    entry = route_one(batch_router, record(indexes, tickets, bad, key))
    assert isinstance(entry, ValidEntry)
    assert (entry.body_kind, entry.value) == (BODY_AS_VALUE, bad)


# -- quarantine: the per-record Router's verdicts, byte for byte --------------------------------------------

CASES = [(name, kind, seed) for name in ("tickets", "users") for kind in sorted(VALUE_KINDS) for seed in range(4)]


@pytest.mark.parametrize(("name", "kind", "seed"), CASES)
def test_corrupted_value_gets_v1s_verdict(
    name: str,
    kind: Reason,
    seed: int,
    contracts: Contracts,
    batch_router: BatchRouter,
    router: Router,
    indexes: PlanIndexes,
    encode: Encode,
) -> None:
    contract = contracts.by_name(name)
    _, value, key = good(contract, encode)
    bad = corrupt(kind, value, rng=random.Random(seed), unknown_schema_id=4242, contract=contract)
    item = record(indexes, contract, bad, key)
    v1 = router.route(raw_of(indexes, item))
    assert isinstance(v1, Quarantined) and v1.reason is kind
    assert_same_quarantine(route_one(batch_router, item), v1)


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@pytest.mark.parametrize("name", ["tickets", "users"])
def test_key_corruptions_get_v1s_verdict(
    name: str,
    kind: Reason,
    contracts: Contracts,
    batch_router: BatchRouter,
    router: Router,
    indexes: PlanIndexes,
    encode: Encode,
) -> None:
    contract = contracts.by_name(name)
    _, value, key = good(contract, encode)
    item = record(indexes, contract, value, corrupt_key(kind, key))
    v1 = router.route(raw_of(indexes, item))
    assert isinstance(v1, Quarantined) and v1.reason is kind
    assert_same_quarantine(route_one(batch_router, item), v1)


def test_null_value_and_no_timestamp(
    contracts: Contracts, batch_router: BatchRouter, router: Router, indexes: PlanIndexes
) -> None:
    contract = contracts.by_name("users")
    item = record(indexes, contract, None, None)._replace(timestamp_ms=NO_TIMESTAMP)
    v1 = router.route(raw_of(indexes, item))
    assert isinstance(v1, Quarantined) and v1.reason is Reason.frame_too_short
    entry = route_one(batch_router, item)
    assert_same_quarantine(entry, v1)
    assert entry.row is not None  # type: ignore[union-attr]
    assert RowEncoder(QUARANTINE_COLUMNS).columns[10].name == "source_timestamp"


def test_topic_without_contract(contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes) -> None:
    with_extra = PlanIndexes((*indexes.topics, "unknown.topic"), indexes.contracts, indexes.models)
    batch_router = BatchRouter(contracts, schemas, with_extra, SALT, JOB, clock=lambda: CLOCK_MS)
    item = InputRecord(len(indexes.topics), 0, 5, 6, b"k", b"\x00\x00\x00\x00\x01")
    entry = route_one(batch_router, item)
    assert isinstance(entry, QuarantinedEntry)
    assert dict(entry.headers)["lg.reason"] == b"no_contract"
    assert "lg.contract" not in dict(entry.headers)


def test_a_batch_keeps_input_order(
    contracts: Contracts, batch_router: BatchRouter, indexes: PlanIndexes, encode: Encode
) -> None:
    items = []
    for i in range(64):
        contract = contracts.by_name(("tickets", "users")[i % 2])
        _, value, key = good(contract, encode)
        items.append(record(indexes, contract, value if i % 3 else value[:3], key, offset=i))
    entries = read_result(batch_router.route(write_input(items)))
    assert len(entries) == 64
    for i, entry in enumerate(entries):
        if i % 3:
            assert isinstance(entry, ValidEntry) and entry.offset == i
        else:
            assert isinstance(entry, QuarantinedEntry)
            assert dict(entry.headers)["lg.source.offset"] == str(i).encode()


def test_empty_batch(batch_router: BatchRouter) -> None:
    assert batch_router.route(write_input([])) == b"\x00\x00\x00\x00"


def test_random_bytes_never_raise(
    contracts: Contracts, schemas: InMemorySchemas, batch_router: BatchRouter, indexes: PlanIndexes
) -> None:
    rng = random.Random(20261206)
    items = []
    for contract in contracts:
        for text in contract.schema_texts:  # every version: bodies of older writers take the checked path
            schema_id = schemas.add(text)
            event = EVENTS[contract.name]()
            good_value = frame(schema_id, avro_body(json.loads(text), event))
            for _ in range(400):
                mutable = bytearray(good_value)
                for _ in range(rng.randint(1, 3)):
                    mutable[rng.randrange(5, len(mutable))] = rng.randrange(256)
                key = str(event[contract.key_field]).encode()
                items.append(record(indexes, contract, bytes(mutable), key))
    entries = read_result(batch_router.route(write_input(items)))
    assert len(entries) == len(items)
    assert any(isinstance(e, QuarantinedEntry) for e in entries)


# -- failures that must not become quarantine ---------------------------------------------------------------


def test_registry_outage_propagates(contracts: Contracts, indexes: PlanIndexes, encode: Encode) -> None:
    class Down:
        def writer_schema(self, schema_id: int) -> WriterSchema:
            raise RegistryUnavailable("registry down")

    contract = contracts.by_name("tickets")
    _, value, key = good(contract, encode)
    with pytest.raises(RegistryUnavailable):
        BatchRouter(contracts, Down(), indexes, SALT, JOB).route(write_input([record(indexes, contract, value, key)]))


def test_topic_index_outside_the_plan_is_a_bug(batch_router: BatchRouter, indexes: PlanIndexes) -> None:
    with pytest.raises(ValueError, match="topic index"):
        batch_router.route(write_input([InputRecord(len(indexes.topics), 0, 0, 0, None, None)]))


def test_malformed_batch_is_a_bug(batch_router: BatchRouter) -> None:
    with pytest.raises(ValueError, match="malformed input batch"):
        batch_router.route(b"\x00\x00\x00\x01")


# -- construction ----------------------------------------------------------------------------------------------


def test_short_salt_is_refused(contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes) -> None:
    with pytest.raises(ValueError, match="salt"):
        BatchRouter(contracts, schemas, indexes, b"short", JOB)


def test_plan_of_other_contracts_is_refused(
    contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes, tmp_path: Path
) -> None:
    other = hashed_key_contracts(tmp_path)
    with pytest.raises(ValueError, match="plan lacks read models"):
        BatchRouter(other, schemas, indexes, SALT, JOB)
    wrong_treated = PlanIndexes(
        indexes.topics, indexes.contracts, tuple(m.__class__(m.name, m.contract_index, ()) for m in indexes.models)
    )
    with pytest.raises(ValueError, match="treats"):
        BatchRouter(contracts, schemas, wrong_treated, SALT, JOB)
    with pytest.raises(ValueError, match="contracts"):
        BatchRouter(contracts, schemas, PlanIndexes(indexes.topics, indexes.contracts[:1], ()), SALT, JOB)


def test_plan_indexes_from_the_plan_dict(contracts: Contracts) -> None:
    plan = {
        "topics": ["a", "b"],
        "contracts": [{"name": "x", "topic_index": 1, "other": "ignored"}],
        "models": [{"name": "m", "contract_index": 0, "treated": ["f", "g"], "table": "ignored"}],
    }
    indexes = PlanIndexes.from_plan(plan)
    assert indexes.topics == ("a", "b")
    assert (indexes.contracts[0].name, indexes.contracts[0].topic_index) == ("x", 1)
    assert (indexes.models[0].name, indexes.models[0].contract_index, indexes.models[0].treated) == ("m", 0, ("f", "g"))


# -- the observer ----------------------------------------------------------------------------------------------


def test_observer_hears_every_batch(
    contracts: Contracts, schemas: InMemorySchemas, indexes: PlanIndexes, encode: Encode
) -> None:
    seen: list[BatchStats] = []

    class Observer:
        def batch_routed(self, stats: BatchStats) -> None:
            seen.append(stats)

    users = contracts.by_name("users")
    event, value, key = good(users, encode)
    batch_router = BatchRouter(contracts, schemas, indexes, SALT, JOB, clock=lambda: CLOCK_MS, observer=Observer())
    batch_router.route(write_input([record(indexes, users, value, key), record(indexes, users, value, b"x")]))
    batch_router.route(write_input([]))
    assert len(seen) == 2
    (contract, version, seconds, freshness), *more_valid = seen[0].valid
    (topic, verdict, quarantined_seconds), *more_quarantined = seen[0].quarantined
    assert (contract, version, more_valid) == ("users", 1, [])
    assert freshness == (CLOCK_MS - int(str(event["event_time"]))) / 1000
    assert (topic, verdict.reason, verdict.contract, more_quarantined) == (users.topic, Reason.wrong_key, "users", [])
    assert seconds >= 0 and quarantined_seconds >= 0
    assert seen[1] == BatchStats([], [])


@pytest.mark.parametrize(
    "key",
    [
        ["T-1"],
        ["ünï — 名前", 1_700_000_000_000],
        ['quote " backslash \\ slash /', "\x00\x1f\x7f\u2028\ud7ff"],
        [-5, 0, 2**63 - 1],
        [True, "x", None],
        [],
    ],
)
def test_key_text_is_readmodels_key_text(key: list[object]) -> None:
    assert _key_text(list(key)) == key_text(tuple(key))


@pytest.mark.parametrize("size", [0, 1, 16, 63, 64, 65, 200])
def test_hmac_is_the_standard_one(size: int) -> None:
    key = bytes(range(size % 256)) * (size // 256 + 1)
    key = key[:size]
    for data in (b"", b"x", "ünï".encode(), bytes(1000)):
        assert _HmacSha256(key).hexdigest(data) == hmac.new(key, data, hashlib.sha256).hexdigest()


def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("name", "replacement", "doing"),
    [
        ("check_indexes", _broken, "checking the writer body's enum and union indexes"),
        # only the hot path's fastavro: quarantine rows are written with fastavro too
        ("fastavro", SimpleNamespace(schemaless_writer=_broken), "writing the record with the reader schema"),
    ],
)
def test_unexpected_failure_on_the_reader_body_is_quarantined(
    name: str,
    replacement: object,
    doing: str,
    contracts: Contracts,
    schemas: InMemorySchemas,
    batch_router: BatchRouter,
    indexes: PlanIndexes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tickets = contracts.by_name("tickets")
    value = v1_ticket_value(schemas, tickets, "priority", 1)  # a good record of an older writer schema
    monkeypatch.setattr(hotpath, name, replacement)
    entry = route_one(batch_router, record(indexes, tickets, value, b"T-1001"))
    assert isinstance(entry, QuarantinedEntry)
    headers = dict(entry.headers)
    assert (headers["lg.reason"], headers["lg.error_class"]) == (b"schema_mismatch", b"RuntimeError")
    assert headers["lg.message"] == f"unexpected RuntimeError while {doing}".encode()
