"""Parallelism on a local Flink cluster: the same job with its slots in one TaskManager or spread over several.

Usage:  .venv/bin/python -m bench.cluster_scaling [--events 300000] [--layouts 1x1 1x2 2x1] [--repeats 1]

In thread mode every Python operator of a TaskManager shares one interpreter lock, so on a MiniCluster (one
JVM) parallelism 2 cannot use a second core for Python. A layout ``TxS`` is T TaskManagers with S slots each,
run at parallelism T·S: ``1x2`` is the MiniCluster's situation, ``2x1`` gives each task its own interpreter.
Per layout: `lakegate cluster` with that layout, the ingest job in drain mode on the pre-loaded benchmark
events, checked like compare's and measured (events/s, the cluster's CPU per million events, peak memory).
Appends one JSON record to bench/results/cluster_scaling.jsonl. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import compare
from bench.modes import TreeSampler, machine
from lakegate import cluster, jvm
from lakegate.entrypoint import entry_point
from lakegate.settings import Settings
from lakegate.stack import local
from lakegate.testing.ports import free_port, free_port_range

RESULTS = Path(__file__).resolve().parent / "results" / "cluster_scaling.jsonl"


def layout(text: str) -> tuple[int, int]:
    taskmanagers, _, slots = text.partition("x")
    if not (taskmanagers.isdigit() and slots.isdigit() and int(taskmanagers) >= 1 and int(slots) >= 1):
        raise argparse.ArgumentTypeError(f"a layout is <taskmanagers>x<slots>, e.g. 2x1; got {text!r}")
    return int(taskmanagers), int(slots)


def run_layout(bench: compare.Bench, taskmanagers: int, slots: int, repeat: int) -> dict[str, Any]:
    tag = f"cluster_{taskmanagers}x{slots}_r{repeat}"
    parallelism = taskmanagers * slots
    settings = compare.pipeline_settings(
        bench, "lakegate", tag, parallelism, schemas_dir=bench.settings.paths.schemas_dir, drain=True
    ).replace(
        cluster_taskmanagers=taskmanagers,
        cluster_slots=slots,
        cluster_rpc_port=free_port(),
        cluster_rest_url=f"http://127.0.0.1:{free_port()}",
        metrics_port=free_port_range(taskmanagers + 2),
        cluster_taskmanager_memory="1536m",
    )
    compare.launch(bench, "lakegate", settings, bench.contracts, compare.task_for(bench, settings, bounded=True))
    cluster.up(settings)
    samplers = []
    try:
        samplers = [TreeSampler(pid) for pid in cluster.service_pids(settings)]
        for sampler in samplers:
            sampler.start()
        time.sleep(1)
        cpu_before = sum(sum(s.cpu.values()) for s in samplers)
        job_id = cluster.submit(settings).job_id
        job = _wait_finished(settings, job_id, timeout_s=900 + bench.manifest.events / 200)
        cpu = sum(sum(s.cpu.values()) for s in samplers) - cpu_before
    finally:
        for sampler in samplers:
            sampler.stopped.set()
        cluster.down(settings)
    _, check = compare.check_written(bench, settings, quarantines=True)
    seconds = job["duration"] / 1000
    return {
        "layout": f"{taskmanagers}x{slots}",
        "taskmanagers": taskmanagers,
        "slots": slots,
        "parallelism": parallelism,
        "repeat": repeat,
        "job_s": seconds,
        "events_per_s": round(bench.manifest.events / seconds),
        "cpu_s_per_million": round(cpu / bench.manifest.events * 1e6, 1),
        "peak_rss_mb": round(sum(s.peak_rss for s in samplers) / 2**20),
        "check": check.as_dict(),
        "ok": check.ok,
    }


def _wait_finished(settings: Settings, job_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = dict(cluster.rest(settings, "GET", f"/jobs/{job_id}"))
        if job.get("state") == "FINISHED":
            return job
        if job.get("state") in ("FAILED", "CANCELED"):
            raise RuntimeError(f"job {job_id} ended {job['state']}; see the cluster's logs under {settings.paths.home}")
        time.sleep(1)
    raise TimeoutError(f"job {job_id} not finished after {timeout_s:.0f}s")


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster_scaling", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--layouts", type=layout, nargs="+", default=[(1, 1), (1, 2), (2, 1)])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    bench_args = compare.parse_args(["--events", str(args.events), "--pipelines", "lakegate"])
    home = Path(tempfile.mkdtemp(prefix="lakegate-cluster-scaling-"))
    settings = compare.stack_settings(bench_args, home)
    jvm.ensure_artifacts(settings)
    started = time.monotonic()
    local.up(settings)
    runs = []
    try:
        bench = compare.prepare(bench_args, settings)
        for repeat in range(args.repeats):
            order = args.layouts if repeat % 2 == 0 else list(reversed(args.layouts))
            for taskmanagers, slots in order:
                runs.append(run_layout(bench, taskmanagers, slots, repeat))
                r = runs[-1]
                print(
                    f"  {r['layout']:>4} p{r['parallelism']} r{repeat}  {r['events_per_s']:8,} ev/s  "
                    f"cpu {r['cpu_s_per_million']:7.1f} s/M  peak {r['peak_rss_mb']:6,} MB  ok={r['ok']}",
                    flush=True,
                )
    finally:
        local.down(settings)
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.cluster_scaling " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "events": args.events,
        "elapsed_s": round(time.monotonic() - started),
        "runs": runs,
    }
    with args.results.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(f"recorded in {args.results}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
