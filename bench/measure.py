"""What bench/compare.py measures: a pipeline process tree's time, CPU and memory, and its Iceberg tables
(were all valid records written once, how fast did commits come, when did each record become visible)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from bench.data import Coordinate, Manifest
from bench.modes import TreeSampler

_NET = re.compile(r"net_runtime_ms=(\d+)")
COORDINATES = ("lg_topic", "lg_partition", "lg_offset")


@dataclass(frozen=True, slots=True)
class Measured:
    wall_s: float
    net_s: float
    cpu_s: float
    peak_rss_mb: float


class CpuHistory(threading.Thread):
    """The process tree's CPU seconds so far, every half second, with the wall clock (epoch ms): to tell
    the CPU spent between two commits from the start-up's."""

    def __init__(self, sampler: TreeSampler) -> None:
        super().__init__(daemon=True)
        self.sampler = sampler
        self.points: list[tuple[int, float]] = []

    def run(self) -> None:
        while not self.sampler.stopped.wait(0.5):
            self.points.append((int(time.time() * 1000), sum(self.sampler.cpu.values())))

    def at(self, epoch_ms: int) -> float:
        """CPU seconds at the last point not after ``epoch_ms`` (0 before the first)."""
        return max((cpu for t, cpu in self.points if t <= epoch_ms), default=0.0)


def run_measured(
    command: list[str], env: dict[str, str], log: Path, *, timeout_s: float
) -> tuple[Measured, CpuHistory]:
    """Run a pipeline to its end, sampling its process tree; its output goes to ``log``.

    ``net_s`` is what the pipeline reports as ``net_runtime_ms=`` (Flink's job runtime, or the plain
    consumer's first poll to last commit): the processing time without interpreter and JVM start-up.
    """
    started = time.monotonic()
    with log.open("w") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(child.pid)
        history = CpuHistory(sampler)
        sampler.start()
        history.start()
        try:
            child.wait(timeout=timeout_s)
        finally:
            stop(child)
            sampler.stopped.set()
            sampler.join()
            history.join()
    wall = time.monotonic() - started
    match = _NET.search(log.read_text(errors="replace"))
    if child.returncode != 0 or match is None:
        raise RuntimeError(f"{command[-2:]} failed (exit {child.returncode}); output in {log}")
    measured = Measured(
        round(wall, 2), int(match.group(1)) / 1000, round(sum(sampler.cpu.values()), 1), round(sampler.peak_rss / 2**20)
    )
    return measured, history


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A pipeline in the background, in its own process group (its JVM and workers go with it)."""
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(child: subprocess.Popen[Any]) -> None:
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):  # workers or a JVM left behind in the group
        os.killpg(child.pid, signal.SIGKILL)


# ---- tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """How a pipeline's tables compare with what was produced."""

    rows: int
    valid_missing: int  # valid records not in the tables
    duplicates: int  # rows beyond the first at the same coordinates
    bad_written: int  # bad records written anyway (decodable ones, for the pipelines without checks)
    unexpected: int  # rows at coordinates that were never produced
    quarantined: int | None = None  # lakegate: rows in its quarantine table
    quarantine_exact: bool | None = None  # lakegate: the quarantine holds exactly the bad records, once each

    @property
    def ok(self) -> bool:
        clean = self.valid_missing == 0 and self.duplicates == 0 and self.unexpected == 0
        if self.quarantine_exact is not None:  # lakegate: the audit log is exactly the valid records
            return clean and self.bad_written == 0 and self.quarantine_exact
        return clean

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def coordinates(tables: Iterable[Table], columns: tuple[str, str, str] = COORDINATES) -> pa.Table:
    parts = [t.scan(selected_fields=columns).to_arrow() for t in tables]
    return pa.concat_tables(parts).rename_columns(list(COORDINATES))


