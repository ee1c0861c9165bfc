"""Audit columns and row values for the real contracts."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from udfs.audit import audit_columns, audit_values
from udfs.columns import Column, ColumnKind, as_epoch_millis, epoch_millis, payload_columns
from udfs.contract import Contracts
from udfs.envelope import ENVELOPE_COLUMNS, Envelope
from udfs.errors import ContractError
from udfs.router import Valid

from .support import ticket_event, user_event

ENVELOPE = Envelope("e-1", 1_700_000_000_123, 1_800_000_000_000, "t", 2, 99, 5, None, "team")
ENVELOPE_ROW = (1_800_000_000_000, "t", 2, 99, 5, None, "team")


def test_envelope_columns() -> None:
    assert [(c.name, c.kind, c.nullable) for c in ENVELOPE_COLUMNS] == [
        ("lg_ingest_time", ColumnKind.timestamp_ms, False),
        ("lg_topic", ColumnKind.string, False),
        ("lg_partition", ColumnKind.int, False),
        ("lg_offset", ColumnKind.long, False),
        ("lg_schema_id", ColumnKind.int, False),
        ("lg_schema_version", ColumnKind.int, True),
        ("lg_producer_team", ColumnKind.string, False),
    ]


def test_tickets_columns_and_values(contracts: Contracts) -> None:
    columns = audit_columns(contracts.by_name("tickets"))
    S, L, INT = ColumnKind.string, ColumnKind.long, ColumnKind.int  # noqa: N806
    assert [(c.name, c.kind, c.nullable) for c in columns[:13]] == [
        ("event_id", S, False),
        ("event_time", ColumnKind.timestamp_ms, False),
        ("event_type", S, False),
        ("ticket_id", S, False),
        ("customer_id", S, False),
        ("subject", S, False),
        ("priority", S, False),
        ("status", S, False),
        ("channel", S, False),
        ("assignee_id", S, True),
        ("reply_count", INT, False),
        ("first_response_seconds", L, True),
        ("csat_score", INT, True),  # added in v2 as satisfaction_score, renamed in v3
    ]
    assert columns[13:] == ENVELOPE_COLUMNS
    assert columns[1].doc == "When the change happened at the producer."
    event = ticket_event()
    row = audit_values(Valid("tickets", ENVELOPE, event), columns)
    assert row == (*(event[c.name] for c in columns[:13]), *ENVELOPE_ROW)


def test_users_columns_and_values_with_logical_objects(contracts: Contracts) -> None:
    columns = audit_columns(contracts.by_name("users"))
    kinds = {c.name: (c.kind, c.nullable) for c in columns}
    assert kinds["signed_up_at"] == (ColumnKind.timestamp_ms, True)
    assert kinds["is_agent"] == (ColumnKind.boolean, False)
    assert kinds["plan"] == (ColumnKind.string, False)
    # payloads decoded with logical types (UUID, datetime) are converted too
    event = user_event(
        event_id=uuid.UUID(int=7),
        event_time=dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC),
        signed_up_at=None,
    )
    row = dict(zip([c.name for c in columns], audit_values(Valid("users", ENVELOPE, event), columns), strict=True))
    assert row["event_id"] == str(uuid.UUID(int=7))
    assert row["event_time"] == 1_700_000_000_123
    assert row["signed_up_at"] is None
    assert row["email"] == "secret.person@example.com"
    assert row["lg_producer_team"] == "team"


def test_all_supported_kinds() -> None:
    schema = {
        "fields": [
            {"name": "b", "type": "bytes"},
            {"name": "f", "type": "float"},
            {"name": "d", "type": ["double", "null"]},
            {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
        ]
    }
    assert payload_columns(schema) == (
        Column("b", ColumnKind.bytes, False),
        Column("f", ColumnKind.float, False),
        Column("d", ColumnKind.double, True),
        Column("u", ColumnKind.string, False),
    )
    values = audit_values(
        Valid("x", ENVELOPE, {"b": bytearray(b"\x00\x01"), "f": 1.5, "d": None, "u": "x"}),
        payload_columns(schema),
    )
    assert values == (b"\x00\x01", 1.5, None, "x")
    assert type(values[0]) is bytes


@pytest.mark.parametrize(
    "avro",
    [
        {"type": "array", "items": "string"},
        {"type": "map", "values": "string"},
        {"type": "record", "name": "N", "fields": []},
        {"type": "fixed", "name": "F", "size": 4},
        ["null", "string", "int"],
        ["string", "int"],
        "null",
    ],
)
def test_unsupported_types_name_the_field(avro: object) -> None:
    with pytest.raises(ContractError) as info:
        payload_columns({"fields": [{"name": "ok", "type": "int"}, {"name": "bad", "type": avro}]}, source="x.avsc")
    assert info.value.field == "bad"
    assert "not supported yet in audit columns" in str(info.value)


def test_epoch_millis_is_exact_floors_and_reads_a_naive_datetime_as_utc() -> None:
    utc = dt.UTC
    # Float arithmetic (timestamp() * 1000) is one millisecond short for some values, this one among them.
    assert epoch_millis(dt.datetime(1987, 4, 3, 10, 33, 10, 9000, tzinfo=utc)) == 544_444_390_009
    assert epoch_millis(dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=utc)) == 1_700_000_000_123
    assert epoch_millis(dt.datetime(2023, 11, 14, 22, 13, 20, 123999, tzinfo=utc)) == 1_700_000_000_123
    assert epoch_millis(dt.datetime(2023, 11, 14, 22, 13, 20, 123000)) == 1_700_000_000_123, "naive: UTC"
    assert epoch_millis(dt.datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=utc)) == -1, "floored before 1970"
    assert epoch_millis(dt.datetime(2023, 11, 15, 0, 13, 20, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == (
        1_700_000_000_123
    )
    assert epoch_millis(1_700_000_000_123) == 1_700_000_000_123
    assert as_epoch_millis("not a timestamp") == "not a timestamp"
    with pytest.raises(TypeError, match="not bool"):
        epoch_millis(True)
