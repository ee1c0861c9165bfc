"""Where the ingest job's time goes: py-spy and Java Flight Recorder sample its JVM (thread mode runs Python there).

Usage:  .venv/bin/python -m bench.profile_ingest [--events 300000] [--seconds 60] [--read-models open_tickets]

Starts a private stack, pre-loads the benchmark's events (bench/compare.py), runs lakegate's ingest job on
them and, once it commits, samples for ``--seconds``: Python frames (py-spy), Java methods, packages and
threads (JFR), and every JVM thread's CPU time against the records committed meanwhile, the CPU µs per event
of each thread family. Prints the top of each and appends everything to bench/results/profile.jsonl.
Method and how to read it: bench/README.md, "Where lakegate's time goes".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import compare, measure
from bench.modes import machine, tree_pids
from lakegate import catalog, jvm, logs
from lakegate.settings import Settings
from lakegate.stack import local
from udfs.contract import Contracts

RESULTS = Path(__file__).resolve().parent / "results" / "profile.jsonl"
TOP = 25


def _jvm_of(root: int) -> int:
    """The job's JVM: the java process under the job's Python process (PyFlink's gateway, the MiniCluster)."""
    for pid in tree_pids(root):
        try:
            if Path(f"/proc/{pid}/exe").resolve().name == "java":
                return pid
        except OSError:
            continue
    raise RuntimeError(f"no java process under pid {root}")


def _frame(line: str) -> str:
    """``function (file:line)`` → ``function (file)``: one row per function, not per line."""
    name, _, where = line.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})" if where else name


