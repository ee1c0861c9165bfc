"""What the exporter reads besides the lake's rows: Flink's REST API, Iceberg table metadata, Kafka offsets."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pyiceberg.exceptions import NoSuchTableError

from lakegate import kafka_clients
from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.errors import StackError
from lakegate.logs import kv
from lakegate.observe.ledger import Gap
from lakegate.settings import Settings, port_range
from udfs.contract import Contracts

log = logging.getLogger(__name__)

_ACTIVE = ("RUNNING", "RESTARTING", "CREATED", "INITIALIZING", "FAILING", "CANCELLING")


# ---- Flink ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JobHealth:
    job: str
    job_id: str
    state: str
    restarts: int
    checkpoints_completed: int
    checkpoints_failed: int
    last_checkpoint_s: float | None  # when the latest checkpoint completed (Unix seconds)
    last_checkpoint_duration_s: float | None

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


def _get(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http URL from settings)
        return json.load(response)


def flink_rest_urls(settings: Settings) -> list[str]:
    """Where the job's REST API may be: the session cluster's, or the local MiniCluster's port range."""
    if settings.cluster.execution_target == "remote":
        return [settings.cluster.rest_url.rstrip("/")]
    return [f"http://127.0.0.1:{port}" for port in port_range(settings.observation.flink_rest_port)]


def find_job(urls: Iterable[str], job_name: str) -> tuple[str, dict[str, Any]] | None:
    """(REST base URL, job overview) of the newest job with this name, preferring active ones."""
    found: list[tuple[bool, int, str, dict[str, Any]]] = []
    for url in urls:
        try:
            overview = _get(f"{url}/jobs/overview", timeout_s=1.0)
        except (urllib.error.URLError, OSError, ValueError):
            continue
        for job in overview.get("jobs", []):
            if job.get("name") == job_name:
                found.append((job.get("state") in _ACTIVE, int(job.get("start-time", 0)), url, job))
    if not found:
        return None
    _, _, url, job = max(found, key=lambda f: (f[0], f[1]))
    return url, job


def job_health(settings: Settings) -> JobHealth | None:
    """The job's state, restarts and checkpoints from Flink's REST API; None when no such job is known."""
    located = find_job(flink_rest_urls(settings), settings.job.name)
    if located is None:
        return None
    url, job = located
    job_id = job["jid"]
    checkpoints = _get(f"{url}/jobs/{job_id}/checkpoints")
    counts = checkpoints.get("counts", {})
    latest = (checkpoints.get("latest") or {}).get("completed") or {}
    metrics = {m["id"]: m["value"] for m in _get(f"{url}/jobs/{job_id}/metrics?get=numRestarts")}
    return JobHealth(
        job=settings.job.name,
        job_id=job_id,
        state=job.get("state", "UNKNOWN"),
        restarts=int(float(metrics.get("numRestarts", 0))),
        checkpoints_completed=int(counts.get("completed", 0)),
        checkpoints_failed=int(counts.get("failed", 0)),
        last_checkpoint_s=latest["latest_ack_timestamp"] / 1000 if latest.get("latest_ack_timestamp") else None,
        last_checkpoint_duration_s=(
            latest["end_to_end_duration"] / 1000 if latest.get("end_to_end_duration") is not None else None
        ),
    )


# ---- Iceberg --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TableStats:
    table: str
    commits: int  # the table's last sequence number: one per commit
    snapshots: int
    data_files: int
    data_bytes: int
    records: int
    last_commit_s: float | None


def table_names(settings: Settings, contracts: Contracts) -> list[str]:
    return [audit_table_name(settings, c) for c in contracts] + [quarantine_table_name(settings)]


def table_stats(settings: Settings, names: Iterable[str]) -> list[TableStats]:
    """From table metadata only (no data file is read); tables that do not exist yet are left out."""
    catalog = open_catalog(settings)
    out = []
    for name in names:
        try:
            table = catalog.load_table(name)
        except NoSuchTableError:
            continue
        snapshot = table.current_snapshot()
        summary: Mapping[str, str] = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        out.append(
            TableStats(
                table=name,
                # Format v1 tables have no sequence numbers: their retained snapshots are the best count.
                commits=int(getattr(table.metadata, "last_sequence_number", len(table.metadata.snapshots))),
                snapshots=len(table.metadata.snapshots),
                data_files=int(summary.get("total-data-files", 0)),
                data_bytes=int(summary.get("total-files-size", 0)),
                records=int(summary.get("total-records", 0)),
                last_commit_s=snapshot.timestamp_ms / 1000 if snapshot else None,
            )
        )
    return out


# ---- Kafka ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Positions:
    log_start: dict[tuple[str, int], int]
    end: dict[tuple[str, int], int]


class KafkaView:
    """Partition offsets, and how many committed records an offset range holds (for the ledger's gaps)."""

    def __init__(self, settings: Settings, *, max_records_per_gap: int = 1_000_000) -> None:
        self._consumer = KafkaConsumer(
            **kafka_clients.python_config(settings),
            client_id="lakegate-exporter",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self._max = max_records_per_gap
        self._counted: dict[Gap, int] = {}  # the past does not change: a gap is counted once

    def close(self) -> None:
        self._consumer.close()

    def positions(self, topics: Iterable[str]) -> Positions:
        partitions = [
            TopicPartition(t, p) for t in topics for p in sorted(self._consumer.partitions_for_topic(t) or ())
        ]
        if not partitions:
            return Positions({}, {})
        starts = self._consumer.beginning_offsets(partitions)
        ends = self._consumer.end_offsets(partitions)
        return Positions(
            {(tp.topic, tp.partition): o for tp, o in starts.items()},
            {(tp.topic, tp.partition): o for tp, o in ends.items()},
        )

    def records_in(self, gaps: Iterable[Gap]) -> dict[Gap, int]:
        out = {}
        for gap in gaps:
            if gap not in self._counted:
                self._counted[gap] = self._count(gap)
            out[gap] = self._counted[gap]
        return out

    def _count(self, gap: Gap, timeout_s: float = 30.0) -> int:
        topic, partition, first, last = gap
        tp = TopicPartition(topic, partition)
        self._consumer.assign([tp])
        stop = min(last + 1, self._consumer.end_offsets([tp])[tp])
        self._consumer.seek(tp, first)
        count, deadline = 0, time.monotonic() + timeout_s
        # The position moves past transaction markers and aborted records too: stop on position, not content.
        while self._consumer.position(tp) < stop and count < self._max:
            if time.monotonic() > deadline:
                raise StackError(
                    f"reading {topic}[{partition}] offsets {first}..{last} from Kafka took over "
                    f"{timeout_s:.0f} s; is the broker at the configured bootstrap reachable?"
                )
            count += sum(1 for r in self._consumer.poll(timeout_ms=500).get(tp, []) if r.offset <= last)
        if count:
            log.warning(
                "records missing from the lake",
                extra=kv(topic=topic, partition=partition, first_offset=first, last_offset=last, records=count),
            )
        return count
