"""The no-loss ledger (lakegate/observe/ledger.py) on small in-memory tables: no lake, no Kafka.

``read == audited + quarantined + deduplicated`` per topic, up to each partition's settled offset; offsets the
lake does not cover are gaps whose record count Kafka supplies (here: the test).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pytest

from lakegate.observe.ledger import Gap, Tally, TopicLedger, TopicPartition, high_water, ledger, tally
from udfs.reasons import Reason

USERS = "support.users.v1"
TICKETS = "support.tickets.v1"
DUPLICATE = str(Reason.duplicate_event_id)
MISMATCH = str(Reason.schema_mismatch)
RULE = str(Reason.rule_violation)


def audit(*rows: tuple[str, int, int]) -> pa.Table:
    """Normalised audit coordinates (topic, partition, offset), as read_lake returns them."""
    return pa.table(
        {
            "topic": pa.array([t for t, _, _ in rows], pa.string()),
            "partition": pa.array([p for _, p, _ in rows], pa.int32()),
            "offset": pa.array([o for _, _, o in rows], pa.int64()),
        }
    )


def quarantine(*rows: tuple[str, int, int, str]) -> pa.Table:
    """Normalised quarantine coordinates and reasons."""
    return pa.table(
        {
            "topic": pa.array([t for t, _, _, _ in rows], pa.string()),
            "partition": pa.array([p for _, p, _, _ in rows], pa.int32()),
            "offset": pa.array([o for _, _, o, _ in rows], pa.int64()),
            "reason": pa.array([r for _, _, _, r in rows], pa.string()),
        }
    )


def audited(topic: str, partition: int, offsets: range | list[int]) -> list[tuple[str, int, int]]:
    return [(topic, partition, o) for o in offsets]


def count(
    audit_rows: pa.Table,
    quarantine_rows: pa.Table,
    settled: Mapping[TopicPartition, int],
    log_start: Mapping[TopicPartition, int] | None = None,
    records_in_gaps: Mapping[Gap, int] | None = None,
    topics: tuple[str, ...] = (USERS,),
) -> tuple[Tally, list[TopicLedger]]:
    counted = tally(audit_rows, quarantine_rows, settled, log_start or {})
    return counted, ledger(counted, records_in_gaps or {}, list(topics))


# ---- balanced ---------------------------------------------------------------------------------------------
def test_every_offset_covered_balances_with_no_gaps() -> None:
    counted, rows = count(
        audit(*audited(USERS, 0, [0, 1, 3])),
        quarantine((USERS, 0, 2, MISMATCH), (USERS, 0, 4, DUPLICATE)),
        settled={(USERS, 0): 4},
        log_start={(USERS, 0): 0},
    )
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=5, audited=3, quarantined=1, deduplicated=1)]
    assert rows[0].unaccounted == 0


def test_duplicates_count_as_deduplicated_not_quarantined() -> None:
    _, rows = count(
        audit(*audited(USERS, 0, range(3))),
        quarantine((USERS, 0, 3, DUPLICATE), (USERS, 0, 4, DUPLICATE), (USERS, 0, 5, RULE)),
        settled={(USERS, 0): 5},
    )
    assert rows == [TopicLedger(USERS, read=6, audited=3, quarantined=1, deduplicated=2)]
    assert rows[0].unaccounted == 0


def test_a_quarantined_record_replayed_into_the_audit_log_counts_once_as_audited() -> None:
    counted, rows = count(
        audit(*audited(USERS, 0, range(4))),
        quarantine((USERS, 0, 2, MISMATCH)),  # quarantined first, replayed since: offset 2 is in both
        settled={(USERS, 0): 3},
    )
    assert counted.quarantined == {}
    assert rows == [TopicLedger(USERS, read=4, audited=4, quarantined=0, deduplicated=0)]
    assert rows[0].unaccounted == 0


# ---- gaps ---------------------------------------------------------------------------------------------------
def test_a_missing_offset_in_the_middle_is_a_gap() -> None:
    counted = tally(audit(*audited(USERS, 0, [0, 1, 3, 4])), quarantine(), {(USERS, 0): 4}, {})
    assert counted.gaps == [(USERS, 0, 2, 2)]
    assert counted.covered == {USERS: 4}


def test_a_gap_kafka_has_not_counted_is_an_error_not_zero() -> None:
    """Never assume a gap is empty: the exporter counts the failure (source lake) and keeps the last ledger."""
    counted = tally(audit(*audited(USERS, 0, [0, 1, 3, 4])), quarantine(), {(USERS, 0): 4}, {})
    with pytest.raises(KeyError):
        ledger(counted, {}, [USERS])


def test_a_gap_holding_a_record_is_a_lost_record() -> None:
    _, rows = count(
        audit(*audited(USERS, 0, [0, 1, 3, 4])),
        quarantine(),
        settled={(USERS, 0): 4},
        records_in_gaps={(USERS, 0, 2, 2): 1},
    )
    assert rows == [TopicLedger(USERS, read=5, audited=4, quarantined=0, deduplicated=0)]
    assert rows[0].unaccounted == 1


def test_a_gap_holding_no_record_balances() -> None:
    """A transaction marker (or a compacted record) takes an offset but holds no record."""
    _, rows = count(
        audit(*audited(USERS, 0, [0, 1, 3, 4])),
        quarantine(),
        settled={(USERS, 0): 4},
        records_in_gaps={(USERS, 0, 2, 2): 0},
    )
    assert rows == [TopicLedger(USERS, read=4, audited=4, quarantined=0, deduplicated=0)]
    assert rows[0].unaccounted == 0


def test_consecutive_missing_offsets_form_one_maximal_gap() -> None:
    counted, rows = count(
        audit(*audited(USERS, 0, [0, 5, 6, 9])),
        quarantine(),
        settled={(USERS, 0): 9},
        records_in_gaps={(USERS, 0, 1, 4): 3, (USERS, 0, 7, 8): 0},
    )
    assert counted.gaps == [(USERS, 0, 1, 4), (USERS, 0, 7, 8)]
    assert rows[0].read == 4 + 3
    assert rows[0].unaccounted == 3


def test_a_log_start_before_the_first_covered_offset_is_a_leading_gap() -> None:
    counted, rows = count(
        audit(*audited(USERS, 0, range(3, 6))),
        quarantine(),
        settled={(USERS, 0): 5},
        log_start={(USERS, 0): 0},
        records_in_gaps={(USERS, 0, 0, 2): 3},
    )
    assert counted.gaps == [(USERS, 0, 0, 2)]
    assert rows[0].unaccounted == 3


def test_a_log_start_after_the_first_covered_offset_adds_no_gap() -> None:
    """Retention deleted records the lake already holds: the ledger counts from the lake's first offset."""
    counted, rows = count(
        audit(*audited(USERS, 0, range(3, 6))), quarantine(), settled={(USERS, 0): 5}, log_start={(USERS, 0): 4}
    )
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=3, audited=3, quarantined=0, deduplicated=0)]


