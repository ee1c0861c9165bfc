"""Helpers for the udfs unit tests: paths, sample events and an Avro body encoder."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import fastavro

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def ticket_event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.UUID(int=0x1234)),
        "event_time": 1_700_000_000_123,
        "event_type": "CREATED",
        "ticket_id": "T-1001",
        "customer_id": "C-77",
        "subject": "Printer on fire — ünïcode",
        "priority": "HIGH",
        "status": "NEW",
        "channel": "EMAIL",
        "assignee_id": None,
        "reply_count": 2,
        "first_response_seconds": 90,
        "satisfaction_score": 4,
    }
    event.update(overrides)
    return event


def user_event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.UUID(int=0x5678)),
        "event_time": 1_700_000_000_456,
        "event_type": "SIGNED_UP",
        "user_id": "U-42",
        "email": "secret.person@example.com",
        "display_name": "Secret Person",
        "locale": "de-DE",
        "plan": "TEAM",
        "is_agent": True,
        "signed_up_at": 1_600_000_000_000,
    }
    event.update(overrides)
    return event


EVENTS: dict[str, Callable[..., dict[str, object]]] = {"tickets": ticket_event, "users": user_event}


def avro_body(schema: object, record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)  # type: ignore[arg-type]
    return out.getvalue()
