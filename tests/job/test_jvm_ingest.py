"""The JVM half of the ingest job (io.lakegate.flink.ingest), in PyFlink's gateway JVM: no job needed.

What the Java code makes of the route's output must equal what Python's per-record functions make of the
same record: the audit row (``udfs.audit.audit_values``), the quarantine row and dead-letter headers
(``udfs.quarantine.quarantine_values``, ``udfs.router.quarantine_headers``). The strict body check must
quarantine every enum and union index corruption with a message naming the field. The byte formats are
written here by `hotpath_format.py` (beside this file), independently of either half.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import fastavro
import hotpath_format as hotpath
import pytest
from py4j.protocol import Py4JJavaError

from jobs import ingest
from jobs import plan as job_plan
from jobs.runtime import stream_environment
from lakegate import catalog, jvm, readmodels
from lakegate.settings import Settings
from udfs.audit import audit_columns, audit_values
from udfs.contract import Contract, Contracts
from udfs.envelope import Envelope
from udfs.quarantine import QUARANTINE_COLUMNS, quarantine_values
from udfs.reasons import Reason
from udfs.router import Quarantined, RawRecord, Valid, duplicate, quarantine_headers
from udfs.rowcodec import RowEncoder
from udfs.wire import frame

pytestmark = pytest.mark.job

NOW = 1_765_000_000_321
SCHEMA_ID = 7


@pytest.fixture(scope="module")
def j(jvm_gateway: Any) -> Any:
    """The gateway's JVM view, with lakegate's jar and the connectors on the context class loader."""
    return jvm_gateway.jvm


@pytest.fixture(scope="module")
def plan(lakegate_settings: Settings, lakegate_contracts: Contracts) -> dict[str, Any]:
    """The real plan of the repository's contracts (tables created in the test catalog)."""
    iceberg = catalog.open_catalog(lakegate_settings)
    for contract in lakegate_contracts:
        catalog.ensure_audit_table(iceberg, lakegate_settings, contract)
    catalog.ensure_quarantine_table(iceberg, lakegate_settings)
    for model, contract in readmodels.all_models(lakegate_contracts):
        readmodels.ensure_table(iceberg, lakegate_settings, model, contract)
    return job_plan.build(lakegate_settings, lakegate_contracts, iceberg)


@pytest.fixture(scope="module")
def java_plan(j: Any, plan: dict[str, Any]) -> Any:
    return j.io.lakegate.flink.plan.Plan.parse(job_plan.to_json(plan))


@pytest.fixture(scope="module")
def layout(j: Any, java_plan: Any) -> Any:
    return j.io.lakegate.flink.ingest.QuarantineLayout(java_plan.quarantine())


def _contract(contracts: Contracts, name: str) -> Contract:
    found = next((c for c in contracts if c.name == name), None)
    assert found is not None
    return found


def _index(plan: Mapping[str, Any], name: str) -> int:
    return [c["name"] for c in plan["contracts"]].index(name)


# ---- events and bodies --------------------------------------------------------------------------------------


def ticket_event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.UUID(int=0x1234)),
        "event_time": 1_700_000_000_123,
        "event_type": "UPDATED",
        "ticket_id": "T-1001",
        "customer_id": "C-77",
        "subject": "Printer on fire — ünïcode 𝄞",
        "priority": "URGENT",
        "status": "CLOSED",
        "channel": "WEB",
        "assignee_id": None,
        "reply_count": -2,
        "first_response_seconds": 2**40,
        "csat_score": 4,
    }
    return {**event, **overrides}


def user_event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.UUID(int=0x5678)),
        "event_time": -1,
        "event_type": "DELETED",
        "user_id": "U-42",
        "email": "secret.person@example.com",
        "display_name": "",
        "locale": "de-DE",
        "plan": "ENTERPRISE",
        "is_agent": True,
        "signed_up_at": 1_600_000_000_000,
    }
    return {**event, **overrides}


EVENTS: dict[str, Callable[..., dict[str, object]]] = {"tickets": ticket_event, "users": user_event}


