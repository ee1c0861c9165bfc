"""Dedupe end to end: producer retries (same key, same value bytes) reach the audit log once, the retries
land in quarantine as duplicate_event_id, and every record still ends in exactly one place; with the state
on the heap and in RocksDB."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

import pytest

from lakegate.produce import DUPLICATE, VALID, ProduceReport, produce
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import DeadLetter, read_audit, read_dead_letters, read_quarantine, topic_coordinates
from udfs.contract import load_contracts

pytestmark = pytest.mark.job

Coordinate = tuple[str, int, int]


@pytest.fixture(scope="module", params=["hashmap", "rocksdb"])
def deduped(
    request: pytest.FixtureRequest,
    lakegate_stack: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    run_job: Callable[..., JobRun],
) -> tuple[Settings, ProduceReport, dict[Coordinate, str], list[Coordinate], list[DeadLetter]]:
    # The plugin's settings ignore the environment; LAKEGATE_PYTHON_EXECUTION_MODE=process runs this
    # test in the other Python execution mode (keyed state crosses the Java/Python boundary differently).
    mode = os.environ.get("LAKEGATE_PYTHON_EXECUTION_MODE", lakegate_stack.job.python_execution_mode)
    # Each state backend keeps the dedupe ids (with the window as their time to live) and the read models.
    backend = request.param
    settings, contracts = own_lake(
        lakegate_stack,
        tmp_path_factory.mktemp(f"dedupe_{backend}"),
        f"dedupe_{backend}",
        python_execution_mode=mode,
        state_backend=backend,
    )
    assert all(c.dedupe_window_s > 0 for c in contracts), "the test needs dedupe on (the default)"
    seed = 9090 + ["hashmap", "rocksdb"].index(backend)
    report = produce(settings, contracts, 1500, bad_fraction=0.08, duplicate_fraction=0.1, seed=seed)
    run_job("ingest", settings)
    audit_ids: dict[Coordinate, str] = {}
    audit_coords: list[Coordinate] = []
    for contract in contracts:
        for row in read_audit(settings, contract).to_pylist():
            coord = (row["lg_topic"], row["lg_partition"], row["lg_offset"])
            audit_coords.append(coord)
            audit_ids[coord] = row[contract.event_id_field]
    return settings, report, audit_ids, audit_coords, read_dead_letters(settings)


def _originals(report: ProduceReport) -> dict[Coordinate, Coordinate]:
    """Each duplicate's coordinate → its original's (sent right before it, to the same topic and key)."""
    originals: dict[Coordinate, Coordinate] = {}
    by_event = {(r.contract, r.event_id): r for r in report.records if r.expected == VALID}
    for r in report.records:
        if r.expected == DUPLICATE:
            first = by_event[(r.contract, r.event_id)]
            originals[(r.topic, r.partition, r.offset)] = (first.topic, first.partition, first.offset)
    return originals


def test_the_report_holds_retries_of_valid_records(deduped) -> None:  # type: ignore[no-untyped-def]
    _, report, _, _, _ = deduped
    counts = Counter(r.expected for r in report.records)
    assert 100 < counts[DUPLICATE] < 200, counts
    assert len(report.records) == 1500 + counts[DUPLICATE]
    assert len(set(counts) - {VALID, DUPLICATE}) > 5, "bad records of several kinds are mixed in"
    originals = _originals(report)
    assert len(originals) == counts[DUPLICATE]
    for dup, first in originals.items():
        assert dup[:2] == first[:2] and dup[2] > first[2], "a retry follows its original in the same partition"


def test_each_duplicate_is_quarantined_unchanged_as_duplicate_event_id(  # type: ignore[no-untyped-def]
    deduped,
) -> None:
    settings, report, _, _, dead = deduped
    by_source = {d.source: d for d in dead}
    rows = {
        (r["source_topic"], r["source_partition"], r["source_offset"]): r for r in read_quarantine(settings).to_pylist()
    }
    duplicates = [r for r in report.records if r.expected == DUPLICATE]
    for r in duplicates:
        coord = (r.topic, r.partition, r.offset)
        letter = by_source[coord]
        assert letter.reason == DUPLICATE
        assert (letter.key, letter.value) == (r.key, r.value), "the dead letter carries the retry's bytes"
        assert letter.headers["lg.contract"] == r.contract
        assert letter.headers["lg.field"] == "event_id"
        assert rows[coord]["reason"] == DUPLICATE
        assert rows[coord]["original_value"] == r.value
    # Nothing else is quarantined, and the bad records keep their own reasons.
    expected = {(r.topic, r.partition, r.offset): r.expected for r in report.records if r.expected != VALID}
    assert {d.source: d.reason for d in dead} == expected


def test_each_original_is_audited_once_and_no_event_id_twice(deduped) -> None:  # type: ignore[no-untyped-def]
    _, report, audit_ids, audit_coords, _ = deduped
    for dup, first in _originals(report).items():
        assert first in audit_ids, "the first occurrence must be audited"
        assert dup not in audit_ids
    valid = {(r.topic, r.partition, r.offset): r.event_id for r in report.records if r.expected == VALID}
    assert audit_ids == valid
    assert len(audit_coords) == len(set(audit_coords))
    ids = Counter(audit_ids.values())
    assert ids.most_common(1)[0][1] == 1, "an event id appears twice in the audit log"


def test_every_record_in_the_topics_lands_in_exactly_one_place(  # type: ignore[no-untyped-def]
    deduped,
) -> None:
    settings, report, _, audit_coords, dead = deduped
    produced = topic_coordinates(settings, [c.topic for c in load_contracts(settings.paths.schemas_dir)])
    assert {(r.topic, r.partition, r.offset) for r in report.records} <= produced
    quarantined = [d.source for d in dead]
    assert len(quarantined) == len(set(quarantined)), "a record appears twice in quarantine"
    assert set(audit_coords).isdisjoint(quarantined)
    assert set(audit_coords) | set(quarantined) == produced
