"""bench/profile_ingest.py's reading of py-spy's collapsed stacks."""

from __future__ import annotations

from bench.profile_ingest import summarise


def test_samples_are_counted_per_function_self_and_inclusive() -> None:
    collapsed = "\n".join(
        [
            'process 1:"java";thread (0x1);process_element (jobs/ingest.py:160);route (udfs/router.py:40) 7',
            'process 1:"java";thread (0x1);process_element (jobs/ingest.py:170);route (udfs/router.py:41) 3',
            'process 1:"java";thread (0x2);process_element (jobs/ingest.py:175) 5',
            "garbage line",
        ]
    )
    summary = summarise(collapsed)
    assert summary["samples"] == 15
    assert dict(summary["self"]) == {"route (udfs/router.py)": 10, "process_element (jobs/ingest.py)": 5}
    assert dict(summary["inclusive"]) == {"process_element (jobs/ingest.py)": 15, "route (udfs/router.py)": 10}