@pytest.mark.parametrize(
    ("origin", "log_start", "leading_gap"),
    [
        (3, 0, None),  # a job started mid-topic at 3 owns nothing before it
        (1, 0, (USERS, 0, 1, 2)),  # it started at 1: offsets 1 and 2 were read and are not in the lake
        (0, 2, (USERS, 0, 2, 2)),  # retention removed 0 and 1 since: only 2 can still be counted
    ],
    ids=["origin-at-the-first-covered", "origin-before-it", "log-start-after-the-origin"],
)
def test_an_origin_is_where_a_partitions_account_begins(origin: int, log_start: int, leading_gap: Gap | None) -> None:
    lake, settled, starts = audit(*audited(USERS, 0, range(3, 6))), {(USERS, 0): 5}, {(USERS, 0): log_start}
    without = tally(lake, quarantine(), settled, starts)
    assert without.gaps == [(USERS, 0, log_start, 2)], "without an origin the account begins at the log start"
    counted = tally(lake, quarantine(), settled, starts, {(USERS, 0): origin})
    assert counted.gaps == ([leading_gap] if leading_gap else [])
    in_gaps = {g: g[3] - g[2] + 1 for g in counted.gaps}  # Kafka still holds every offset of each gap
    assert ledger(counted, in_gaps, [USERS])[0].unaccounted == sum(in_gaps.values())


