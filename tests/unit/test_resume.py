"""The coverage journal and what each sink holds (lakegate/resume.py), without a JVM or a catalog."""

from __future__ import annotations

import json
from pathlib import Path

from lakegate.resume import Entry, Point, holdings, offset_ranges, ranges, read_journal, since_ms
from lakegate.warehouse import local

T = "support.tickets"


def _write(
    folder: Path,
    job: str,
    checkpoint: int,
    subtask: int,
    parallelism: int,
    covered: dict[int, int],
    *,
    restored: bool = False,
    written_ms: int = 0,
) -> None:
    path = folder / job / f"{checkpoint}-{subtask}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "job": job,
        "checkpoint": checkpoint,
        "subtask": subtask,
        "parallelism": parallelism,
        "restored": restored,
        "written_ms": written_ms,
        "covered": {T: {str(p): o for p, o in covered.items()}},
    }
    path.write_text(json.dumps(doc))


def test_the_journal_merges_a_checkpoints_subtasks_and_skips_incomplete_ones(tmp_path: Path) -> None:
    _write(tmp_path, "a", 3, 0, 2, {0: 10, 1: 4}, written_ms=5)
    _write(tmp_path, "a", 3, 1, 2, {1: 20}, written_ms=7)
    _write(tmp_path, "a", 4, 0, 2, {0: 30})  # subtask 1's file is missing: the checkpoint never completed
    (tmp_path / "a" / ".5-0.json.partial").write_text("{")  # a write in progress is not an entry
    journal = read_journal(local(tmp_path))
    assert set(journal) == {("a", 3)}
    assert journal[("a", 3)] == Entry("a", 3, False, 5, {(T, 0): 10, (T, 1): 20})


def test_a_missing_journal_folder_is_an_empty_journal(tmp_path: Path) -> None:
    assert read_journal(local(tmp_path / "nothing")) == {}


def _entry(job: str, checkpoint: int, written_ms: int, covered: dict[int, int], restored: bool = False) -> Entry:
    return Entry(job, checkpoint, restored, written_ms, {(T, p): o for p, o in covered.items()})


def test_each_sink_holds_what_its_last_commits_checkpoint_covered() -> None:
    journal = {
        ("a", 0): _entry("a", 0, 100, {0: -1, 1: 9}),
        ("a", 7): _entry("a", 7, 200, {0: 50, 1: 60}),
        ("a", 8): _entry("a", 8, 300, {0: 70, 1: 80}),
    }
    found = holdings({"audit": Point("a", 8), "quarantine": Point("a", 7), "model": None}, journal)
    assert found is not None
    assert found.held["audit"] == {(T, 0): 70, (T, 1): 80}
    assert found.held["quarantine"] == {(T, 0): 50, (T, 1): 60}
    # No commit since the fresh start (nothing routed to it yet): it holds what the start covered.
    assert found.held["model"] == {(T, 0): -1, (T, 1): 9}
    assert found.start() == {(T, 0): -1, (T, 1): 9}


def test_a_commit_from_before_the_last_fresh_start_counts_as_that_start() -> None:
    journal = {
        ("old", 0): _entry("old", 0, 100, {0: -1}),
        ("old", 9): _entry("old", 9, 200, {0: 500}),
        ("new", 0): _entry("new", 0, 300, {0: 400}),  # a fresh start after it: the lake held up to 400 then
        ("new", 2): _entry("new", 2, 400, {0: 450}),
        ("restored", 3): _entry("restored", 3, 500, {0: 470}, restored=True),  # new's job restored
    }
    found = holdings({"audit": Point("old", 9), "quarantine": Point("restored", 3), "dlq": Point("new", 2)}, journal)
    assert found is not None
    assert found.held == {"audit": {(T, 0): 400}, "quarantine": {(T, 0): 470}, "dlq": {(T, 0): 450}}
    assert found.fresh == journal[("new", 0)]
    assert found.start() == {(T, 0): 400}


