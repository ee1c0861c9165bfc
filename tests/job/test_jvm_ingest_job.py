"""The JVM half of the ingest job end to end: Kafka → pack → a stand-in route → unpack → dedupe → Iceberg and
the dead-letter topic, on a MiniCluster against a real broker and Iceberg catalog (lakegate.testing.echo_job).

Two drained runs, the second started after the lake's offsets (``start_from = "lake"``: specific start
offsets): every record lands in exactly one place, once; duplicates within a run are quarantined by dedupe
(the contract with dedupe off audits them); bodies that fail the strict check are quarantined by unpack;
records the route quarantines pass through; what the JVM quarantines carries the facts Python would give.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pytest
from kafka import KafkaProducer
from pyiceberg.exceptions import NoSuchTableError

from lakegate import kafka_clients
from lakegate.settings import Settings
from lakegate.stack import kafka
from lakegate.testing.metrics import quarantine_counts, record_counts, scrape
from lakegate.testing.readers import DeadLetter, read_audit, read_dead_letters, read_quarantine, topic_coordinates
from udfs.contract import Contract, Contracts, load_contracts
from udfs.router import duplicate_message

pytestmark = pytest.mark.job

Coordinate = tuple[str, int, int]
AUDITED = "audited"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sent:
    coordinate: Coordinate
    contract: str
    expected: str  # AUDITED or a quarantine reason
    key: bytes | None
    value: bytes | None
    event: dict[str, object] | None = None
    field: str | None = None  # the field a JVM-built quarantine names
    message: str | None = None


def _schemas(target: Path, prefix: str) -> Path:
    """The repository's contracts on topics of their own, without read models; users without dedupe."""
    source = Settings.load(env={}).schemas_dir
    for name in ("tickets", "users"):
        shutil.copytree(source / name, target / name)
        path = target / name / "contract.toml"
        text = path.read_text().split("[[read_models]]")[0]  # the read models are the last sections
        extra = "\ndedupe_window_s = 0" if name == "users" else ""
        text, n = re.subn(r'^topic = ".*"$', f'topic = "{prefix}.{name}"{extra}', text, flags=re.MULTILINE)
        assert n == 1
        path.write_text(text)
    return target


@pytest.fixture(scope="module")
def schemas_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _schemas(tmp_path_factory.mktemp("jvm-ingest-schemas"), "jvm-ingest")


@pytest.fixture(scope="module")
def settings(lakegate_stack: Settings, schemas_dir: Path) -> Settings:
    return lakegate_stack.replace(
        schemas_dir=schemas_dir,
        job_name="jvm-ingest",
        audit_namespace="jvm_ingest",
        quarantine_namespace="jvm_ingest_q",
        dlq_topic="jvm-ingest.dlq",
        consumer_group="jvm-ingest",
        start_from="lake",
    )


@pytest.fixture(scope="module")
def contracts(settings: Settings) -> Contracts:
    found = load_contracts(settings.schemas_dir)
    assert not any(c.read_models for c in found)
    kafka.ensure_topics(settings, [c.topic for c in found] + [settings.dlq_topic])
    return found


def _contract(contracts: Contracts, name: str) -> Contract:
    found = next(c for c in contracts if c.name == name)
    return found


def _body(contract: Contract, record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(contract.reader_schema_json), record)
    return out.getvalue()


def _ticket(n: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.UUID(int=0x7100_0000 + n)),
        "event_time": 1_700_000_000_000 + n,
        "event_type": "CREATED",
        "ticket_id": f"T-{n}",
        "customer_id": f"C-{n % 7}",
        "subject": f"ticket {n} — ✓",
        "priority": ["LOW", "NORMAL", "HIGH", "URGENT"][n % 4],
        "status": "NEW",
        "channel": "CHAT",
        "assignee_id": None if n % 2 else f"A-{n}",
        "reply_count": n,
        "first_response_seconds": None,
        "satisfaction_score": n % 5 + 1 if n % 3 else None,
    }


def _user(n: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.UUID(int=0x7200_0000 + n)),
        "event_time": 1_700_000_000_000 + n,
        "event_type": "SIGNED_UP",
        "user_id": f"U-{n}",
        "email": f"user{n}@example.com",
        "display_name": f"User {n}",
        "locale": "en-US",
        "plan": "FREE",
        "is_agent": bool(n % 2),
        "signed_up_at": None,
    }


def _framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


