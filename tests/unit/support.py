"""Helpers for the udfs unit tests: paths, sample events and an Avro body encoder."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import fastavro

from jobs.plan import treated_fields
from udfs.contract import Contracts
from udfs.hotpath import PlanIndexes

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
        "csat_score": 4,
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


def plan_indexes(contracts: Contracts) -> PlanIndexes:
    """The route's part of the plan jobs/plan.py builds (same order, same treated fields), without tables."""
    ordered = sorted(contracts, key=lambda c: c.name)
    topics = [c.topic for c in ordered]
    return PlanIndexes.from_plan(
        {
            "topics": topics,
            "contracts": [{"name": c.name, "topic_index": topics.index(c.topic)} for c in ordered],
            "models": [
                {"name": m.name, "contract_index": i, "treated": treated_fields(m, c)}
                for i, c in enumerate(ordered)
                for m in c.read_models
            ],
        }
    )
