"""The event generator: valid against the contract, deterministic, unique ids, keys that repeat."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path

import fastavro

from lakegate.events import EventFactory, Padding
from udfs.contract import load_contracts

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_events_encode_with_the_contract_schema_and_are_deterministic() -> None:
    for contract in load_contracts(SCHEMAS):
        first = [EventFactory(contract, random.Random(5)).next(now_ms=1_700_000_000_000) for _ in range(1)]
        again = [EventFactory(contract, random.Random(5)).next(now_ms=1_700_000_000_000) for _ in range(1)]
        assert first == again
        factory = EventFactory(contract, random.Random(1))
        events = [factory.next(now_ms=1_700_000_000_000) for _ in range(2000)]
        for event in events[:200]:
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, contract.reader_schema, event)  # raises if invalid
            assert buffer.getvalue()
        ids = [e[contract.event_id_field] for e in events]
        assert len(set(ids)) == len(ids)
        keys = [e[contract.key_field] for e in events]
        assert len(set(keys)) < len(keys), "keys must repeat so that events update the same entities"
        assert all(e[contract.event_time_field] <= 1_700_000_000_000 for e in events)


def test_padding_fills_a_free_text_field_of_the_contracts_that_have_it() -> None:
    tickets = load_contracts(SCHEMAS).by_name("tickets")
    schema = dict(tickets.reader_schema_json)
    schema["fields"] = [*schema["fields"], {"name": "notes", "type": ["null", "string"], "default": None}]
    padded = dataclasses.replace(tickets, reader_schema_json=schema, reader_schema=fastavro.parse_schema(schema))
    factory = EventFactory(padded, random.Random(3), padding=Padding("notes", 700))
    events = [factory.next() for _ in range(200)]
    assert all(350 <= len(e["notes"]) <= 1050 for e in events)
    assert 600 < sum(len(e["notes"]) for e in events) / len(events) < 800
    # A contract without the field is left alone, and draws nothing from the generator: same events as unpadded.
    plain = EventFactory(tickets, random.Random(3), padding=Padding("notes", 700)).next(now_ms=1)
    assert "notes" not in plain and plain == EventFactory(tickets, random.Random(3)).next(now_ms=1)
