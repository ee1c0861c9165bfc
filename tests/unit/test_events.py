"""The event generator: valid against the contract, deterministic, unique ids, keys that repeat."""

from __future__ import annotations

import io
import random
from pathlib import Path

import fastavro

from lakegate.events import EventFactory
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
