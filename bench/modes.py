"""Benchmark: the ingest job in PyFlink's `process` vs `thread` Python execution mode, on the same data.

Usage:  .venv/bin/python bench/modes.py [--records 200000] [--repeats 2] [--modes process thread]

Starts a private local stack, produces a small batch and measures each mode on it, then produces the rest
and measures again; fixed costs cancel out of the marginal rate = (records_large - records_small) /
(net_runtime_large - net_runtime_small). Each run reads every topic from the beginning into its own audit
namespace and dead-letter topic, and is checked: audited + quarantined == produced. Appends to
bench/results/modes.jsonl (with a description of the machine) and prints a table. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lakegate import jvm, launcher
from lakegate.entrypoint import entry_point
from lakegate.kafka_admin import ensure_topics
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import local
from lakegate.testing.ports import free_port
from lakegate.testing.readers import read_audit, read_dead_letters
from udfs.contract import load_contracts

RESULTS = Path(__file__).resolve().parent / "results" / "modes.jsonl"
_NET = re.compile(r"net_runtime_ms=(\d+)")


@dataclass(frozen=True)
class Run:
    mode: str
    phase: str
    records: int
    wall_s: float
    net_s: float
    cpu_s: float
    peak_rss_mb: float
    accounted: bool


def tree_pids(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def _forked_copies(pids: list[int]) -> set[int]:
    """The processes of ``pids`` whose command line is their parent's: forked and not yet exec'd (a JVM
    starting a helper command), whose resident pages are their parent's, shared copy-on-write."""
    cmdlines: dict[int, bytes] = {}
    parent: dict[int, int] = {}
    for pid in pids:
        try:
            cmdlines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return {pid for pid, ppid in parent.items() if ppid in cmdlines and cmdlines[ppid] == cmdlines[pid]}


class TreeSampler(threading.Thread):
    """Polls a process tree: peak resident memory of the whole tree, CPU seconds per process. A forked
    copy that has not exec'd yet counts for its CPU but not its memory, which is its parent's (counting it
    would double the JVM's memory for the moment a helper command starts)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss = pid, 0
        self.cpu: dict[int, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            self.peak_rss = max(self.peak_rss, tree_rss(self.pid, self.cpu))


def tree_rss(root: int, cpu: dict[int, float] | None = None) -> int:
    """Resident bytes of ``root``'s process tree, forked-not-exec'd copies left out; ``cpu`` (if given) gets
    each process's CPU seconds."""
    rss, pids = 0, tree_pids(root)
    copies, tick, page = _forked_copies(pids), os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            statm = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        if pid not in copies:
            rss += int(statm[1]) * page
        if cpu is not None:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    return rss