def test_offsets_missing_below_the_settled_offset_at_the_end_are_a_trailing_gap() -> None:
    """Rows the lake held when the offset settled and no longer holds (deleted) are missing too."""
    counted, rows = count(
        audit(*audited(USERS, 0, range(4))),
        quarantine(),
        settled={(USERS, 0): 6},
        records_in_gaps={(USERS, 0, 4, 6): 3},
    )
    assert counted.gaps == [(USERS, 0, 4, 6)]
    assert rows[0].unaccounted == 3


# ---- written twice ------------------------------------------------------------------------------------------
def test_a_coordinate_written_twice_to_the_audit_log_is_minus_one() -> None:
    counted, rows = count(audit(*audited(USERS, 0, [0, 1, 2, 2, 3])), quarantine(), settled={(USERS, 0): 3})
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=4, audited=5, quarantined=0, deduplicated=0)]
    assert rows[0].unaccounted == -1


def test_a_coordinate_quarantined_twice_is_minus_one() -> None:
    _, rows = count(
        audit(*audited(USERS, 0, [0, 1])), quarantine((USERS, 0, 2, RULE), (USERS, 0, 2, RULE)), settled={(USERS, 0): 2}
    )
    assert rows == [TopicLedger(USERS, read=3, audited=2, quarantined=2, deduplicated=0)]
    assert rows[0].unaccounted == -1


# ---- what is counted ----------------------------------------------------------------------------------------
def test_rows_above_the_settled_offset_are_ignored() -> None:
    """The quarantine table may not have committed the same checkpoint yet: not counted until settled."""
    counted, rows = count(
        audit(*audited(USERS, 0, range(10))),
        quarantine((USERS, 0, 12, MISMATCH), (USERS, 0, 13, DUPLICATE)),
        settled={(USERS, 0): 5},
    )
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=6, audited=6, quarantined=0, deduplicated=0)]


def test_partitions_without_a_settled_offset_are_ignored() -> None:
    counted, rows = count(
        audit(*audited(USERS, 0, range(3)), *audited(USERS, 1, [0, 7])),  # partition 1 would have a gap
        quarantine((USERS, 1, 3, MISMATCH)),
        settled={(USERS, 0): 2},
    )
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=3, audited=3, quarantined=0, deduplicated=0)]


def test_nothing_is_counted_before_any_offset_has_settled() -> None:
    counted, rows = count(audit(*audited(USERS, 0, range(3))), quarantine((USERS, 0, 3, MISMATCH)), settled={})
    assert counted == Tally()
    assert rows == [TopicLedger(USERS, read=0, audited=0, quarantined=0, deduplicated=0)]


def test_a_topic_with_no_rows_appears_with_zeros() -> None:
    _, rows = count(audit(*audited(USERS, 0, range(2))), quarantine(), settled={(USERS, 0): 1}, topics=(TICKETS, USERS))
    assert rows == [
        TopicLedger(TICKETS, read=0, audited=0, quarantined=0, deduplicated=0),
        TopicLedger(USERS, read=2, audited=2, quarantined=0, deduplicated=0),
    ]
    assert rows[0].unaccounted == 0


def test_an_empty_lake_counts_nothing() -> None:
    counted, rows = count(
        audit(), quarantine(), settled={(USERS, 0): 4}, log_start={(USERS, 0): 0}, topics=(TICKETS, USERS)
    )
    assert counted.gaps == []
    assert [r.read for r in rows] == [0, 0]