class Producer:
    def __init__(self, settings: Settings) -> None:
        self._producer = KafkaProducer(**kafka_clients.python_config(settings), acks="all")
        self.sent: list[Sent] = []

    def send(self, contract: Contract, key: bytes | None, value: bytes | None, expected: str, **facts: Any) -> Sent:
        timestamp = facts.pop("timestamp_ms", None)
        metadata = self._producer.send(contract.topic, key=key, value=value, timestamp_ms=timestamp).get(timeout=30)
        sent = Sent((contract.topic, metadata.partition, metadata.offset), contract.name, expected, key, value, **facts)
        self.sent.append(sent)
        return sent

    def close(self) -> None:
        self._producer.close()


def _produce(producer: Producer, contracts: Contracts, first: int, count: int) -> None:
    """``count`` valid tickets and users from number ``first`` on, with repeats and records to quarantine."""
    tickets, users = _contract(contracts, "tickets"), _contract(contracts, "users")
    for n in range(first, first + count):
        event = _ticket(n)
        value = _framed(1 if n % 10 else 99, _body(tickets, event))
        producer.send(tickets, f"T-{n}".encode(), value, AUDITED, event=event)
        if n % 8 == 0:  # a producer retry: the same key and value again
            producer.send(tickets, f"T-{n}".encode(), value, "duplicate_event_id", event=event, field="event_id")
        user = _user(n)
        user_value = _framed(1, _body(users, user))
        producer.send(users, f"U-{n}".encode(), user_value, AUDITED, event=user)
        if n % 5 == 0:  # users has dedupe off: a retry is audited again
            producer.send(users, f"U-{n}".encode(), user_value, AUDITED, event=user)
    bad_enum = _manual_ticket(tickets, _ticket(first + 1000), priority=b"\x01")  # zig-zag -1
    producer.send(
        tickets,
        b"T-bad-enum",
        _framed(1, bad_enum),
        "schema_mismatch",
        field="priority",
        message="enum index -1 is out of range for 'priority' (4 symbols)",
    )
    bad_union = _manual_ticket(tickets, _ticket(first + 1001), assignee_id=b"\x04\x02A")  # branch 2
    producer.send(
        tickets,
        b"T-bad-union",
        _framed(1, bad_union),
        "schema_mismatch",
        field="assignee_id",
        message="union branch index 2 is out of range for 'assignee_id' (2 branches)",
    )
    truncated = _body(users, _user(first + 1002))[:-1]
    producer.send(
        users,
        b"U-truncated",
        _framed(1, truncated),
        "schema_mismatch",
        field="signed_up_at",
        message="the body ends inside 'signed_up_at' (truncated)",
    )
    producer.send(tickets, b"T-garbage", b"not avro", "bad_magic_byte", timestamp_ms=0)
    producer.send(users, b"U-null-value", None, "bad_magic_byte")
    keyless = _ticket(first + 2000)
    producer.send(tickets, None, _framed(1, _body(tickets, keyless)), AUDITED, event=keyless)


def _manual_ticket(contract: Contract, event: dict[str, object], **raw: bytes) -> bytes:
    """The ticket's body with the encodings of the fields in ``raw`` replaced by raw bytes."""
    out = b""
    for field in contract.reader_schema_json["fields"]:
        name = field["name"]
        if name in raw:
            out += raw[name]
        else:
            single = {"type": "record", "name": "One", "fields": [field]}
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, fastavro.parse_schema(single), {name: event[name]})
            out += buffer.getvalue()
    return out


def _log(settings: Settings) -> Path:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    return settings.log_dir / f"job-{settings.job_name}.out"


def _run(settings: Settings) -> None:
    log = _log(settings)
    with log.open("ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "lakegate.testing.echo_job"],
            env=settings.child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"the job exited {result.returncode}; log {log}:\n{tail}")


@dataclass(frozen=True, slots=True)
class Landed:
    sent: list[Sent]
    audit: dict[str, list[dict[str, Any]]]
    quarantine: list[dict[str, Any]]
    dead: list[DeadLetter]


@pytest.fixture(scope="module")
def landed(settings: Settings, contracts: Contracts) -> Iterator[Landed]:
    producer = Producer(settings)
    try:
        _produce(producer, contracts, 1, 40)
        _run(settings)
        _produce(producer, contracts, 41, 12)  # read by a second run, from the lake's offsets
        _run(settings)
    finally:
        producer.close()
    yield Landed(
        producer.sent,
        {c.name: read_audit(settings, c).to_pylist() for c in contracts},
        read_quarantine(settings).to_pylist(),
        read_dead_letters(settings),
    )