def fastavro_body(contract: Contract, record: Mapping[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(contract.reader_schema_json), dict(record))
    return out.getvalue()


def _varint(n: int) -> bytes:
    z = ((n << 1) ^ (n >> 63)) & (2**64 - 1)
    out = bytearray()
    while True:
        byte, z = z & 0x7F, z >> 7
        out.append(byte | 0x80 if z else byte)
        if not z:
            return bytes(out)


def manual_body(contract: Contract, record: Mapping[str, object], raw: Mapping[str, bytes] | None = None) -> bytes:
    """The reader-schema body written field by field; ``raw[name]`` replaces a field's whole encoding."""
    raw = raw or {}
    out = bytearray()
    for field in contract.reader_schema_json["fields"]:
        name, avro = field["name"], field["type"]
        if name in raw:
            out += raw[name]
            continue
        value = record[name]
        if isinstance(avro, list):
            null_branch = avro.index("null")
            if value is None:
                out += _varint(null_branch)
                continue
            out += _varint(1 - null_branch)
            avro = avro[1 - null_branch]
        base = avro["type"] if isinstance(avro, dict) else avro
        if base == "enum":
            out += _varint(avro["symbols"].index(value))
        elif base == "string":
            encoded = str(value).encode("utf-8")
            out += _varint(len(encoded)) + encoded
        elif base in ("int", "long"):
            out += _varint(int(value))  # type: ignore[call-overload]
        elif base == "boolean":
            out += b"\x01" if value else b"\x00"
        else:
            raise AssertionError(f"the test encoder lacks {base}")
    return bytes(out)


def test_the_manual_encoder_writes_what_fastavro_writes(lakegate_contracts: Contracts) -> None:
    for contract in lakegate_contracts:
        record = EVENTS[contract.name]()
        assert manual_body(contract, record) == fastavro_body(contract, record)


# ---- ReaderBody ----------------------------------------------------------------------------------------------


def _python(value: Any) -> Any:
    """A Java value of a RowData field as a Python value (timestamps as epoch millis)."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    kind = value.getClass().getSimpleName()
    if kind == "BinaryStringData":
        return value.toString()
    if kind == "TimestampData":
        assert value.getNanoOfMillisecond() == 0
        return value.getMillisecond()
    raise AssertionError(f"unexpected Java value {kind}")


def _reader_body(j: Any, java_plan: Any, index: int) -> Any:
    return j.io.lakegate.flink.wire.ReaderBody.of(java_plan.contracts().get(index))


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("tickets", {}),
        ("tickets", {"assignee_id": "A-1", "first_response_seconds": None, "csat_score": None}),
        ("tickets", {"subject": "", "reply_count": 2**31 - 1, "event_time": -(2**63)}),
        ("users", {}),
        ("users", {"signed_up_at": None, "is_agent": False, "plan": "FREE", "event_time": 2**63 - 1}),
    ],
)
def test_bodies_decode_to_the_values_they_were_written_with(
    j: Any, java_plan: Any, plan: dict[str, Any], lakegate_contracts: Contracts, name: str, overrides: dict[str, object]
) -> None:
    contract = _contract(lakegate_contracts, name)
    record = EVENTS[name](**overrides)
    body = fastavro_body(contract, record)
    reader = _reader_body(j, java_plan, _index(plan, name))
    reader.check(body, 0, len(body))
    values = [_python(v) for v in reader.decode(body, 0, len(body))]
    assert values == [record[f["name"]] for f in contract.reader_schema_json["fields"]]
    # The same body inside a larger array (a segment) decodes the same.
    padded = b"\xff" * 3 + body + b"\xff" * 2
    assert [_python(v) for v in reader.decode(padded, 3, len(body))] == values


def _corrupt(contract: Contract, field: str, raw: bytes) -> bytes:
    record = EVENTS[contract.name](assignee_id="A-9") if contract.name == "tickets" else EVENTS[contract.name]()
    return manual_body(contract, record, {field: raw})


# (contract, field, replacement encoding, the message CorruptBody must carry)
CORRUPTIONS = [
    ("tickets", "event_type", _varint(4), "enum index 4 is out of range for 'event_type' (4 symbols)"),
    ("tickets", "event_type", _varint(-1), "enum index -1 is out of range for 'event_type' (4 symbols)"),
    ("tickets", "status", _varint(5), "enum index 5 is out of range for 'status' (5 symbols)"),
    ("tickets", "status", _varint(-5), "enum index -5 is out of range for 'status' (5 symbols)"),
    ("tickets", "channel", _varint(2**40), f"enum index {2**40} is out of range for 'channel' (4 symbols)"),
    ("users", "plan", _varint(3), "enum index 3 is out of range for 'plan' (3 symbols)"),
    ("users", "plan", _varint(-1), "enum index -1 is out of range for 'plan' (3 symbols)"),
    (
        "tickets",
        "assignee_id",
        _varint(2) + b"\x02A",
        "union branch index 2 is out of range for 'assignee_id' (2 branches)",
    ),
    (
        "tickets",
        "assignee_id",
        _varint(-1) + b"\x02A",
        "union branch index -1 is out of range for 'assignee_id' (2 branches)",
    ),
    (
        "tickets",
        "csat_score",
        _varint(-2) + b"\x08",
        "union branch index -2 is out of range for 'csat_score' (2 branches)",
    ),
    ("users", "signed_up_at", _varint(2), "union branch index 2 is out of range for 'signed_up_at' (2 branches)"),
    ("users", "signed_up_at", _varint(-1), "union branch index -1 is out of range for 'signed_up_at' (2 branches)"),
    ("users", "is_agent", b"\x02", "'is_agent' holds 2, not a boolean"),
    ("tickets", "subject", _varint(1000) + b"x", "length 1000 of 'subject' runs past the end of the body"),
    ("tickets", "subject", _varint(-3), "length -3 of 'subject' runs past the end of the body"),
    ("tickets", "subject", _varint(2) + b"\xc3\x28", "'subject' is not valid UTF-8"),
    ("tickets", "reply_count", _varint(2**31), "'reply_count' does not fit an int"),
]


@pytest.mark.parametrize(
    ("name", "field", "raw", "message"), CORRUPTIONS, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CORRUPTIONS)]
)
def test_every_enum_and_union_index_corruption_is_a_corrupt_body_naming_its_field(
    j: Any,
    java_plan: Any,
    plan: dict[str, Any],
    lakegate_contracts: Contracts,
    name: str,
    field: str,
    raw: bytes,
    message: str,
) -> None:
    body = _corrupt(_contract(lakegate_contracts, name), field, raw)
    reader = _reader_body(j, java_plan, _index(plan, name))
    for method in (reader.check, reader.decode):
        with pytest.raises(Py4JJavaError) as caught:
            method(body, 0, len(body))
        exception = caught.value.java_exception
        assert exception.getClass().getSimpleName() == "CorruptBody"
        assert (exception.field(), exception.getMessage()) == (field, message)


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_truncated_bodies_and_trailing_bytes_are_corrupt(
    j: Any, java_plan: Any, plan: dict[str, Any], lakegate_contracts: Contracts, name: str
) -> None:
    contract = _contract(lakegate_contracts, name)
    body = fastavro_body(contract, EVENTS[name]())
    reader = _reader_body(j, java_plan, _index(plan, name))
    last = contract.reader_schema_json["fields"][-1]["name"]
    cases = [
        (body[:-1], last, f"the body ends inside '{last}' (truncated)"),
        (body[:1], "event_id", "length 36 of 'event_id' runs past the end of the body"),
        (b"", "event_id", "the body ends inside 'event_id' (truncated)"),
        (body + b"\x00", None, "1 bytes left after the body"),
        (body + b"\x00\x00\x00", None, "3 bytes left after the body"),
    ]
    for data, field, message in cases:
        with pytest.raises(Py4JJavaError) as caught:
            reader.check(data, 0, len(data))
        assert (caught.value.java_exception.field(), caught.value.java_exception.getMessage()) == (field, message)
    # A body read within a longer array ends where it is told to, not where the array does.
    with pytest.raises(Py4JJavaError, match="truncated"):
        reader.check(body + b"\x00", 0, len(body) - 1)


# ---- segments: audit rows, quarantine rows and headers, model events -----------------------------------------


def _segment(
    plan: Mapping[str, Any],
    contract: Contract,
    record: Mapping[str, object],
    *,
    timestamp_ms: int = 1_700_000_000_999,
    key: bytes | None = b"K-1",
    version: int = 2,
    body: bytes | None = None,
    model_events: tuple[hotpath.RouteModelEvent, ...] = (),
    value_body: bytes | None = None,
) -> hotpath.ValidEntry:
    index = _index(plan, contract.name)
    return hotpath.ValidEntry(
        contract=index,
        topic=plan["contracts"][index]["topic_index"],
        partition=3,
        offset=2**40 + 5,
        timestamp_ms=timestamp_ms,
        schema_id=SCHEMA_ID,
        schema_version=version,
        ingest_time_ms=NOW - 5,
        event_time_ms=int(record["event_time"]),  # type: ignore[call-overload]
        event_id=str(record["event_id"]),
        key=key,
        value=frame(SCHEMA_ID, value_body if value_body is not None else fastavro_body(contract, record)),
        body=body,
        model_events=model_events,
    )


def _raw(plan: Mapping[str, Any], entry: hotpath.ValidEntry) -> RawRecord:
    return RawRecord(
        topic=plan["topics"][entry.topic],
        partition=entry.partition,
        offset=entry.offset,
        timestamp_ms=entry.timestamp_ms,
        key=entry.key,
        value=entry.value,
    )


def _envelope(plan: Mapping[str, Any], contract: Contract, entry: hotpath.ValidEntry) -> Envelope:
    return Envelope(
        event_id=entry.event_id,
        event_time_ms=entry.event_time_ms,
        ingest_time_ms=entry.ingest_time_ms,
        topic=plan["topics"][entry.topic],
        partition=entry.partition,
        offset=entry.offset,
        schema_id=entry.schema_id,
        schema_version=None if entry.schema_version < 0 else entry.schema_version,
        producer_team=contract.owner_team,
    )


def _row(row: Any, columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {c["name"]: _python(row.getField(i)) for i, c in enumerate(columns)}


def _headers(j: Any, encoded: bytes) -> list[tuple[str, bytes | None]]:
    decoded = j.io.lakegate.flink.ingest.DeadLetterHeaders.decode(encoded)
    return [(h.key(), None if h.value() is None else bytes(h.value())) for h in decoded]


@pytest.mark.parametrize(
    ("name", "version", "kind"),
    [("tickets", 2, "in-value"), ("tickets", -1, "re-encoded"), ("users", 1, "in-value"), ("users", 1, "re-encoded")],
)
def test_audit_rows_equal_the_python_audit_rows(
    j: Any,
    java_plan: Any,
    plan: dict[str, Any],
    lakegate_contracts: Contracts,
    name: str,
    version: int,
    kind: str,
) -> None:
    contract = _contract(lakegate_contracts, name)
    record = EVENTS[name]()
    reencoded = fastavro_body(contract, record) if kind == "re-encoded" else None
    # A re-encoded body: the value holds some other writer's bytes, the audit row follows the body.
    entry = _segment(plan, contract, record, version=version, body=reencoded, value_body=b"\x09older-writer")
    if reencoded is None:
        entry = _segment(plan, contract, record, version=version)
    java = _row(
        j.io.lakegate.flink.ingest.Segments.auditRow(java_plan, entry.encode()),
        plan["contracts"][_index(plan, name)]["table_columns"],
    )
    columns = audit_columns(contract)
    valid = Valid(contract.name, _envelope(plan, contract, entry), record)
    python = dict(zip([c.name for c in columns], audit_values(valid, columns), strict=True))
    assert java == python


def _python_quarantine(q: Quarantined, job: str) -> tuple[dict[str, Any], list[tuple[str, bytes | None]]]:
    values = dict(zip([c.name for c in QUARANTINE_COLUMNS], quarantine_values(q, job, NOW), strict=True))
    return values, list(quarantine_headers(q, job))


QUARANTINE_CASES = [
    pytest.param(1_700_000_000_999, b"K-1", id="timestamp-and-key"),
    pytest.param(0, b"K-1", id="timestamp-0"),
    pytest.param(-1, None, id="no-timestamp-no-key"),
]


@pytest.mark.parametrize(("timestamp_ms", "key"), QUARANTINE_CASES)
def test_duplicates_are_quarantined_as_python_quarantined_them(
    j: Any,
    java_plan: Any,
    layout: Any,
    plan: dict[str, Any],
    lakegate_contracts: Contracts,
    lakegate_settings: Settings,
    timestamp_ms: int,
    key: bytes | None,
) -> None:
    contract = _contract(lakegate_contracts, "tickets")
    entry = _segment(plan, contract, ticket_event(), timestamp_ms=timestamp_ms, key=key)
    facts = j.io.lakegate.flink.ingest.Segments.duplicate(java_plan, entry.encode(), NOW)
    valid = Valid(contract.name, _envelope(plan, contract, entry), ticket_event())
    expected_row, expected_headers = _python_quarantine(
        duplicate(_raw(plan, entry), valid, contract), lakegate_settings.job.name
    )
    element = layout.element(facts)
    assert _row(element, plan["quarantine"]["table_columns"]) == expected_row
    assert _headers(j, element.getField(layout.headersIndex())) == expected_headers
    assert expected_row["source_timestamp"] == (None if timestamp_ms == 0 else timestamp_ms)


@pytest.mark.parametrize(("timestamp_ms", "key"), QUARANTINE_CASES)
def test_corrupt_bodies_are_quarantined_as_python_quarantines_a_schema_mismatch(
    j: Any,
    java_plan: Any,
    layout: Any,
    plan: dict[str, Any],
    lakegate_contracts: Contracts,
    lakegate_settings: Settings,
    timestamp_ms: int,
    key: bytes | None,
) -> None:
    contract = _contract(lakegate_contracts, "tickets")
    body = _corrupt(contract, "priority", _varint(-1))
    entry = _segment(plan, contract, ticket_event(), timestamp_ms=timestamp_ms, key=key, value_body=body)
    segments = j.io.lakegate.flink.ingest.Segments
    facts = segments.corruptBody(java_plan, entry.encode(), NOW)
    message = "enum index -1 is out of range for 'priority' (4 symbols)"
    quarantined = Quarantined(
        _raw(plan, entry), Reason.schema_mismatch, message, "priority", "BadRecord", SCHEMA_ID, contract.name
    )
    expected_row, expected_headers = _python_quarantine(quarantined, lakegate_settings.job.name)
    element = layout.element(facts)
    assert _row(element, plan["quarantine"]["table_columns"]) == expected_row
    assert _headers(j, element.getField(layout.headersIndex())) == expected_headers
    # A body that passes is not quarantined.
    assert segments.corruptBody(java_plan, _segment(plan, contract, ticket_event()).encode(), NOW) is None


def test_a_python_quarantined_entry_becomes_the_same_element_as_a_java_built_one(
    j: Any, java_plan: Any, layout: Any, plan: dict[str, Any], lakegate_contracts: Contracts
) -> None:
    """Both kinds of quarantine element (route's QUARANTINED entries, the JVM's own) share one layout."""
    contract = _contract(lakegate_contracts, "users")
    entry = _segment(plan, contract, user_event(), key=None)
    facts = j.io.lakegate.flink.ingest.Segments.duplicate(java_plan, entry.encode(), NOW)
    valid = Valid(contract.name, _envelope(plan, contract, entry), user_event())
    q = duplicate(_raw(plan, entry), valid, contract)
    job = plan["job_name"]
    row_bytes = RowEncoder(QUARANTINE_COLUMNS).encode(quarantine_values(q, job, NOW))
    decoder = j.io.lakegate.flink.AvroRowDecoder(layout.encodedKinds(), layout.encodedNullable())
    from_python = layout.fromEncoded(decoder.decode(row_bytes), hotpath.encoded_headers(quarantine_headers(q, job)))
    from_java = layout.element(facts)
    width = len(plan["quarantine"]["table_columns"]) + 1
    assert [_python(from_python.getField(i)) for i in range(width)] == [
        _python(from_java.getField(i)) for i in range(width)
    ]


def test_the_dead_letter_record_carries_the_original_bytes_and_the_headers(
    j: Any, java_plan: Any, layout: Any, plan: dict[str, Any], lakegate_contracts: Contracts
) -> None:
    contract = _contract(lakegate_contracts, "tickets")
    serializer = j.io.lakegate.flink.ingest.DeadLetterSerializer("dead.letters", layout)
    for key in (b"K-1", None):
        entry = _segment(plan, contract, ticket_event(), key=key)
        element = layout.element(j.io.lakegate.flink.ingest.Segments.duplicate(java_plan, entry.encode(), NOW))
        record = serializer.serialize(element, None, None)
        assert (record.topic(), record.partition(), record.timestamp()) == ("dead.letters", None, None)
        assert (record.key(), record.value()) == (entry.key, entry.value)
        headers = [(h.key(), bytes(h.value())) for h in record.headers().toArray()]
        assert headers == _headers(j, element.getField(layout.headersIndex()))
        assert ("lg.reason", b"duplicate_event_id") in headers


def _models_of(plan: Mapping[str, Any], name: str) -> list[int]:
    index = _index(plan, name)
    return [i for i, m in enumerate(plan["models"]) if m["contract_index"] == index]


@pytest.mark.parametrize("kind", ["in-value", "re-encoded"])
def test_model_events_carry_the_route_fields_the_coordinates_and_the_body(
    j: Any, java_plan: Any, plan: dict[str, Any], lakegate_contracts: Contracts, kind: str
) -> None:
    contract = _contract(lakegate_contracts, "tickets")
    first, second = _models_of(plan, "tickets")[:2]
    events = (
        hotpath.RouteModelEvent(first, 1, 17, hotpath.NO_WINDOW, "T-1001"),
        hotpath.RouteModelEvent(second, 2, -5, 1_700_000_000_000, "k\x00é", (b"hashed", None, b"")),
    )
    body = fastavro_body(contract, ticket_event())
    entry = _segment(
        plan,
        contract,
        ticket_event(),
        model_events=events,
        body=body if kind == "re-encoded" else None,
        value_body=b"\x01" if kind == "re-encoded" else None,
    )
    out = [
        hotpath.read_model_event(bytes(e))
        for e in j.io.lakegate.flink.ingest.Segments.modelEvents(java_plan, entry.encode())
    ]
    assert out == [
        hotpath.ModelEvent(
            model=e.model,
            op=e.op,
            order=e.order,
            window_start=e.window_start,
            partition=entry.partition,
            offset=entry.offset,
            event_time_ms=entry.event_time_ms,
            topic=entry.topic,
            key_text=e.key_text,
            treated=e.treated,
            body=body,
        )
        for e in events
    ]
    # The key names the contract (a stable name, not its index in the plan): it keys checkpointed state.
    assert j.io.lakegate.flink.ingest.Segments.key(java_plan, entry.encode()) == f"{contract.name}\x00{entry.event_id}"


def test_malformed_segments_are_refused_with_what_is_wrong(
    j: Any, java_plan: Any, plan: dict[str, Any], lakegate_contracts: Contracts
) -> None:
    tickets = _contract(lakegate_contracts, "tickets")
    good = _segment(plan, tickets, ticket_event())
    users_model = _models_of(plan, "users")[0]
    cases = [
        (good.encode()[:-1], "needs 2 bytes"),
        (good.encode() + b"\x00", "1 bytes left after the segment"),
        (b"\x02" + good.encode()[1:], "entry kind 2 where a VALID entry"),
        (replace(good, contract=99).encode(), "contract index 99, the plan has 2 contracts"),
        (replace(good, topic=1 - good.topic).encode(), "topic index"),
        (replace(good, value=b"\x00\x00").encode(), "fewer than the 5-byte frame"),
        (replace(good, value=None).encode(), "fewer than the 5-byte frame"),
        (
            replace(good, model_events=(hotpath.RouteModelEvent(users_model, 1, 0, 0, "k"),)).encode(),
            "not a model of contract tickets",
        ),
        (
            replace(
                good, model_events=(hotpath.RouteModelEvent(_models_of(plan, "tickets")[0], 3, 0, 0, "k"),)
            ).encode(),
            "has op 3",
        ),
    ]
    for data, message in cases:
        with pytest.raises(Py4JJavaError, match=message):
            j.io.lakegate.flink.ingest.Segments.duplicate(java_plan, data, NOW)
    body_kind_2 = bytearray(good.encode())
    body_kind_2[len(body_kind_2) - 3] = 2  # the body kind sits before the u16 model event count
    with pytest.raises(Py4JJavaError, match="body kind 2 is neither 0 nor 1"):
        j.io.lakegate.flink.ingest.Segments.duplicate(java_plan, bytes(body_kind_2), NOW)


def test_the_changelog_record_goes_to_its_models_topic_a_null_value_as_a_tombstone(
    j: Any, java_plan: Any, plan: dict[str, Any]
) -> None:
    serializer = j.io.lakegate.flink.ingest.ChangelogSerializer(java_plan.models())
    last = len(plan["models"]) - 1
    upsert = serializer.serialize(
        struct.pack(">H", 0) + struct.pack(">i", 1) + b"k" + struct.pack(">i", 2) + b"{}", None, None
    )
    assert (upsert.topic(), upsert.key(), upsert.value()) == (plan["models"][0]["changelog_topic"], b"k", b"{}")
    tombstone = serializer.serialize(struct.pack(">Hii", last, 0, -1), None, None)
    assert (tombstone.topic(), tombstone.key(), tombstone.value()) == (
        plan["models"][last]["changelog_topic"],
        b"",
        None,
    )
    with pytest.raises(Py4JJavaError, match="model index 99"):
        serializer.serialize(struct.pack(">Hii", 99, -1, -1), None, None)


def test_kafka_records_become_input_batch_records(j: Any, plan: dict[str, Any]) -> None:
    schema = j.io.lakegate.flink.ingest.InputRecordSchema(j.java.util.ArrayList(plan["topics"]))
    schema.open(None)
    out = j.java.util.ArrayList()
    collector = j.org.apache.flink.api.common.functions.util.ListCollector(out)
    consumer_record = j.org.apache.kafka.clients.consumer.ConsumerRecord
    schema.deserialize(consumer_record(plan["topics"][1], 4, 2**33, b"key", b"\x00value"), collector)
    schema.deserialize(consumer_record(plan["topics"][0], 0, 0, None, None), collector)
    batch = struct.pack(">i", 2) + b"".join(bytes(r) for r in out)
    assert hotpath.read_input_batch(batch) == [
        hotpath.InputRecord(1, 4, 2**33, -1, b"key", b"\x00value"),  # -1: ConsumerRecord.NO_TIMESTAMP
        hotpath.InputRecord(0, 0, 0, -1, None, None),
    ]
    with pytest.raises(Py4JJavaError, match="not among the plan's topics"):
        schema.deserialize(consumer_record("elsewhere", 0, 0, None, None), collector)


# ---- the plan ------------------------------------------------------------------------------------------------


def _edited(plan: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> str:
    changed = copy.deepcopy(plan)
    edit(changed)
    return json.dumps(changed)


PLAN_ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown-field", lambda p: p.update(extra=1), "plan: unknown field 'extra'"),
    ("missing-field", lambda p: p["kafka"].pop("group_id"), "plan.kafka: missing field 'group_id'"),
    ("wrong-type", lambda p: p["batch"].update(max_records="5"), "plan.batch.max_records must be an integer"),
    ("out-of-range", lambda p: p["batch"].update(max_bytes=2**31), "plan.batch.max_bytes is out of range"),
    ("format", lambda p: p.update(format=2), "plan format 2, this jar reads 1"),
    (
        "nested",
        lambda p: p["contracts"][0]["fields"][0].update(extra=True),
        r"plan.contracts\[0\].fields\[0\]: unknown field 'extra'",
    ),
    ("null-string", lambda p: p["quarantine"].update(table=None), "plan.quarantine.table must be a string"),
]


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in PLAN_ERRORS], ids=[i for i, _, _ in PLAN_ERRORS])
def test_plans_the_jar_cannot_read_are_refused_naming_the_field(
    j: Any, plan: dict[str, Any], edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(Py4JJavaError, match=message):
        j.io.lakegate.flink.plan.Plan.parse(_edited(plan, edit))
    with pytest.raises(Py4JJavaError, match="the plan is not valid JSON"):
        j.io.lakegate.flink.plan.Plan.parse("{")


def test_plans_the_ingest_graph_cannot_build_from_are_refused(j: Any, plan: dict[str, Any]) -> None:
    parse = j.io.lakegate.flink.plan.Plan.parse
    ingest = j.io.lakegate.flink.ingest

    def startup(p: dict[str, Any]) -> None:
        p["kafka"]["startup"] = "latest"

    with pytest.raises(Py4JJavaError, match=r"plan\.kafka\.startup is 'latest'"):
        ingest.IngestSource.of(parse(_edited(plan, startup)))

    def elsewhere(p: dict[str, Any]) -> None:
        p["kafka"].update(startup="specific", start_offsets=[{"topic": "elsewhere", "partition": 0, "offset": 1}])

    with pytest.raises(Py4JJavaError, match="start_offsets names topic elsewhere"):
        ingest.IngestSource.of(parse(_edited(plan, elsewhere)))

    def no_reason(p: dict[str, Any]) -> None:
        p["quarantine"]["encoded_columns"] = [c for c in p["quarantine"]["encoded_columns"] if c["name"] != "reason"]

    with pytest.raises(Py4JJavaError, match="lacks some of"):
        ingest.QuarantineLayout(parse(_edited(plan, no_reason)).quarantine())

    def table_without_message(p: dict[str, Any]) -> None:
        p["quarantine"]["table_columns"] = [c for c in p["quarantine"]["table_columns"] if c["name"] != "message"]

    with pytest.raises(Py4JJavaError, match="has no column message"):
        ingest.QuarantineLayout(parse(_edited(plan, table_without_message)).quarantine())

    def retyped(p: dict[str, Any]) -> None:
        next(c for c in p["quarantine"]["encoded_columns"] if c["name"] == "source_offset")["kind"] = "int"

    with pytest.raises(Py4JJavaError, match=r"has source_offset \(int\)"):
        ingest.QuarantineLayout(parse(_edited(plan, retyped)).quarantine())

    def no_topic_column(p: dict[str, Any]) -> None:
        p["contracts"][0]["envelope"].pop("lg_topic")

    entry = hotpath.ValidEntry(0, plan["contracts"][0]["topic_index"], 0, 0, 0, 1, 1, 0, 0, "e", None, b"\x00" * 5)
    with pytest.raises(Py4JJavaError, match="envelope columns"):
        ingest.Segments.auditRow(parse(_edited(plan, no_topic_column)), entry.encode())

    def retyped_field(p: dict[str, Any]) -> None:
        field = p["contracts"][0]["fields"][0]  # event_id, a string
        next(c for c in p["contracts"][0]["table_columns"] if c["name"] == field["name"])["kind"] = "long"

    with pytest.raises(Py4JJavaError, match="field event_id is Avro string but its audit column is long"):
        ingest.Segments.auditRow(parse(_edited(plan, retyped_field)), entry.encode())

    batch = j.io.lakegate.flink.plan.Plan.Batch
    with pytest.raises(Py4JJavaError, match="max_records and max_bytes must be at least 1"):
        ingest.PackOperator(batch(0, 1024, 100))


# ---- the graph -----------------------------------------------------------------------------------------------


def test_the_graph_chains_buffers_and_uids_every_operator(
    j: Any, plan: dict[str, Any], lakegate_settings: Settings
) -> None:
    """The ingest job's graph as jobs/ingest.py builds it (the real route, every read model), not run."""
    env = stream_environment(lakegate_settings)
    ingest.build(env, lakegate_settings, plan)
    stream_graph = env._generate_stream_graph(clear_transformations=True)
    nodes = stream_graph.getStreamNodes().toArray()
    uids = {n.getTransformationUID(): n.getOperatorName() for n in nodes}
    vertices = [v.getName() for v in stream_graph.getJobGraph().getVerticesSortedTopologicallyFromSources()]
    # Records reach the Python route in batches without crossing a serializer: one chain up to unpack.
    assert vertices[0] == "Source: kafka-source -> pack -> route -> unpack"
    # The changelog's path holds no Iceberg writer: their file work at a checkpoint runs in tasks of their own.
    assert "read_models -> changelog: Writer -> changelog: Committer" in vertices
    assert {f"model-{m['name']}: Writer" for m in plan["models"]} <= set(vertices)
    # Records leave unpack and dedupe for the next task within the batch delay, not Flink's 100 ms.
    timeouts = {n.getOperatorName(): n.getBufferTimeout() for n in nodes}
    assert timeouts["unpack"] == timeouts["dedupe"] == plan["batch"]["max_delay_ms"] != 100
    assert None not in uids, f"an operator without a uid: {uids}"
    documented = {"kafka-source", "pack", "route", "unpack", "dedupe", "quarantine-rows", "quarantine-table"}
    documented |= {"dead-letter", "read-models", "changelog"}
    documented |= {f"audit-{c['name']}" for c in plan["contracts"]} | {f"model-{m['name']}" for m in plan["models"]}
    assert documented <= set(uids)


def test_specific_start_offsets_start_unlisted_partitions_at_the_earliest(j: Any) -> None:
    partition = j.org.apache.kafka.common.TopicPartition
    listed, unlisted = partition("t", 0), partition("t", 1)
    offsets = j.java.util.HashMap()
    offsets.put(listed, 2**40 + 42)  # above 2**31: py4j hands over a Long

    class Retriever:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def beginningOffsets(self, partitions: Any) -> Any:  # noqa: N802 - a Java interface
            found = j.java.util.HashMap()
            for p in partitions:
                self.asked.append(p.toString())
                found.put(p, 2**40 + 7)
            return found

        def committedOffsets(self, partitions: Any) -> Any:  # noqa: N802
            raise AssertionError("the group's committed offsets are never consulted")

        class Java:
            implements = (
                "org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer"
                "$PartitionOffsetsRetriever",
            )

    retriever = Retriever()
    start = j.io.lakegate.flink.ingest.StartOffsets(offsets).getPartitionOffsets(
        j.java.util.ArrayList([listed, unlisted]), retriever
    )
    assert {p.toString(): start.get(p) for p in start.keySet()} == {"t-0": 2**40 + 42, "t-1": 2**40 + 7}
    assert retriever.asked == ["t-1"]


@pytest.mark.parametrize(
    ("max_records", "max_bytes", "sizes"),
    [(3, 1 << 20, [3, 3, 3, 1]), (100, 64, [2, 2, 2, 2, 2]), (100, 1 << 20, [10])],
    ids=["records-cap", "bytes-cap", "end-of-input"],
)
def test_pack_emits_batches_at_its_caps_and_at_the_end_of_input(
    j: Any, lakegate_settings: Settings, max_records: int, max_bytes: int, sizes: list[int]
) -> None:
    """A bounded local job in the gateway JVM: records (30 bytes encoded each) → pack → collected."""
    records = [hotpath.InputRecord(0, 1, offset, 5, None, b"") for offset in range(10)]
    encoded = j.java.util.ArrayList([hotpath.input_batch([r])[4:] for r in records])  # without the count
    conf = j.org.apache.flink.configuration.Configuration()
    conf.setString("pipeline.jars", ";".join(p.as_uri() for p in jvm.pipeline_jars(lakegate_settings)))
    env = j.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.createLocalEnvironment(1, conf)
    bytes_type = j.org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO
    caps = j.io.lakegate.flink.plan.Plan.Batch(max_records, max_bytes, 60_000)  # no timer fires in this test
    stream = env.fromData(encoded, bytes_type).transform(
        "pack", bytes_type, j.io.lakegate.flink.ingest.PackOperator(caps)
    )
    batches = [bytes(b) for b in stream.executeAndCollect(100)]
    assert [len(hotpath.read_input_batch(b)) for b in batches] == sizes
    assert [r for b in batches for r in hotpath.read_input_batch(b)] == records