def summarise(collapsed: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks → sample counts per function, self and inclusive."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        total += count
        if frames:
            own[frames[-1]] += count
            for name in set(frames):
                inclusive[name] += count
    return {"samples": total, "self": own.most_common(TOP), "inclusive": inclusive.most_common(TOP)}


def summarise_jfr(recording: Path) -> dict[str, Any]:
    """JFR's execution samples (Java threads running Java code) → counts per method (top frame), per package
    (inclusive: a package counts once per sample whatever its depth) and per thread."""
    printed = subprocess.run(
        ["jfr", "print", "--json", "--stack-depth", "96", "--events", "jdk.ExecutionSample", str(recording)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    events = json.loads(printed)["recording"]["events"]
    for event in events:
        values = event["values"]
        frames = [f["method"] for f in (values.get("stackTrace") or {}).get("frames", [])]
        thread = (values.get("sampledThread") or {}).get("javaName") or "?"
        threads[_thread_family(thread)] += 1
        if not frames:
            continue
        own[f"{frames[0]['type']['name']}.{frames[0]['name']}"] += 1
        for package in {_package(m["type"]["name"]) for m in frames}:
            packages[package] += 1
    return {
        "samples": len(events),
        "self": own.most_common(TOP),
        "packages": packages.most_common(TOP),
        "threads": threads.most_common(TOP),
    }


def _package(class_name: str) -> str:
    """``org.apache.iceberg.parquet.ParquetWriter`` → ``org.apache.iceberg.parquet``: a readable grouping."""
    return ".".join(class_name.split(".")[:4]) if "." in class_name else class_name


def _thread_family(name: str) -> str:
    """Thread names without their counters: ``Legacy Source Thread - Source: x (1/1)#0`` and the like."""
    return name.split(" (", maxsplit=1)[0].split("#", maxsplit=1)[0].rstrip("0123456789- ") or name


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def thread_names(jvm_pid: int) -> dict[int, str]:
    """Native thread id → Java thread name, from ``jcmd <pid> Thread.print`` (``nid=0x…``)."""
    printed = subprocess.run(["jcmd", str(jvm_pid), "Thread.print"], check=True, capture_output=True, text=True)
    names = {}
    for match in re.finditer(r'^"(.+?)" .*?nid=(0x[0-9a-f]+|\d+)', printed.stdout, re.MULTILINE):
        names[int(match.group(2), 0)] = match.group(1)
    return names


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of ``pid``: (kernel name, CPU seconds so far), from ``/proc/<pid>/task/<tid>/stat``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return out


def records_landed(settings: Settings, contracts: Contracts) -> int:
    """Records committed to the audit and quarantine tables so far. Over a window of many checkpoints this
    is the records processed: the commit lags processing by about one checkpoint interval at both ends."""
    iceberg = catalog.open_catalog(settings)
    landed = [iceberg.load_table(catalog.audit_table_name(settings, c)) for c in contracts]
    landed.append(iceberg.load_table(catalog.quarantine_table_name(settings)))
    return measure.visible_rows(landed)


def budget(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], names: dict[int, str], events: int
) -> list[tuple[str, float, float]]:
    """(thread family, CPU seconds, CPU µs per event) over a window, largest first; threads that started in the
    window count from zero."""
    spent: dict[str, float] = {}
    for tid, (kernel_name, seconds) in after.items():
        family = _thread_family(names.get(tid, kernel_name))
        spent[family] = spent.get(family, 0.0) + seconds - before.get(tid, (kernel_name, 0.0))[1]
    ranked = sorted(spent.items(), key=lambda item: -item[1])
    return [(name, round(cpu, 2), round(cpu / max(events, 1) * 1e6, 1)) for name, cpu in ranked if cpu > 0]


def profile(args: argparse.Namespace, pyspy: str) -> dict[str, Any]:
    bench_args = compare.parse_args(
        [
            "--events",
            str(args.events),
            "--parallelism",
            "1",
            "--pipelines",
            "lakegate",
            "--read-models",
            *args.read_models,
        ]
    )
    home = Path(tempfile.mkdtemp(prefix="lakegate-profile-"))
    settings = compare.stack_settings(bench_args, home)
    jvm.ensure_artifacts(settings)
    local.up(settings)
    try:
        bench = compare.prepare(bench_args, settings)
        run = compare.pipeline_settings(
            bench, "lakegate", "profile", 1, schemas_dir=settings.paths.schemas_dir, drain=True
        )
        command, env = compare.launch(
            bench, "lakegate", run, bench.contracts, compare.task_for(bench, run, bounded=True)
        )
        child = measure.start(command, env, home / "profile.out")
        try:
            compare.wait_for(lambda: compare.rows_visible(run, bench.contracts) > 0, 600, child, "the first commit")
            time.sleep(args.warmup_s)  # past the JIT compilers' busiest minute: the steady state is measured
            raw = home / "profile.raw"
            jvm_pid = _jvm_of(child.pid)
            names = thread_names(jvm_pid)
            cpu_before, read_before, started = (
                thread_cpu(jvm_pid),
                records_landed(run, bench.contracts),
                time.monotonic(),
            )
            recording = home / "profile.jfr"
            subprocess.run(
                [
                    "jcmd",
                    str(jvm_pid),
                    "JFR.start",
                    "name=lakegate",
                    "settings=profile",
                    f"duration={args.seconds}s",
                    f"filename={recording}",
                ],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(jvm_pid),
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(raw),
                ],
                check=True,
                capture_output=True,
            )
            cpu_after, read_after, window_s = (
                thread_cpu(jvm_pid),
                records_landed(run, bench.contracts),
                time.monotonic() - started,
            )
            names.update(thread_names(jvm_pid))
            events = read_after - read_before
            rows_before = compare.rows_visible(run, bench.contracts)
            compare.wait_for(recording.exists, 60, child, "the JFR recording")
            time.sleep(2)  # jcmd writes the file when the recording ends; let it finish
            java = summarise_jfr(recording)
            child.wait(timeout=3600)
        finally:
            measure.stop(child)
        summary = summarise(raw.read_text())
        summary["jvm"] = java
        summary["budget"] = {
            "window_s": round(window_s, 1),
            "events": events,
            "events_per_s": round(events / window_s),
            "cpu_us_per_event": round(
                sum(cpu for _, cpu, _ in budget(cpu_before, cpu_after, names, events)) / max(events, 1) * 1e6, 1
            ),
            "threads": budget(cpu_before, cpu_after, names, events),
        }
        summary.update(
            events=args.events, read_models=args.read_models, seconds=args.seconds, rows_at_profile_end=rows_before
        )
        return summary
    finally:
        local.down(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_ingest", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup-s", type=int, default=30, help="wait this long after the first commit")
    parser.add_argument("--read-models", nargs="*", default=["open_tickets"])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logs.configure()
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if pyspy is None:
        raise SystemExit("py-spy is not installed: `make setup` installs the dev dependencies (py-spy among them)")
    started = time.monotonic()
    summary = profile(args, pyspy)
    for kind in ("self", "inclusive"):
        print(f"\nPython, {kind} samples (of {summary['samples']}):")
        for name, count in summary[kind]:
            print(f"  {count / max(summary['samples'], 1):6.1%}  {name}")
    plan = summary["budget"]
    print(
        f"\nStage budget: {plan['events']} events in {plan['window_s']} s ({plan['events_per_s']}/s), "
        f"{plan['cpu_us_per_event']} CPU µs per event in the job's JVM:"
    )
    for name, cpu_s, per_event in plan["threads"]:
        print(f"  {per_event:8.1f} µs  {cpu_s:7.2f} s  {name}")
    java = summary["jvm"]
    for kind in ("threads", "self", "packages"):
        print(f"\nJVM, {kind} (of {java['samples']} Java execution samples):")
        for name, count in java[kind]:
            print(f"  {count / max(java['samples'], 1):6.1%}  {name}")
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine(),
        "elapsed_s": round(time.monotonic() - started),
        **summary,
    }
    with args.results.open("a") as out:
        out.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
