"""The record maker behind `lakegate produce`: every record is routed exactly as intended."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import fastavro

from lakegate.produce import DEFAULT_BAD_KINDS, DUPLICATE, VALID, RecordMaker, incompatible_variant
from udfs.contract import load_contracts
from udfs.registry import InMemorySchemas
from udfs.router import Quarantined, RawRecord, Router, Valid

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _maker(
    bad_fraction: float, *, all_versions: bool = False, duplicate_fraction: float = 0.0
) -> tuple[RecordMaker, Router]:
    contracts = load_contracts(SCHEMAS)
    schemas = InMemorySchemas()
    ids = {c.name: [schemas.add(t) for t in c.schema_texts] for c in contracts}
    incompatible = {}
    for c in contracts:
        variant = incompatible_variant(c)
        assert variant is not None
        incompatible[c.name] = (schemas.add(json.dumps(variant)), fastavro.parse_schema(variant))
    maker = RecordMaker(
        contracts,
        ids,
        incompatible,
        random.Random(3),
        bad_fraction=bad_fraction,
        bad_kinds=DEFAULT_BAD_KINDS,
        all_versions=all_versions,
        duplicate_fraction=duplicate_fraction,
    )
    return maker, Router(contracts, schemas, clock=lambda: 1_900_000_000_000)


def test_every_made_record_is_routed_as_intended() -> None:
    maker, router = _maker(0.5, all_versions=True)
    outcomes: Counter[str] = Counter()
    for i in range(4000):
        draft = maker.make(i)
        result = router.route(RawRecord(draft.contract.topic, 0, i, 0, draft.key, draft.value))
        got = str(result.reason) if isinstance(result, Quarantined) else VALID
        assert got == draft.expected, f"record {i}: made as {draft.expected}, routed as {got}"
        outcomes[got] += 1
    assert outcomes[VALID] > 1500
    assert set(outcomes) - {VALID} == {str(k) for k in DEFAULT_BAD_KINDS}, "every bad kind should be made"


def test_oversized_is_only_made_for_contracts_whose_limit_fits_the_broker() -> None:
    maker, _ = _maker(1.0)
    for i in range(3000):
        draft = maker.make(i)
        if draft.expected == "oversized":
            assert draft.contract.max_record_bytes <= 512 * 1024
            assert draft.value is not None and len(draft.value) < 1_000_000


def test_retries_repeat_valid_records_unchanged_right_after_the_original() -> None:
    maker, router = _maker(0.2, duplicate_fraction=0.25)
    plain, _ = _maker(0.2)
    retries = 0
    for i in range(2000):
        drafts = maker.drafts(i)
        first = drafts[0]
        same = plain.make(i)  # (event times follow the wall clock, so the value bytes may differ)
        assert (first.event_id, first.key, first.expected) == (same.event_id, same.key, same.expected), (
            "asking for retries must not change which records are made"
        )
        if len(drafts) == 2:
            retry = drafts[1]
            assert first.expected == VALID, "only valid records are retried"
            assert (retry.key, retry.value, retry.event_id, retry.contract) == (
                first.key,
                first.value,
                first.event_id,
                first.contract,
            )
            assert retry.expected == DUPLICATE == "duplicate_event_id"
            # The router alone is stateless: a retry is valid to it, only the job's keyed state tells.
            assert isinstance(router.route(RawRecord(retry.contract.topic, 0, i, 0, retry.key, retry.value)), Valid)
            retries += 1
        else:
            assert len(drafts) == 1
    assert 250 < retries < 550  # ~25 % of ~1,600 valid records


def test_no_retries_by_default() -> None:
    maker, _ = _maker(0.1)
    assert all(len(maker.drafts(i)) == 1 for i in range(1000))