def run_job(settings: Settings, mode: str, phase: str, tag: str, produced: int) -> Run:
    # Everything a run writes, and everything it resumes from (lakegate/offsets.py reads both namespaces),
    # is its own: every run reads the topics from the start.
    run_settings = settings.replace(
        python_execution_mode=mode,
        audit_namespace=f"bench_{tag}",
        quarantine_namespace=f"bench_q_{tag}",
        dlq_topic=f"bench.dlq.{tag}",
        consumer_group=f"bench-{tag}",
    )
    started = time.monotonic()
    child = launcher.start("ingest", run_settings, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreeSampler(child.pid)
    sampler.start()
    try:
        raw_output, _ = child.communicate(timeout=1800)
    finally:
        launcher.kill(child)  # a job still running here (timeout, Ctrl-C) is in a session of its own
        sampler.stopped.set()
        sampler.join()
    output = raw_output.decode(errors="replace")
    wall = time.monotonic() - started
    match = _NET.search(output)
    if child.returncode != 0 or match is None:
        (settings.paths.home / "failed-job.out").write_text(output)
        raise SystemExit(
            f"job failed ({mode}, {phase}, exit {child.returncode}); output in {settings.paths.home}/failed-job.out"
        )
    contracts = load_contracts(run_settings.paths.schemas_dir)
    audited = sum(read_audit(run_settings, c).num_rows for c in contracts)
    quarantined = len(read_dead_letters(run_settings))
    return Run(
        mode,
        phase,
        produced,
        round(wall, 2),
        int(match.group(1)) / 1000,
        round(sum(sampler.cpu.values()), 1),
        round(sampler.peak_rss / 2**20),
        audited + quarantined == produced,
    )


def code_version() -> str:
    """The checkout's commit, marked when tracked files (results aside) differ from it: the code a result measured."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")


def result_header() -> dict[str, object]:
    """What every recorded result starts with: the code it measured, when, the command and the machine."""
    return {
        "code": code_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "machine": machine(),
    }


def private_stack_settings(prefix: str, **overrides: Any) -> Settings:
    """Settings of a private local stack for a long-running benchmark: its own home under /tmp, free loopback
    ports, this checkout's JVM artifacts; an unbounded job reading from the earliest offsets, no exporter.
    The JVM artifacts are fetched if missing."""
    settings = Settings.load(
        env={},
        home=Path(tempfile.mkdtemp(prefix=prefix)),
        artifacts_dir=Settings.load(env={}).paths.jvm_dir,
        drain=False,
        start_from="earliest",
        exporter_port=0,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
        **overrides,
    )
    jvm.ensure_artifacts(settings)
    return settings


def append_result(path: Path, record: Mapping[str, object]) -> None:
    """One result as a JSON line at the end of ``path`` (created with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(f"recorded in {path}")


def machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=None, help="records in the small phase (default 10%%)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["process", "thread"], choices=["process", "thread"])
    parser.add_argument("--bad-fraction", type=float, default=0.001)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/results/modes.jsonl")
    args = parser.parse_args(argv)
    small = args.small or max(args.records // 10, 100)

    home = Path(tempfile.mkdtemp(prefix="lakegate-bench-"))
    settings = Settings.load(
        env={},
        home=home,
        artifacts_dir=Settings.load(env={}).paths.jvm_dir,
        drain=True,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
    )
    jvm.ensure_artifacts(settings)
    contracts = load_contracts(settings.paths.schemas_dir)
    runs: list[Run] = []
    local.up(settings)
    try:
        ensure_topics(settings, [c.topic for c in contracts])
        produced = 0
        for phase, target in (("small", small), ("large", args.records)):
            print(f"producing {target - produced} records (total {target}) ...", flush=True)
            produce(settings, contracts, target - produced, bad_fraction=args.bad_fraction, seed=target)
            produced = target
            for repeat in range(args.repeats):
                for mode in args.modes:  # alternate modes so drift in machine load hits both alike
                    run = run_job(settings, mode, phase, f"{mode}_{phase}_{repeat}", produced)
                    runs.append(run)
                    print(
                        f"  {mode:<8} {phase:<6} net {run.net_s:6.1f}s  wall {run.wall_s:6.1f}s  "
                        f"cpu {run.cpu_s:6.1f}s  peak {run.peak_rss_mb:5.0f} MB  accounted={run.accounted}",
                        flush=True,
                    )
    finally:
        local.down(settings)

    summary = {}
    print(f"\n{'mode':<8} {'marginal rec/s':>15} {'cpu s / M rec':>14} {'peak MB':>8}")
    for mode in args.modes:
        mine = [r for r in runs if r.mode == mode]
        net = {p: statistics.median(r.net_s for r in mine if r.phase == p) for p in ("small", "large")}
        cpu = {p: statistics.median(r.cpu_s for r in mine if r.phase == p) for p in ("small", "large")}
        delta = args.records - small
        rate = delta / max(net["large"] - net["small"], 1e-9)
        cpu_per_million = (cpu["large"] - cpu["small"]) / delta * 1e6
        peak = max(r.peak_rss_mb for r in runs if r.mode == mode)
        summary[mode] = {
            "marginal_records_per_s": round(rate),
            "cpu_s_per_million": round(cpu_per_million, 1),
            "peak_rss_mb": peak,
        }
        print(f"{mode:<8} {rate:>15,.0f} {cpu_per_million:>14.1f} {peak:>8.0f}")
    if not all(r.accounted for r in runs):
        print("WARNING: a run did not account for every record (audited + quarantined != produced)")
    if not args.no_record:
        record = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv),
            "machine": machine(),
            "records": args.records,
            "small": small,
            "summary": summary,
            "runs": [asdict(r) for r in runs],
        }
        append_result(RESULTS, record)
    return 0 if all(r.accounted for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