def test_several_topics_and_partitions_are_counted_apart_and_summed_per_topic() -> None:
    audit_rows = audit(
        *audited(USERS, 0, [0, 1, 2]),
        *audited(USERS, 1, [1, 2, 2, 4]),  # log start 0: offset 0 missing; 3 missing; 2 written twice
        *audited(TICKETS, 0, range(5, 8)),  # log start 5 (retention): no leading gap
        *audited(TICKETS, 2, [0, 1]),
        *audited(TICKETS, 2, [9]),  # above settled
    )
    quarantine_rows = quarantine(
        (USERS, 0, 3, MISMATCH),
        (TICKETS, 0, 8, DUPLICATE),
        (TICKETS, 2, 2, RULE),
        (TICKETS, 2, 3, RULE),
        (TICKETS, 2, 3, RULE),  # quarantined twice
        (TICKETS, 1, 0, MISMATCH),  # partition 1 has no settled offset
    )
    settled = {(USERS, 0): 3, (USERS, 1): 4, (TICKETS, 0): 8, (TICKETS, 2): 3}
    log_start = {(USERS, 0): 0, (USERS, 1): 0, (TICKETS, 0): 5, (TICKETS, 2): 0}
    gaps = {(USERS, 1, 0, 0): 1, (USERS, 1, 3, 3): 0}
    counted, rows = count(audit_rows, quarantine_rows, settled, log_start, gaps, topics=(USERS, TICKETS))

    assert counted.gaps == [(USERS, 1, 0, 0), (USERS, 1, 3, 3)]
    assert counted.covered == {USERS: 4 + 3, TICKETS: 4 + 4}
    assert rows == [
        TopicLedger(USERS, read=7 + 1, audited=3 + 4, quarantined=1, deduplicated=0),
        TopicLedger(TICKETS, read=8, audited=3 + 2, quarantined=3, deduplicated=1),
    ]
    assert [r.unaccounted for r in rows] == [0, -1]


def test_partition_columns_wider_than_int32_are_accepted() -> None:
    """The join with the settled offsets normalises the column types first."""
    rows = pa.table(
        {"topic": [USERS, USERS], "partition": pa.array([0, 0], pa.int64()), "offset": pa.array([0, 1], pa.int64())}
    )
    _, result = count(rows, quarantine(), settled={(USERS, 0): 1})
    assert result == [TopicLedger(USERS, read=2, audited=2, quarantined=0, deduplicated=0)]


# ---- high water -----------------------------------------------------------------------------------------------
def test_high_water_is_the_highest_offset_per_partition_in_either_table() -> None:
    high = high_water(
        audit(*audited(USERS, 0, [3, 9, 4]), *audited(USERS, 1, [2]), *audited(TICKETS, 0, [0])),
        quarantine((USERS, 1, 7, MISMATCH), (USERS, 0, 8, DUPLICATE), (TICKETS, 3, 11, RULE)),
    )
    assert high == {(USERS, 0): 9, (USERS, 1): 7, (TICKETS, 0): 0, (TICKETS, 3): 11}
    assert all(isinstance(p, int) and isinstance(o, int) for (_, p), o in high.items())


def test_high_water_of_an_empty_lake_is_empty() -> None:
    assert high_water(audit(), quarantine()) == {}


def test_high_water_settles_the_next_tally() -> None:
    """What the exporter does: the previous refresh's high water is this refresh's settled offsets."""
    first_audit, first_quarantine = audit(*audited(USERS, 0, range(3))), quarantine((USERS, 0, 3, RULE))
    settled = high_water(first_audit, first_quarantine)
    later_audit = audit(*audited(USERS, 0, range(3)), *audited(USERS, 0, range(4, 8)))
    later_quarantine = quarantine((USERS, 0, 3, RULE), (USERS, 0, 8, DUPLICATE))
    counted, rows = count(later_audit, later_quarantine, settled, log_start={(USERS, 0): 0})
    assert counted.gaps == []
    assert rows == [TopicLedger(USERS, read=4, audited=3, quarantined=1, deduplicated=0)]
