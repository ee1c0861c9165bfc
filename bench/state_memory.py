"""Benchmark: how the ingest job's memory grows with the events it has seen (keyed state), per state backend.

Usage:  .venv/bin/python -m bench.state_memory [--state-backend hashmap|rocksdb] [--steps 4] [--events 250000]

A private local stack and the ingest job (unbounded). Each step produces ``--events`` new events (new event
ids: the dedupe state keeps each for its contract's window, a day by default), waits until the lake holds
them, forces a full garbage collection of the job's JVM (``jcmd GC.run``) and reads its heap in use
(``jcmd GC.heap_info``) and the job's process-tree resident memory. Prints both per step and their growth
per million events (least squares); appends to bench/results/state_memory.jsonl. See bench/README.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.compare import rows_visible
from bench.modes import append_result, private_stack_settings, result_header, tree_pids, tree_rss
from lakegate import launcher
from lakegate.entrypoint import entry_point
from lakegate.kafka_admin import ensure_topics
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import local
from udfs.contract import load_contracts

RESULTS = Path(__file__).resolve().parent / "results" / "state_memory.jsonl"
_USED = re.compile(r"used (\d+)K")


def heap_used_mb(pid: int) -> float:
    """Heap in use after a full collection: the sum of the generations' ``used`` in ``jcmd GC.heap_info``."""
    jcmd = shutil.which("jcmd") or "jcmd"
    subprocess.run([jcmd, str(pid), "GC.run"], check=True, capture_output=True, timeout=120)
    info = subprocess.run([jcmd, str(pid), "GC.heap_info"], check=True, capture_output=True, text=True, timeout=60)
    generations = [line for line in info.stdout.splitlines() if "total" in line and "used" in line]
    return sum(int(m.group(1)) for line in generations for m in [_USED.search(line)] if m) / 1024


def java_pid(root: int) -> int:
    for pid in tree_pids(root):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
                return pid
        except OSError:
            continue
    raise SystemExit(f"no java process under pid {root}")


def slope_per_million(events: list[int], values: list[float]) -> float:
    n = len(events)
    mean_x, mean_y = sum(events) / n, sum(values) / n
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(events, values, strict=True))
    var = sum((x - mean_x) ** 2 for x in events)
    return cov / var * 1_000_000 if var else 0.0


def measure(settings: Settings, args: argparse.Namespace) -> list[dict[str, float]]:
    contracts = load_contracts(settings.paths.schemas_dir)
    local.up(settings)
    job = None
    try:
        ensure_topics(settings, [c.topic for c in contracts])
        with (settings.paths.home / "job.out").open("wb") as out:
            job = launcher.start("ingest", settings, stdout=out, stderr=subprocess.STDOUT)
        steps, produced = [], 0
        for step in range(args.steps + 1):
            count = 2_000 if step == 0 else args.events  # step 0: the job is up and its tables exist
            report = produce(settings, contracts, count, bad_fraction=0.001, seed=100 + step)
            produced += len(report.records)
            deadline = time.monotonic() + 600
            while rows_visible(settings, contracts) < produced * 0.99 and time.monotonic() < deadline:
                if job.poll() is not None:
                    raise SystemExit(f"the job ended; see {settings.paths.home / 'job.out'}")
                time.sleep(2)
            time.sleep(settings.job.checkpoint_interval_ms / 1000 * 2)  # the last records' commit, quarantine too
            pid = java_pid(job.pid)
            sample = {"events": produced, "heap_used_mb": heap_used_mb(pid), "rss_mb": tree_rss(job.pid) / 2**20}
            steps.append(sample)
            print(
                f"  {produced:>9,} events  heap in use {sample['heap_used_mb']:>7.0f} MB  "
                f"process tree {sample['rss_mb']:>7.0f} MB",
                flush=True,
            )
        return steps
    finally:
        if job is not None:
            launcher.kill(job)
        local.down(settings)


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--state-backend", choices=("hashmap", "rocksdb"), default="hashmap")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--events", type=int, default=250_000, help="new events per step")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    settings = private_stack_settings("lakegate-state-", state_backend=args.state_backend)
    print(f"state backend {args.state_backend}: {args.steps} steps of {args.events:,} new events", flush=True)
    steps = measure(settings, args)
    measured = steps[1:]  # growth from the end of the first full step on: start-up allocations left out
    events = [int(s["events"]) for s in measured]
    summary = {
        "heap_mb_per_million_events": round(slope_per_million(events, [s["heap_used_mb"] for s in measured]), 1),
        "rss_mb_per_million_events": round(slope_per_million(events, [s["rss_mb"] for s in measured]), 1),
    }
    print(
        f"growth per million events: heap {summary['heap_mb_per_million_events']:.0f} MB, "
        f"process tree {summary['rss_mb_per_million_events']:.0f} MB"
    )
    if not args.no_record:
        append_result(
            RESULTS, {**result_header(), "state_backend": args.state_backend, "steps": steps, "summary": summary}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
