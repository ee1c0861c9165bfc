"""bench/boundary.py, bench/cluster_scaling.py and bench/batch_sizes.py on tiny inputs: they run end to end and
record every field. Checks the scripts, not how fast anything is (benchmarks are scripts, not timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import batch_sizes, boundary

pytestmark = pytest.mark.job

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], results: Path, timeout_s: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", *args, "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(f"{args[0]} exited {result.returncode}:\n{tail}")
    record: dict[str, Any] = json.loads(results.read_text().splitlines()[-1])
    return record


def test_boundary_measures_every_variant(tmp_path: Path) -> None:
    record = _run(["bench.boundary", "--records", "2000", "--repeats", "1"], tmp_path / "b.jsonl", 300)
    assert record["records"] == 2000 and record["machine"]["cores"] >= 1
    assert [v["variant"] for v in record["variants"]] == list(boundary.VARIANTS)
    for variant in record["variants"]:
        assert variant["net_s"] > 0 and variant["records_per_s"] > 0 and len(variant["runs_s"]) == 1
        assert (variant["us_per_crossing"] is None) == (variant["crossings_added"] == 0)


def test_cluster_scaling_runs_each_layout_exactly_once_per_record(tmp_path: Path) -> None:
    # One layout, two TaskManagers: each layout is one cluster brought up (about 30 s here), and the benchmark
    # itself compares layouts (bench/README.md).
    record = _run(["bench.cluster_scaling", "--events", "2000", "--layouts", "2x1"], tmp_path / "c.jsonl", 900)
    assert [(r["layout"], r["parallelism"]) for r in record["runs"]] == [("2x1", 2)]
    for run in record["runs"]:
        assert run["ok"], run["check"]
        assert run["check"]["valid_missing"] == 0 and run["check"]["duplicates"] == 0
        assert run["check"]["quarantine_exact"]
        assert run["events_per_s"] > 0 and run["cpu_s_per_million"] > 0
        assert 0 < run["peak_rss_mb"] < 16_000, "the cluster's processes only, not the machine's"


def test_batch_sizes_measures_every_variant_at_every_size_on_every_record(tmp_path: Path) -> None:
    events = 3000
    args = ["bench.batch_sizes", "--events", str(events), "--batch-sizes", "1", "64", "--repeats", "1"]
    record = _run(args, tmp_path / "s.jsonl", 900)
    assert record["ok"] and record["events"] == events == record["preload"]["events"]
    assert sorted((r["variant"], r["batch_size"]) for r in record["runs"]) == [
        ("empty", 1),
        ("empty", 64),
        ("route", 1),
        ("route", 64),
    ]
    for run in [record["warmup"], *record["runs"]]:
        assert run["ok"] and run["records"] == events, run
        assert run["entries"] == (events if run["variant"] == "route" else 0), "route: one result entry per record"
        assert run["largest_batch"] <= run["batch_size"] and run["batches"] >= events / run["batch_size"]
        assert run["net_s"] > 0 and run["jvm_cpu_s"] > 0 and run["steady_s"] > 0 and run["steady_cpu_s"] > 0
    assert record["warmup"]["repeat"] == -1 and record["warmup"]["batch_size"] == 64
    for variant in batch_sizes.VARIANTS:
        assert set(record["summary"][variant]) == {"1", "64"}
        assert set(record["derived"][variant]["fit"]) == set(batch_sizes.FIGURES)
    assert set(record["derived"]["route_minus_empty"]) == {"1", "64"}