def test_a_point_whose_entry_was_pruned_falls_back_to_the_fresh_start() -> None:
    journal = {("a", 0): _entry("a", 0, 100, {0: 5})}
    found = holdings({"audit": Point("a", 40)}, journal)
    assert found is not None and found.held["audit"] == {(T, 0): 5}


def test_a_partition_new_since_the_entry_is_held_as_at_the_start_or_not_at_all() -> None:
    journal = {
        ("a", 0): _entry("a", 0, 100, {0: 5}),
        ("a", 1): _entry("a", 1, 200, {1: 8}),
    }
    found = holdings({"audit": Point("a", 1), "quarantine": None}, journal)
    assert found is not None
    assert found.held["audit"] == {(T, 0): 5, (T, 1): 8}
    assert found.start() == {(T, 0): 5, (T, 1): -1}  # the quarantine table holds nothing of partition 1


def test_without_a_fresh_start_in_the_journal_there_is_no_answer() -> None:
    assert holdings({"audit": None}, {}) is None
    restored_only = {("r", 4): _entry("r", 4, 100, {0: 5}, restored=True)}
    assert holdings({"audit": Point("r", 4)}, restored_only) is None


def test_offsets_become_inclusive_ranges() -> None:
    assert ranges([]) == []
    assert ranges([5, 3, 4, 4, 9, 11, 10, 20]) == [3, 5, 9, 11, 20, 20]
    assert offset_ranges([(T, 1, 4), (T, 0, 2), (T, 1, 5), (T, 0, 7)]) == [
        {"topic": T, "partition": 0, "bounds": [2, 2, 7, 7]},
        {"topic": T, "partition": 1, "bounds": [4, 5]},
    ]


def test_a_sink_holds_what_it_held_at_its_jobs_fresh_start_while_that_job_re_reads_below_it() -> None:
    # Job "b" started fresh at offset 40 (the quarantine table held up to 39), while the audit table already
    # held up to 100: b's pack has read only to 60 when the audit table commits b's checkpoint 3.
    start = Entry("b", 0, False, 200, {(T, 0): 39}, {"audit": {(T, 0): 100}, "quarantine": {(T, 0): 39}})
    journal = {
        ("a", 0): _entry("a", 0, 100, {0: -1}),
        ("b", 0): start,
        ("b", 3): Entry("b", 3, False, 300, {(T, 0): 60}, start.held),
    }
    found = holdings({"audit": Point("b", 3), "quarantine": Point("b", 3)}, journal)
    assert found is not None
    assert found.held == {"audit": {(T, 0): 100}, "quarantine": {(T, 0): 60}}
    assert found.start() == {(T, 0): 60}


def test_the_journal_reads_what_each_sink_held_at_the_start(tmp_path: Path) -> None:
    path = tmp_path / "j" / "0-0.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "job": "j",
                "checkpoint": 0,
                "subtask": 0,
                "parallelism": 1,
                "restored": False,
                "written_ms": 1,
                "covered": {T: {"0": 4}},
                "held": {"audit-tickets": {T: {"0": 9}}},
            }
        )
    )
    assert read_journal(local(tmp_path))[("j", 0)].held == {"audit-tickets": {(T, 0): 9}}


def test_the_dead_letter_topic_is_read_from_before_any_job_read_past_the_floor() -> None:
    journal = {
        ("a", 0): _entry("a", 0, 100, {0: -1}),
        ("a", 1): _entry("a", 1, 200, {0: 40}),
        ("a", 2): _entry("a", 2, 300, {0: 90}),  # the first past 50
        ("b", 0): _entry("b", 0, 400, {0: 50}),  # a later start below what "a" read
        ("b", 1): _entry("b", 1, 500, {0: 70}),
    }
    assert since_ms(journal, {(T, 0): 50}) == 200
    assert since_ms(journal, {(T, 0): 95}) == 500  # nothing past it yet: from the last entry on
    assert since_ms(journal, {(T, 0): -2}) is None  # the earliest entry is past it: from the beginning
