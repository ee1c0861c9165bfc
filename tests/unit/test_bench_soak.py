"""bench/soak.py's verdict on samples (the run itself is a benchmark, measured by hand: bench/README.md)."""

from __future__ import annotations

from typing import Any

from bench.soak import disk_problem, verdict


def _samples(rss: Any, files: Any, unaccounted: Any = lambda t: 0, minutes: int = 30) -> list[dict[str, Any]]:
    out = []
    for i in range(minutes * 6):
        t = i * 10.0
        out.append(
            {
                "t_s": t,
                "sent": i * 1000,
                "rss_mb": rss(t),
                "checkpoint_s": 0.5,
                "checkpoint_mb": 12.0,
                "data_files": files(t),
                "lag": 10,
                "unaccounted": unaccounted(t),
            }
        )
    return out


def test_a_flat_run_with_maintenance_and_a_balanced_ledger_passes() -> None:
    result = verdict(_samples(lambda t: 1500 + (t % 60), lambda t: 20 + int(t % 300) // 10), 30)
    assert result["rss_mb"]["flat"] and result["checkpoint_s"]["flat"] and result["checkpoint_mb"]["flat"]
    assert result["data_files"]["bounded"]
    assert result["ledger"] == {"samples": 180, "unaccounted_nonzero": 0, "balanced": True}


def test_growing_memory_unbounded_files_and_a_loss_each_fail() -> None:
    result = verdict(
        _samples(lambda t: 1000 + t, lambda t: int(t // 10), unaccounted=lambda t: 3 if t == 600 else 0), 30
    )
    assert not result["rss_mb"]["flat"]
    assert not result["data_files"]["bounded"]
    assert result["ledger"]["unaccounted_nonzero"] == 1 and not result["ledger"]["balanced"]


def test_samples_before_the_ledger_settles_are_left_out() -> None:
    result = verdict(_samples(lambda t: 1000, lambda t: 5, unaccounted=lambda t: None if t < 20 else 0), 30)
    assert result["ledger"]["samples"] == 178 and result["ledger"]["balanced"]


def test_the_heap_and_the_block_cache_get_the_same_check_when_sampled() -> None:
    samples = _samples(lambda t: 2000 + t / 6, lambda t: 5)
    for s in samples:
        s["heap_mb"] = 900.0
        s["block_cache_mb"] = min(768.0, s["t_s"] / 1.2)  # fills to its capacity by minute 15.4, then stays
    result = verdict(samples, 30)
    assert result["heap_mb"]["flat"] and result["heap_mb"]["change"] == 0
    assert not result["block_cache_mb"]["flat"], "still filling in minutes 5-15"
    assert result["block_cache_mb"]["last_10"] == 768.0
    assert "heap_mb" not in verdict(_samples(lambda t: 1000, lambda t: 5), 30), "older records lack them"


def test_a_run_that_would_fill_the_disk_is_refused_before_it_starts() -> None:
    # 30 minutes at 9,000 events/s of 850 bytes: 12.8 GiB sent, 19.2 GiB of disk.
    assert disk_problem(20 * 2**30, minutes=30, rate=9000, event_bytes=850) is None
    problem = disk_problem(10 * 2**30, minutes=30, rate=9000, event_bytes=850)
    assert problem is not None
    assert "about 19.2 GB" in problem and "only 10.0 GB are free" in problem and "--minutes or --rate" in problem
