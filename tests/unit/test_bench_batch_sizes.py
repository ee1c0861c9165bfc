"""bench/batch_sizes.py's pure parts: what the functions count, the run order, medians and the per-call fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.batch_sizes import FIGURES, EmptyBatches, Run, derive, per_call_fit, run_order, summarize
from udfs.batch import InputRecord, write_input


def _batch(count: int) -> bytes:
    return write_input(InputRecord(0, 0, i, 1_700_000_000_000, b"k", b"v" * 850) for i in range(count))


def test_the_empty_function_returns_an_empty_result_batch_and_counts_what_it_saw(tmp_path: Path) -> None:
    counts = tmp_path / "counts.json"
    function = EmptyBatches(counts)
    function.open(None)
    assert [function.map(_batch(n)) for n in (3, 5, 1)] == [b"\x00\x00\x00\x00"] * 3
    function.close()
    saw = json.loads(counts.read_text())
    assert {k: saw[k] for k in ("records", "batches", "largest", "entries", "steady_records")} == {
        "records": 9,
        "batches": 3,
        "largest": 5,
        "entries": 0,
        "steady_records": 6,  # the records after the first batch: the steady window starts after its call
    }
    assert saw["steady_s"] >= 0 and saw["steady_cpu_s"] >= 0


def test_odd_repeats_run_in_reverse_order() -> None:
    assert run_order([1, 64], ["empty", "route"], 0) == [("empty", 1), ("route", 1), ("empty", 64), ("route", 64)]
    assert run_order([1, 64], ["empty", "route"], 1) == [("route", 64), ("empty", 64), ("route", 1), ("empty", 1)]


def _run(variant: str, size: int, repeat: int, net_s: float, steady_s: float | None = None) -> dict[str, Any]:
    """1,000 records in batches of ``size``; CPU twice the net runtime; a steady window unless None."""
    records = 1000
    batches = -(-records // size)
    return Run(
        variant,
        size,
        repeat,
        net_s,
        net_s + 1,
        2 * net_s - 0.01,
        0.01,
        records,
        batches,
        size,
        records if variant == "route" else 0,
        records - size if steady_s is not None else 0,
        steady_s or 0.0,
        steady_s or 0.0,
        ok=True,
    ).as_dict()


def test_a_run_reports_its_figures_per_record() -> None:
    run = _run("empty", 10, 0, 0.05, steady_s=0.0099)
    assert run["records_per_s"] == 20_000 and run["records_per_batch"] == 10
    assert run["net_us_per_record"] == 50 and run["cpu_us_per_record"] == 100 and run["cpu_s"] == 0.1
    assert run["steady_us_per_record"] == 10 and run["steady_cpu_us_per_record"] == 10
    single = _run("empty", 1000, 0, 0.05)  # one batch: nothing after the first call
    assert single["steady_us_per_record"] is None and single["steady_cpu_us_per_record"] is None


def test_summary_is_the_median_of_the_repeats_per_variant_and_batch_size() -> None:
    runs = [_run("empty", 1, r, net) for r, net in enumerate((0.03, 0.01, 0.02))] + [_run("route", 64, 0, 0.05)]
    summary = summarize(runs)
    assert set(summary) == {"empty", "route"} and set(summary["empty"]) == {"1"}
    assert summary["empty"]["1"]["runs"] == 3
    assert summary["empty"]["1"]["net_us_per_record"] == 20 and summary["empty"]["1"]["net_s"] == 0.02
    assert summary["route"]["64"]["records_per_batch"] == 62.5
    assert summary["route"]["64"]["steady_us_per_record"] is None  # no steady window in any repeat


def _point(records_per_batch: float, us: float | None) -> dict[str, Any]:
    return {"records_per_batch": records_per_batch, **{f"{f}_us_per_record": us for f in FIGURES}}


def test_the_fit_splits_time_per_record_into_a_cost_per_call_and_one_per_record() -> None:
    # 2 µs per record plus 8 µs per call: batches of 1 cost 10 µs a record, of 64 2.125, of 512 2.015625
    points = {str(n): _point(n, 2 + 8 / n) for n in (1, 64, 512)}
    assert per_call_fit(points, "net") == {"us_per_call": 8.0, "us_per_record": 2.0}
    assert per_call_fit({"1": _point(1, 10)}, "net") is None  # one batch size: nothing to fit
    assert per_call_fit({"1": _point(1, 10), "64": _point(64, None)}, "steady") is None


def test_derive_compares_the_batch_sizes_and_the_route_with_the_empty_call() -> None:
    summary = {
        "empty": {"1": _point(1, 10.0), "512": _point(512, 2.0)},
        "route": {"1": _point(1, 50.0), "512": _point(512, 30.0)},
    }
    derived = derive(summary)
    assert derived["empty"]["smallest_minus_largest"] == {
        "batch_sizes": [1, 512],
        "us_per_record": dict.fromkeys(FIGURES, 8.0),
    }
    assert derived["empty"]["fit"]["cpu"]["us_per_call"] == pytest.approx(8.02, abs=0.01)
    assert derived["route_minus_empty"] == {"1": dict.fromkeys(FIGURES, 40.0), "512": dict.fromkeys(FIGURES, 28.0)}
    assert derive({"empty": {"1": _point(1, 10.0)}})["empty"]["smallest_minus_largest"] is None
