"""Resume offsets derived from the lake's tables (the pure parts; tests/job covers the whole)."""

from __future__ import annotations

import pyarrow as pa

from lakegate.observe.ledger import high_water
from lakegate.offsets import by_topic, new_origins, specific_offsets_option


def test_highest_offset_per_partition_wins_across_tables() -> None:
    audit = pa.table(
        {
            "topic": ["t", "t", "t", "x"],
            "partition": pa.array([0, 0, 1, 0], pa.int32()),
            "offset": pa.array([5, 9, 2, 99], pa.int64()),
        }
    )
    quarantine = pa.table(
        {
            "topic": ["t", "u"],
            "partition": pa.array([1, 2], pa.int32()),
            "offset": pa.array([7, 3], pa.int64()),
            "reason": ["a", "b"],
        }
    )
    seen = by_topic(high_water(audit, quarantine), {"t", "u"})
    assert seen == {"t": {0: 9, 1: 7}, "u": {2: 3}}, "topics without a contract are ignored"


def test_specific_offsets_option_format() -> None:
    assert specific_offsets_option({1: 8, 0: 10}) == "partition:0,offset:10;partition:1,offset:8"


def test_origins_are_recorded_once_and_only_for_partitions_the_lake_holds_nothing_of() -> None:
    partitions = [("t", 0), ("t", 1), ("t", 2), ("u", 0)]
    first_read = {("t", 0): 40, ("t", 1): 7, ("t", 2): 0, ("u", 0): 5}
    held = {("t", 1): 99}  # the lake holds t[1] already (a lake older than origins): its origin stays unknown
    recorded = {("u", 0): 0}  # recorded at an earlier start: never moved
    assert new_origins(partitions, held, recorded, first_read) == {("t", 0): 40, ("t", 2): 0}
    assert new_origins(partitions, held, {**recorded, ("t", 0): 40, ("t", 2): 0}, first_read) == {}
