"""bench/compare.py end to end on a tiny input: all four pipelines (lakegate on a local folder and in an S3
bucket, pure-Java Flink SQL, a plain consumer) run on the same pre-loaded records, each writes every valid
record exactly once, and the results record has every field. Checks that the benchmark runs, not how fast
anything is (benchmarks are scripts, not timed tests)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog

from lakegate.catalog import open_catalog
from lakegate.settings import Settings
from lakegate.stack import objectstore
from lakegate.testing.ports import free_port

pytestmark = pytest.mark.job

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2000
PIPELINES = ("lakegate", "lakegate_s3", "java", "plain")
Coordinate = tuple[str, int, int]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("compare")
    results, home = out / "compare.jsonl", out / "home"
    command = [
        sys.executable,
        "-m",
        "bench.compare",
        "--events",
        str(EVENTS),
        "--parallelism",
        "1",
        "--repeats",
        "1",
        "--checkpoint-ms",
        "1000",
        "--probe-rate",
        "50",
        "--probe-seconds",
        "3",
        "--warmup-events",
        "10",
        "--results",
        str(results),
        "--home",
        str(home),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(f"bench.compare exited {result.returncode}:\n{tail}")
    return json.loads(results.read_text().splitlines()[-1]), home


def _produced(home: Path) -> tuple[set[Coordinate], set[Coordinate]]:
    """Valid and bad coordinates, from the pre-loader's manifest."""
    manifest = json.loads((home / "manifest.json").read_text())
    every = {(t, p, o) for t, p, end in manifest["end_offsets"] for o in range(end)}
    bad = {(t, p, o) for t, p, o, _ in manifest["bad"]}
    assert len(every) == EVENTS and bad
    return every - bad, bad


def _rows(catalog: Catalog, namespace: str, columns: tuple[str, str, str]) -> list[Coordinate]:
    rows = []
    for identifier in catalog.list_tables(namespace):
        table = catalog.load_table(identifier).scan(selected_fields=columns).to_arrow()
        rows += list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    return rows


@pytest.fixture(scope="module")
def lake_in_the_bucket(compared: tuple[dict[str, Any], Path]) -> Iterator[Catalog]:
    """The benchmark's catalog, its lakegate_s3 tables read through an S3Proxy of this test's own serving the
    bucket's files the benchmark left behind (its store stopped with it)."""
    _, home = compared
    settings = Settings.load(
        env={},
        home=home,
        artifacts_dir=Settings.load(env={}).paths.jvm_dir,
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="check",
        s3_secret_access_key=secrets.token_urlsafe(24),
    )
    objectstore.start(settings)
    try:
        yield open_catalog(settings.replace(s3_warehouse="s3://bench-lake"))
    finally:
        objectstore.stop(settings)


def test_each_pipeline_wrote_every_valid_record_once(
    compared: tuple[dict[str, Any], Path], lake_in_the_bucket: Catalog
) -> None:
    _, home = compared
    valid, bad = _produced(home)
    catalog = SqlCatalog("lakegate", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri())
    coordinates = ("lg_topic", "lg_partition", "lg_offset")
    for pipeline in PIPELINES:
        rows = _rows(lake_in_the_bucket if pipeline == "lakegate_s3" else catalog, f"{pipeline}_p1_r0", coordinates)
        assert len(rows) == len(set(rows)), f"{pipeline} wrote a record twice"
        assert valid <= set(rows), f"{pipeline} lost {len(valid - set(rows))} valid records"
        # The pipelines without contract checks also write the bad records that still decode; nothing else.
        assert set(rows) - valid <= bad, pipeline
        assert len(rows) >= EVENTS - len(bad)
    # lakegate: the audit log is exactly the valid records, the quarantine exactly the bad ones.
    for pipeline, lake in (("lakegate", catalog), ("lakegate_s3", lake_in_the_bucket)):
        assert len(_rows(lake, f"{pipeline}_p1_r0", coordinates)) == EVENTS - len(bad)
        quarantined = _rows(lake, f"{pipeline}_p1_r0_q", ("source_topic", "source_partition", "source_offset"))
        assert sorted(quarantined) == sorted(bad), pipeline
    # lakegate_s3's lake is in the bucket (S3Proxy keeps it as files): its data files, none on the local disk.
    assert any((home / "objectstore" / "data" / "bench-lake" / "lakegate_s3_p1_r0").rglob("*.parquet"))
    assert not (home / "warehouse" / "lakegate_s3_p1_r0").exists()


def test_the_results_record_has_every_field(compared: tuple[dict, Path]) -> None:  # type: ignore[type-arg]
    record, _ = compared
    assert {"date", "command", "machine", "options", "preload", "pipelines", "runs", "summary", "ratios", "ok"} <= set(
        record
    )
    assert record["ok"] is True
    assert {"cpu", "cores", "memory_gib", "python", "kernel"} <= set(record["machine"])
    assert record["preload"]["events"] == EVENTS and 700 < record["preload"]["avg_value_bytes"] < 1000
    assert {r["pipeline"] for r in record["runs"]} == set(PIPELINES)
    for run in record["runs"]:
        assert run["ok"] is True and run["check"]["valid_missing"] == 0
        assert run["events_per_s"] > 0 and run["cpu_s_per_million"] > 0 and run["measured"]["peak_rss_mb"] > 0
        iceberg = run["latency"]["iceberg"]
        assert iceberg["count"] == 150 and iceberg["missing"] == 0 and 0 < iceberg["p50_ms"] <= iceberg["p99_ms"]
        if run["pipeline"] in ("lakegate", "lakegate_s3"):
            assert run["latency"]["changelog"]["count"] > 0  # ticket events change the open_tickets model
    for key in ("lakegate/p1", "lakegate_s3/p1", "java/p1", "plain/p1"):
        summary = record["summary"][key]
        assert {"events_per_s", "cpu_s_per_million", "peak_rss_mb", "iceberg_p50", "iceberg_p99"} <= set(summary)
    assert {"lakegate_s3_vs_lakegate/p1", "java_vs_lakegate/p1", "plain_vs_lakegate/p1"} <= set(record["ratios"])
