"""The no-loss invariant, checked from the outside: every record in the topics is in the audit log or the
quarantine, exactly once. For tests that run a job through faults and then let it drain."""

from __future__ import annotations

import time
from collections import Counter

from pyiceberg.exceptions import NoSuchTableError

from lakegate.settings import Settings
from lakegate.testing.readers import read_audit, read_quarantine, topic_coordinates
from udfs.contract import Contracts

Coordinate = tuple[str, int, int]


def lake_coordinates(settings: Settings, contracts: Contracts) -> tuple[list[Coordinate], list[Coordinate]]:
    """(topic, partition, offset) of every audited and every quarantined row, duplicates kept."""
    audited: list[Coordinate] = []
    for contract in contracts:
        rows = read_audit(settings, contract)  # once: the job may commit between two reads
        audited += zip(*(rows[n].to_pylist() for n in ("lg_topic", "lg_partition", "lg_offset")), strict=True)
    q = read_quarantine(settings)
    quarantined = list(
        zip(
            q["source_topic"].to_pylist(),
            q["source_partition"].to_pylist(),
            q["source_offset"].to_pylist(),
            strict=True,
        )
    )
    return audited, quarantined


def wait_until_drained(settings: Settings, contracts: Contracts, timeout_s: float = 240) -> None:
    """Until the lake holds every record the contract topics hold now; AssertionError after ``timeout_s``.
    Tables a job has not created yet (it creates them as it starts) count as empty meanwhile."""
    expected = topic_coordinates(settings, [c.topic for c in contracts])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            audited, quarantined = lake_coordinates(settings, contracts)
        except NoSuchTableError:
            audited, quarantined = [], []
        if set(audited) | set(quarantined) >= expected:
            return
        time.sleep(2)
    audited, quarantined = lake_coordinates(settings, contracts)
    raise AssertionError(
        f"after {timeout_s:.0f} s the lake holds {len(set(audited) | set(quarantined))} of {len(expected)} records"
    )


def assert_every_record_once(settings: Settings, contracts: Contracts) -> None:
    """Audit plus quarantine == every record in the topics, disjoint, nothing written twice."""
    audited, quarantined = lake_coordinates(settings, contracts)
    doubled = {c: n for c, n in Counter(audited + quarantined).items() if n > 1}
    assert not doubled, f"{len(doubled)} records written twice, e.g. {next(iter(doubled))}"
    expected = topic_coordinates(settings, [c.topic for c in contracts])
    missing = expected - set(audited) - set(quarantined)
    assert not missing, f"{len(missing)} records neither audited nor quarantined, e.g. {sorted(missing)[:3]}"
    extra = (set(audited) | set(quarantined)) - expected
    assert not extra, f"{len(extra)} lake rows for offsets the topics do not hold, e.g. {sorted(extra)[:3]}"
    both = set(audited) & set(quarantined)
    assert not both, f"{len(both)} records both audited and quarantined, e.g. {sorted(both)[:3]}"