def check(rows: pa.Table, manifest: Manifest, quarantine: pa.Table | None = None) -> Check:
    """Compare the (topic, partition, offset) of every row with the manifest, partition by partition, and
    the quarantine's (lakegate's, if given) with the bad records."""
    bad_by_partition: dict[tuple[str, int], set[int]] = {}
    for topic, partition, offset in manifest.bad:
        bad_by_partition.setdefault((topic, partition), set()).add(offset)
    missing = duplicates = bad_written = unexpected = 0
    found = _offsets_by_partition(rows)
    for key, end in manifest.end_offsets.items():
        offsets = found.pop(key, np.empty(0, dtype=np.int64))
        present = np.unique(offsets)
        duplicates += len(offsets) - len(present)
        bad = np.fromiter(bad_by_partition.get(key, ()), dtype=np.int64)
        in_range = present[(present >= 0) & (present < end)]
        unexpected += len(present) - len(in_range)
        written_bad = np.isin(in_range, bad)
        bad_written += int(written_bad.sum())
        missing += (end - len(bad)) - int((~written_bad).sum())
    unexpected += sum(len(o) for o in found.values())  # partitions nobody produced to
    if quarantine is None:
        return Check(rows.num_rows, missing, duplicates, bad_written, unexpected)
    quarantined = list(zip(*(quarantine.column(c).to_pylist() for c in COORDINATES), strict=True))
    exact = len(quarantined) == len(set(quarantined)) and set(quarantined) == set(manifest.bad)
    return Check(rows.num_rows, missing, duplicates, bad_written, unexpected, len(quarantined), exact)


def _offsets_by_partition(rows: pa.Table) -> dict[tuple[str, int], np.ndarray[Any, Any]]:
    out: dict[tuple[str, int], np.ndarray[Any, Any]] = {}
    if rows.num_rows == 0:
        return out
    topic, partition = rows.column("lg_topic").to_numpy(zero_copy_only=False), rows.column("lg_partition").to_numpy()
    offset = rows.column("lg_offset").to_numpy()
    for t, p in {(str(t), int(p)) for t, p in zip(topic, partition, strict=True)}:
        out[(t, p)] = offset[(topic == t) & (partition == p)].astype(np.int64)
    return out


@dataclass(frozen=True, slots=True)
class Steady:
    """Throughput and CPU between a pipeline's first and last commit: start-up and the first commit's
    records (read before the clock starts) left out."""

    rows_per_s: float
    cpu_s_per_million: float | None


def steady(tables: Iterable[Table], history: CpuHistory) -> Steady | None:
    """None with fewer than three commits (nothing steady to measure)."""
    commits = []  # (epoch ms, rows added, first commit of its table?)
    for table in tables:
        snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
        commits += [(s.timestamp_ms, _summary_count(s, "added-records"), i == 0) for i, s in enumerate(snapshots)]
    if len(commits) < 3:
        return None
    first, last = min(c[0] for c in commits), max(c[0] for c in commits)
    rows = sum(added for _, added, is_first in commits if not is_first)
    if last <= first or rows == 0:
        return None
    cpu = history.at(last) - history.at(first)
    return Steady(round(rows / ((last - first) / 1000)), round(cpu / rows * 1e6, 1) if cpu > 0 else None)


def visible_at(tables: Iterable[Table]) -> dict[Coordinate, int]:
    """When each row became visible: the commit time (snapshot ``timestamp-ms``) of the first snapshot that
    holds it. Reads the coordinates at every snapshot: meant for the small tables of a latency phase."""
    seen: dict[Coordinate, int] = {}
    for table in tables:
        for snapshot in sorted(table.snapshots(), key=lambda s: s.timestamp_ms):
            rows = table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=COORDINATES).to_arrow()
            for t, p, o in zip(*(rows.column(c).to_pylist() for c in COORDINATES), strict=True):
                seen.setdefault((t, p, o), snapshot.timestamp_ms)
    return seen


def visible_rows(tables: Iterable[Table]) -> int:
    total = 0
    for table in tables:
        snapshot = table.current_snapshot()
        total += _summary_count(snapshot, "total-records") if snapshot is not None else 0
    return total


def _summary_count(snapshot: Snapshot, key: str) -> int:
    summary = snapshot.summary
    value = summary.get(key) if summary is not None else None
    return int(value) if value else 0


def latency(
    arrived: Mapping[Coordinate, int], sent: Mapping[Coordinate, int], *, all_expected: bool = True
) -> dict[str, float]:
    """Percentiles of arrival minus send time (ms) over the records sent that arrived. ``missing``: sent
    but never arrived, when every record sent should (not so for a changelog: many events change nothing)."""
    values = [at - sent[c] for c, at in arrived.items() if c in sent]
    out: dict[str, float] = {"count": len(values)}
    if all_expected:
        out["missing"] = len(sent) - len(values)
    if values:
        q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
        out.update(p50_ms=q[49], p90_ms=q[89], p99_ms=q[98], max_ms=max(values))
    return out