def _millis(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _coordinate(row: dict[str, Any], prefix: str) -> Coordinate:
    return row[f"{prefix}topic"], row[f"{prefix}partition"], row[f"{prefix}offset"]


def test_every_record_lands_in_exactly_one_place_once(landed: Landed, settings: Settings, contracts: Contracts) -> None:
    audited = [_coordinate(r, "lg_") for rows in landed.audit.values() for r in rows]
    quarantined = [_coordinate(r, "source_") for r in landed.quarantine]
    dead = [d.source for d in landed.dead]
    assert len(audited) == len(set(audited)), "a record audited twice"
    assert len(quarantined) == len(set(quarantined)) and sorted(dead) == sorted(quarantined)
    assert set(audited).isdisjoint(quarantined)
    assert set(audited) | set(quarantined) == topic_coordinates(settings, [c.topic for c in contracts])
    expected = {s.coordinate: s.expected for s in landed.sent}
    assert {c: AUDITED for c in audited} | {d.source: d.reason for d in landed.dead} == expected


def test_audit_rows_hold_the_records_fields_and_envelope(landed: Landed, contracts: Contracts) -> None:
    rows = {_coordinate(r, "lg_"): r for rows in landed.audit.values() for r in rows}
    teams = {c.name: c.owner_team for c in contracts}
    for sent in landed.sent:
        if sent.expected != AUDITED:
            continue
        row = rows[sent.coordinate]
        assert sent.event is not None and sent.value is not None
        for name, value in sent.event.items():
            got = row[name]
            if name in ("event_time", "signed_up_at"):
                got = None if got is None else _millis(got)
            assert got == value, (sent.coordinate, name)
        schema_id = int.from_bytes(sent.value[1:5], "big")
        assert (row["lg_schema_id"], row["lg_schema_version"]) == (schema_id, 1 if schema_id == 1 else None)
        assert row["lg_producer_team"] == teams[sent.contract]
        assert row["lg_ingest_time"] is not None


def test_what_the_jvm_quarantines_carries_pythons_facts(landed: Landed, settings: Settings) -> None:
    dead = {d.source: d for d in landed.dead}
    rows = {_coordinate(r, "source_"): r for r in landed.quarantine}
    tickets = next(c for c in load_contracts(settings.schemas_dir) if c.name == "tickets")
    checked = 0
    for sent in landed.sent:
        if sent.expected not in ("duplicate_event_id", "schema_mismatch"):
            continue
        letter, row = dead[sent.coordinate], rows[sent.coordinate]
        assert (letter.key, letter.value) == (sent.key, sent.value) == (row["original_key"], row["original_value"])
        duplicate = sent.expected == "duplicate_event_id"
        assert sent.value is not None
        schema_id = int.from_bytes(sent.value[1:5], "big")
        message = duplicate_message(tickets) if duplicate else sent.message
        assert letter.headers == {
            "lg.reason": sent.expected,
            "lg.field": sent.field,
            "lg.error_class": "DuplicateEventId" if duplicate else "BadRecord",
            "lg.message": message,
            "lg.source.topic": sent.coordinate[0],
            "lg.source.partition": str(sent.coordinate[1]),
            "lg.source.offset": str(sent.coordinate[2]),
            "lg.source.timestamp": letter.headers["lg.source.timestamp"],
            "lg.schema_id": str(schema_id),
            "lg.contract": sent.contract,
            "lg.job_id": settings.job_name,
        }
        assert (row["reason"], row["field"], row["rule"], row["message"], row["contract"], row["job_id"]) == (
            sent.expected,
            sent.field,
            None,
            message,
            sent.contract,
            settings.job_name,
        )
        assert row["schema_id"] == schema_id
        assert _millis(row["source_timestamp"]) == int(letter.headers["lg.source.timestamp"])
        checked += 1
    assert checked == 6 + 6  # tickets' retries (n % 8 == 0 of 1..52), three corrupt bodies per run


def test_what_the_route_quarantines_passes_through(landed: Landed) -> None:
    dead = {d.source: d for d in landed.dead}
    rows = {_coordinate(r, "source_"): r for r in landed.quarantine}
    routed = [s for s in landed.sent if s.expected == "bad_magic_byte"]
    assert len(routed) == 4
    for sent in routed:
        letter, row = dead[sent.coordinate], rows[sent.coordinate]
        assert (letter.key, letter.value) == (sent.key, sent.value)
        assert letter.headers["lg.message"] == row["message"] == "not a framed value"
        assert "lg.schema_id" not in letter.headers and row["schema_id"] is None
        if sent.key == b"T-garbage":  # Kafka timestamp 0: no timestamp in the table, "0" in the header
            assert row["source_timestamp"] is None and letter.headers["lg.source.timestamp"] == "0"


def _landed(settings: Settings, contracts: Contracts) -> set[Coordinate]:
    try:
        audited = {_coordinate(r, "lg_") for c in contracts for r in read_audit(settings, c).to_pylist()}
        return audited | {_coordinate(r, "source_") for r in read_quarantine(settings).to_pylist()}
    except NoSuchTableError:  # the job has not provisioned its tables yet
        return set()


def _check_counters(settings: Settings, sent: list[Sent]) -> None:
    """What the JVM half counts (docs/hotpath.md, "Metrics"), once everything sent is audited or quarantined:
    records audited and deduplicated, and the bodies it quarantines; the stand-in route counts nothing."""
    text = scrape(settings)
    counted = {k: n for k, n in record_counts(text).items() if k[0].startswith("jvm-crash.")}
    expected: Counter[tuple[str, str, str, str]] = Counter()
    reasons: Counter[tuple[str, str, str]] = Counter()
    for s in sent:
        if s.expected == "bad_magic_byte":
            continue
        assert s.value is not None
        version = "1" if s.value[1:5] == b"\x00\x00\x00\x01" else "unknown"
        outcome = {AUDITED: "audited", "duplicate_event_id": "deduplicated"}.get(s.expected, "quarantined")
        expected[(s.coordinate[0], s.contract, version, outcome)] += 1
        if s.expected != AUDITED:
            reasons[(s.contract, s.expected, "none")] += 1
    assert counted == dict(expected)
    assert quarantine_counts(text) == reasons


def test_a_job_killed_mid_stream_and_run_again_keeps_every_record_once(
    lakegate_stack: Settings, tmp_path: Path
) -> None:
    """Checkpoints of an unbounded run commit what it read (and its counters count it once); a kill -9 loses
    nothing and duplicates nothing once a drained run resumes from the lake."""
    settings = lakegate_stack.replace(
        schemas_dir=_schemas(tmp_path / "schemas", "jvm-crash"),
        job_name="jvm-crash",
        audit_namespace="jvm_crash",
        quarantine_namespace="jvm_crash_q",
        dlq_topic="jvm-crash.dlq",
        consumer_group="jvm-crash",
        start_from="lake",
        drain=False,
    )
    contracts = load_contracts(settings.schemas_dir)
    kafka.ensure_topics(settings, [c.topic for c in contracts] + [settings.dlq_topic])
    producer = Producer(settings)
    with _log(settings).open("ab") as out:
        job = subprocess.Popen(
            [sys.executable, "-m", "lakegate.testing.echo_job"],
            env=settings.child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _produce(producer, contracts, 1, 30)
        wanted = {s.coordinate for s in producer.sent}
        deadline = time.monotonic() + 240
        while not wanted <= _landed(settings, contracts):
            assert job.poll() is None, f"the job died; see {_log(settings)}"
            assert time.monotonic() < deadline, f"records not committed in time; see {_log(settings)}"
            time.sleep(2)
        _check_counters(settings, producer.sent)
        _produce(producer, contracts, 31, 30)  # some of these are in flight when the job dies
        time.sleep(1.5)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    _produce(producer, contracts, 61, 10)
    producer.close()
    _run(settings.replace(drain=True))

    audited = [_coordinate(r, "lg_") for c in contracts for r in read_audit(settings, c).to_pylist()]
    quarantined = [_coordinate(r, "source_") for r in read_quarantine(settings).to_pylist()]
    assert len(audited) == len(set(audited)), "a record audited twice"
    assert len(quarantined) == len(set(quarantined)), "a record quarantined twice"
    landed = {c: AUDITED for c in audited} | {
        _coordinate(r, "source_"): r["reason"] for r in read_quarantine(settings).to_pylist()
    }
    assert landed.keys() == {s.coordinate for s in producer.sent}
    for sent in producer.sent:
        # A fresh run remembers no event ids: a retry whose original the killed run committed is audited.
        allowed = {sent.expected, AUDITED} if sent.expected == "duplicate_event_id" else {sent.expected}
        assert landed[sent.coordinate] in allowed, sent
    dead = [d.source for d in read_dead_letters(settings)]
    assert len(dead) == len(set(dead)) and set(dead) <= set(quarantined)
