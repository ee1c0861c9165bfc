"""bench/load.py: records made once and patched per send route as fresh, valid events; bad ones stay bad."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from bench.data import bench_contracts, padding_for
from bench.load import ID_LENGTH, EventIds, Template, templates
from lakegate.corrupt import zigzag_varint
from lakegate.produce import DEFAULT_BAD_KINDS, RecordMaker
from udfs.contract import Contracts
from udfs.registry import InMemorySchemas
from udfs.router import Quarantined, RawRecord, Router, Valid

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _pool(
    tmp_path: Path, count: int, partitions: int, *, seed: int, bad_fraction: float
) -> tuple[Contracts, InMemorySchemas, list[Template]]:
    """bench.compare's contracts and events (padding included), their schemas registered in memory, and a pool."""
    contracts = bench_contracts(SCHEMAS, tmp_path / "s", topic_prefix="soak.", read_models=None)
    registry = InMemorySchemas()
    ids = {c.name: [registry.add(text) for text in c.schema_texts] for c in contracts}
    maker = RecordMaker(
        contracts,
        ids,
        {},
        random.Random(seed),
        bad_fraction=bad_fraction,
        bad_kinds=DEFAULT_BAD_KINDS if bad_fraction else (),
        all_versions=False,
        padding=padding_for(contracts, 850),
    )
    return contracts, registry, templates(maker, count, {c.topic: partitions for c in contracts})


def test_event_times_near_now_take_six_bytes_so_a_patch_keeps_the_length() -> None:
    now = int(time.time() * 1000)
    times = (now - 86_400_000, now, now + 3_600_000, 2**41 - 1)  # six bytes hold times until 2039
    assert {len(zigzag_varint(t)) for t in times} == {6}


def test_event_ids_are_uuid_shaped_and_unique() -> None:
    a, b = EventIds(random.Random(1)), EventIds(random.Random(2))
    first = [a.next() for _ in range(1000)]
    assert all(len(i) == ID_LENGTH and [len(p) for p in i.split("-")] == [8, 4, 4, 4, 12] for i in first)
    assert len(set(first)) == 1000
    assert not set(first) & {b.next() for _ in range(1000)}


def test_patched_templates_route_as_new_valid_events(tmp_path: Path) -> None:
    contracts, registry, pool = _pool(tmp_path, 300, 3, seed=5, bad_fraction=0.0)
    assert len(pool) >= 290 and all(t.id_at is not None for t in pool)
    assert {t.partition for t in pool} == {0, 1, 2}
    later = int(time.time() * 1000) + 3_600_000  # an hour on: unpatched, every event would be an hour old
    router = Router(contracts, registry, clock=lambda: later)
    names = EventIds(random.Random(9))
    for t in pool:
        event_id = names.next()
        value = t.patched(event_id, later)
        outcome = router.route(RawRecord(t.topic, t.partition, 0, later, t.key, value))
        assert isinstance(outcome, Valid), outcome
        assert outcome.envelope.event_id == event_id
        assert later - 5_000 <= outcome.envelope.event_time_ms <= later
        assert value is not None and t.value is not None and t.id_at is not None
        assert len(value) == len(t.value)
        kept = [
            i for i in range(len(value)) if not (t.id_at <= i < t.id_at + ID_LENGTH or t.time_at <= i < t.time_at + 6)
        ]
        assert bytes(value[i] for i in kept) == bytes(t.value[i] for i in kept)  # nothing else moved


def test_bad_templates_are_sent_unchanged_and_stay_bad(tmp_path: Path) -> None:
    contracts, registry, pool = _pool(tmp_path, 400, 2, seed=6, bad_fraction=0.5)
    bad = [t for t in pool if t.id_at is None]
    assert len(bad) > 100
    now = int(time.time() * 1000)
    router = Router(contracts, registry, clock=lambda: now)
    for t in bad:
        assert t.patched("x" * ID_LENGTH, now) == t.value
        assert isinstance(router.route(RawRecord(t.topic, t.partition, 0, now, t.key, t.value)), Quarantined)


def test_a_patch_that_would_change_the_length_is_refused() -> None:
    t = Template("t", 0, None, b"\x00" * 60, id_at=5, time_at=45, time_bytes=6, jitter_ms=0)
    with pytest.raises(ValueError, match="byte lengths"):
        t.patched("short", int(time.time() * 1000))
    with pytest.raises(ValueError, match="byte lengths"):
        t.patched("x" * ID_LENGTH, 1)
