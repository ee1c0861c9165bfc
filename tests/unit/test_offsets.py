"""Resume offsets derived from the lake's tables (the pure parts; tests/job covers the whole)."""

from __future__ import annotations

import pyarrow as pa

from lakegate.offsets import _merge_max, specific_offsets_option


def test_highest_offset_per_partition_wins_across_tables() -> None:
    seen: dict[str, dict[int, int]] = {"t": {}, "u": {}}
    audit = pa.table({"lg_topic": ["t", "t", "t", "x"], "lg_partition": [0, 0, 1, 0], "lg_offset": [5, 9, 2, 99]})
    _merge_max(seen, audit, ("lg_topic", "lg_partition", "lg_offset"))
    quarantine = pa.table({"source_topic": ["t", "u"], "source_partition": [1, 2], "source_offset": [7, 3]})
    _merge_max(seen, quarantine, ("source_topic", "source_partition", "source_offset"))
    assert seen == {"t": {0: 9, 1: 7}, "u": {2: 3}}, "topics without a contract are ignored"


def test_specific_offsets_option_format() -> None:
    assert specific_offsets_option({1: 8, 0: 10}) == "partition:0,offset:10;partition:1,offset:8"
