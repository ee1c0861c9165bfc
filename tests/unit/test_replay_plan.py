"""Replay planning (pure): filters, skipping what is already audited, re-validation with today's contracts."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import fastavro

from lakegate.events import EventFactory
from lakegate.replay import Audited, effective_quarantine, plan
from udfs.contract import load_contracts
from udfs.registry import InMemorySchemas
from udfs.router import Router
from udfs.wire import frame

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _row(offset: int, reason: str, key: bytes | None, value: bytes | None, topic: str) -> dict[str, Any]:
    return {
        "reason": reason,
        "contract": "tickets",
        "source_topic": topic,
        "source_partition": 0,
        "source_offset": offset,
        "source_timestamp": None,
        "original_key": key,
        "original_value": value,
    }


def _tickets_event(seed: int) -> tuple[Router, dict[str, Any], bytes, bytes]:
    """A router over the real contracts, and one valid tickets event: (router, event, key, framed value)."""
    contracts = load_contracts(SCHEMAS)
    tickets = contracts.by_name("tickets")
    schemas = InMemorySchemas()
    schema_id = schemas.add(tickets.schema_texts[-1])
    event = EventFactory(tickets, random.Random(seed)).next(now_ms=1_700_000_000_000)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, tickets.reader_schema, event)
    router = Router(contracts, schemas, clock=lambda: 1_700_000_001_000)
    return router, event, str(event[tickets.key_field]).encode(), frame(schema_id, buffer.getvalue())


def test_plan_selects_what_now_passes_and_skips_what_is_audited() -> None:
    router, _, key, good = _tickets_event(1)
    topic = "support.tickets.v1"
    rows = [
        _row(1, "rule_violation", key, good, topic),  # passes today: selected
        _row(2, "rule_violation", key, good, topic),  # already audited: skipped
        _row(3, "bad_magic_byte", key, b"\x07" + good[1:], topic),  # still fails
        _row(4, "missing_key", None, good, topic),  # filtered out by reason
    ]
    result = plan(rows, Audited({(topic, 0, 2)}), router, reasons=["rule_violation", "bad_magic_byte"])
    assert result.considered == 3
    assert result.already_audited == 1
    assert [r.offset for r in result.passing] == [1]
    assert dict(result.still_failing) == {"bad_magic_byte": 1}
    assert plan(rows, Audited(), router, contracts=["users"]).considered == 0


def test_plan_never_replays_an_event_whose_id_is_already_audited() -> None:
    router, event, key, value = _tickets_event(2)
    topic = "support.tickets.v1"
    rows = [
        _row(7, "duplicate_event_id", key, value, topic),
        _row(8, "rule_violation", key, value, topic),
    ]  # the same event quarantined twice
    audited_original = Audited(event_ids={("tickets", str(event["event_id"]))})
    blocked = plan(rows, audited_original, router)
    assert blocked.passing == [] and blocked.event_already_audited == 2
    fresh = plan(rows, Audited(), router)
    assert [r.offset for r in fresh.passing] == [7] and fresh.event_already_audited == 1


def test_effective_quarantine_excludes_replayed_records() -> None:
    assert effective_quarantine([("t", 0, 1), ("t", 0, 2)], {("t", 0, 2)}) == {("t", 0, 1)}
