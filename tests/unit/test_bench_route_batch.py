"""bench/route_batch.py runs end to end on a few records and writes its result record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import route_batch


def test_a_tiny_run_records_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "route_batch.jsonl"
    monkeypatch.setattr(route_batch, "RESULTS", results)
    assert route_batch.main(["--records", "40", "--repeats", "1"]) == 0
    (line,) = results.read_text().splitlines()
    record = json.loads(line)
    assert record["command"] == "python -m bench.route_batch --records 40 --repeats 1"
    assert set(record["mixes"]) == {"reader schema", "all versions"}
    for mix in record["mixes"].values():
        assert set(mix["us_per_record"]) == {
            "v1 per record",
            "batch of 1",
            "batch of 64",
            "batch of 512",
            "batch of 512, no metrics",
        }
        assert all(us > 0 for us in mix["us_per_record"].values())
    assert {"cpu", "cores", "python"} <= set(record["machine"])
