"""Where a job started without a checkpoint resumes, and what each of its sinks already holds (docs/resume.md).

The ingest job's ``pack`` writes a coverage journal: per checkpoint, the highest offset read per partition
when the barrier passed (checkpoint 0: the job's start). Each Iceberg sink tags every commit with its Flink
job id and checkpoint, and commits whole checkpoints in order, so a table whose last commit is checkpoint
``c`` of job ``j`` holds every record routed to it up to the journal's offsets for ``(j, c)``. A fresh start
reads from the lowest of those offsets over the sinks, plus one, and each sink drops what it holds: the plan's
``resume`` section carries, per sink, its held offsets, the audit tables' offsets in the re-read window (so
dedupe repeats the lake's decisions there) and the dead-letter topic's (its writers' transactions commit
separately; quarantine rows missing from it are re-read and published again).

Invariant: every record read ends in exactly one place in every sink, whichever sinks committed last.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import GreaterThan
from pyiceberg.table import Table

from lakegate import changelogs, model_state, readmodels, warehouse
from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.logs import kv
from lakegate.observe.ledger import DUPLICATE, TopicPartition
from lakegate.readers import read_dead_letters
from lakegate.settings import Settings
from lakegate.warehouse import Location
from udfs.contract import Contracts

log = logging.getLogger(__name__)

JOB_ID, CHECKPOINT = "flink.job-id", "flink.max-committed-checkpoint-id"  # Iceberg's Flink commit summary
QUARANTINE_SINK, DEAD_LETTER_SINK = "quarantine-table", "dead-letter"  # uids in IngestGraph.java
# The dead-letter topic is read from a journal time minus this margin (clocks of other hosts).
CLOCK_MARGIN_MS = 60_000

Held = dict[TopicPartition, int]  # partition → highest offset held


def audit_sink(contract_name: str) -> str:
    return f"audit-{contract_name}"


def model_sink(model_name: str) -> str:
    return f"model-{model_name}"


def journal_folder(settings: Settings) -> Location:
    """Where pack writes the journal: in the warehouse, outside every table's folder, one per lake (named
    after its quarantine table, which one lake's jobs share and no other lake's do)."""
    return warehouse.root(settings) / "_lakegate" / "coverage" / quarantine_table_name(settings)


@dataclass(frozen=True, slots=True)
class Entry:
    """One checkpoint of one job in the journal, merged over its pack subtasks."""

    job: str
    checkpoint: int
    restored: bool
    written_ms: int
    covered: Held  # the highest offset read per partition when the checkpoint's barrier passed
    held: dict[str, Held] = field(default_factory=dict)  # sink uid → what it held at the job's fresh start


Journal = dict[tuple[str, int], Entry]


def read_journal(folder: Location) -> Journal:
    """Every complete entry (all of its subtasks' files present) under ``folder``."""
    parts: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for file in folder.files():
        below = folder.relative_parts(file)  # (job id, "<checkpoint>-<subtask>.json")
        if len(below) != 2 or not below[1].endswith(".json") or below[1].startswith("."):
            continue
        try:
            doc = json.loads(file.read_bytes())
        except (OSError, ValueError):
            log.warning("unreadable journal file skipped", extra=kv(path=file.uri))
            continue
        parts[(doc["job"], int(doc["checkpoint"]))].append(doc)
    journal: Journal = {}
    for key, docs in parts.items():
        if len({d["subtask"] for d in docs}) != docs[0]["parallelism"]:
            continue  # a checkpoint that never completed, or a file already pruned
        covered: Held = {}
        held: dict[str, Held] = {}
        for d in docs:
            _merge(covered, d["covered"])
            for sink, offsets in d.get("held", {}).items():
                _merge(held.setdefault(sink, {}), offsets)
        written = min(d["written_ms"] for d in docs)
        journal[key] = Entry(key[0], key[1], bool(docs[0]["restored"]), written, covered, held)
    return journal


def _merge(into: Held, by_topic: Mapping[str, Mapping[str, int]]) -> None:
    for topic, partitions in by_topic.items():
        for p, o in partitions.items():
            tp = (topic, int(p))
            into[tp] = max(into.get(tp, -1), int(o))


def _highest(*offsets: Mapping[TopicPartition, int]) -> Held:
    out: Held = {}
    for each in offsets:
        for tp, o in each.items():
            out[tp] = max(out.get(tp, -1), o)
    return out


@dataclass(frozen=True, slots=True)
class Point:
    """A sink's last commit: the Flink job and checkpoint its table's snapshot summary names."""

    job: str
    checkpoint: int


def table_point(table: Table, jobs: set[str]) -> Point | None:
    """The newest snapshot committed by one of ``jobs`` (ingest jobs: those in the journal), as a point.
    Snapshots of other writers (replay, rebuild, maintenance) are passed over."""
    for snapshot in sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0), reverse=True):
        summary = snapshot.summary
        job = summary.get(JOB_ID) if summary is not None else None
        checkpoint = summary.get(CHECKPOINT) if summary is not None else None
        if job in jobs and checkpoint is not None:
            return Point(job, int(checkpoint))
    return None


@dataclass(frozen=True, slots=True)
class Holdings:
    """What each sink holds (sink uid → held offsets) and the journal entries that say so."""

    held: dict[str, Held]
    basis: dict[str, Entry]
    fresh: Entry  # the last fresh start: every sink holds at least what it covered

    def start(self) -> Held:
        """Per partition any sink names, the lowest offset held over the sinks (-1: read from the start)."""
        partitions = {tp for h in self.held.values() for tp in h}
        return {tp: min(h.get(tp, -1) for h in self.held.values()) for tp in sorted(partitions)}


def holdings(points: Mapping[str, Point | None], journal: Journal) -> Holdings | None:
    """Held offsets per sink from its last commit's journal entry: what that checkpoint covered, or what the
    sink held when the entry's job started fresh if that is more (a job that re-reads below a sink's held
    offsets drops those records on their way to it). A sink without a commit since the last fresh start (or
    whose entry is pruned) holds at least what that start gave it. None without any fresh start in the
    journal (a lake older than it): the caller falls back to the lake's highest offsets."""
    starts = [e for e in journal.values() if e.checkpoint == 0 and not e.restored]
    if not starts:
        return None
    fresh = max(starts, key=lambda e: e.written_ms)
    since = {e.job for e in journal.values() if e.written_ms >= fresh.written_ms}  # its job and its restores
    held: dict[str, Held] = {}
    basis: dict[str, Entry] = {}
    for sink, point in points.items():
        entry = journal.get((point.job, point.checkpoint)) if point is not None and point.job in since else None
        base = entry or fresh
        basis[sink] = base
        held[sink] = _highest(fresh.covered, fresh.held.get(sink, {}), base.covered, base.held.get(sink, {}))
    return Holdings(held, basis, fresh)


def ranges(offsets: Iterable[int]) -> list[int]:
    """Sorted distinct offsets as flat inclusive [first, last, first, last, ...] bounds."""
    bounds: list[int] = []
    for o in sorted(set(offsets)):
        if bounds and o == bounds[-1] + 1:
            bounds[-1] = o
        else:
            bounds += [o, o]
    return bounds


def offset_ranges(coordinates: Iterable[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """(topic, partition, offset) triples as the plan's offset ranges, one entry per partition."""
    by_partition: dict[TopicPartition, list[int]] = defaultdict(list)
    for t, p, o in coordinates:
        by_partition[(t, p)].append(o)
    return [{"topic": t, "partition": p, "bounds": ranges(o)} for (t, p), o in sorted(by_partition.items())]


def _offsets(tp_held: Held) -> list[dict[str, Any]]:
    return [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(tp_held.items())]


@dataclass(slots=True)
class Resume:
    """A fresh start: the first offset to read per partition, and the plan's ``resume`` section."""

    start: dict[TopicPartition, int] = field(default_factory=dict)
    section: dict[str, Any] = field(default_factory=dict)


def empty_section(settings: Settings) -> dict[str, Any]:
    """A ``resume`` section that skips nothing (a restore, or a start that is not from the lake)."""
    return {
        "journal": journal_folder(settings).uri,
        "covered": [],
        "held": {},
        "audited": [],
        "duplicates": [],
        "dead_letter": [],
        "model_state": "",
    }


def plan_resume(settings: Settings, contracts: Contracts) -> Resume | None:
    """The start and ``resume`` section of a fresh start from the lake; None for a lake older than the journal."""
    journal = read_journal(journal_folder(settings))
    jobs = {job for job, _ in journal}
    iceberg = open_catalog(settings)
    tables: dict[str, Table | None] = {}
    for contract in contracts:
        tables[audit_sink(contract.name)] = _load(iceberg, audit_table_name(settings, contract))
        for model in contract.read_models:
            tables[model_sink(model.name)] = _load(iceberg, readmodels.table_name(settings, model))
    tables[QUARANTINE_SINK] = _load(iceberg, quarantine_table_name(settings))
    points = {sink: (table_point(t, jobs) if t is not None else None) for sink, t in tables.items()}
    found = holdings(points, journal)
    if found is None:
        return None
    start = found.start()
    quarantine = tables[QUARANTINE_SINK]
    dead_letter: set[tuple[str, int, int]] = set()
    if quarantine is not None:
        dead_letter = _reconcile_dead_letters(settings, quarantine, journal=journal, found=found, start=start)
    duplicates = []
    if quarantine is not None:
        columns = ("source_topic", "source_partition", "source_offset")
        duplicates = _window(quarantine, columns, start, reason=DUPLICATE)
    audited = []
    for contract in contracts:
        table = tables[audit_sink(contract.name)]
        if table is not None:
            audited += _window(table, ("lg_topic", "lg_partition", "lg_offset"), start)
    section = {
        "journal": journal_folder(settings).uri,
        "covered": _offsets(start),
        "held": {sink: _offsets(held) for sink, held in sorted(found.held.items())},
        "audited": offset_ranges(audited),
        "duplicates": offset_ranges(duplicates),
        "dead_letter": offset_ranges((t, p, o) for t, p, o in dead_letter if o > start.get((t, p), -1)),
        # Each model table is read once: its changelog topic levelled with it, then its keys' state written.
        "model_state": model_state.bootstrap(
            journal_folder(settings), changelogs.levelled(settings, readmodels.model_logs(settings, contracts))
        ),
    }
    log.info(
        "resuming after what every sink holds",
        extra=kv(
            **{f"{sink}": f"{e.job[:8]}/{e.checkpoint}" for sink, e in sorted(found.basis.items())},
            re_read=sum(max(h.get(tp, -1) for h in found.held.values()) - o for tp, o in start.items()),
        ),
    )
    return Resume({tp: o + 1 for tp, o in start.items()}, section)


def _load(iceberg: Any, name: str) -> Table | None:
    try:
        table: Table = iceberg.load_table(name)
    except NoSuchTableError:
        return None
    return table


def _window(
    table: Table, columns: tuple[str, str, str], start: Held, *, reason: str | None = None
) -> list[tuple[str, int, int]]:
    """Coordinates of ``table``'s rows above ``start`` (the fresh start's re-read window and beyond); with
    ``reason``, only quarantine rows of that reason."""
    if not start:
        return []
    topic, partition, offset = columns
    above: Any = GreaterThan(offset, min(start.values()))  # type: ignore[call-arg,arg-type]  # pydantic signature
    fields = (*columns, "reason") if reason is not None else columns
    rows = table.scan(row_filter=above, selected_fields=fields).to_arrow()
    reasons = rows["reason"].to_pylist() if reason is not None else [None] * rows.num_rows
    out = []
    for t, p, o, r in zip(
        rows[topic].to_pylist(), rows[partition].to_pylist(), rows[offset].to_pylist(), reasons, strict=True
    ):
        if o > start.get((t, p), o) and r == reason:
            out.append((t, p, o))
    return out


def since_ms(journal: Journal, floor: Held) -> int | None:
    """When the journal last shows no job past ``floor`` in any partition: the entry just before (in time) the
    first one past it. Every record above ``floor`` was read, so written anywhere, after that. None when the
    journal's earliest entry is already past it (its history is pruned): read from the beginning."""
    before: Entry | None = None
    for entry in sorted(journal.values(), key=lambda e: (e.written_ms, e.job, e.checkpoint)):
        if any(o > floor.get(tp, -1) for tp, o in entry.covered.items()):
            return None if before is None else before.written_ms
        before = entry
    return before.written_ms if before is not None else None


def _reconcile_dead_letters(
    settings: Settings,
    quarantine: Table,
    *,
    journal: Journal,
    found: Holdings,
    start: Held,
) -> set[tuple[str, int, int]]:
    """The dead-letter topic's records above the last fresh start's offsets; lowers ``start`` (in place) below
    any quarantine row above them the topic lacks, so it is read and published again. Above the last fresh
    start covers every gap: each start re-reads what it finds missing, so what a killed run left missing is
    above its own start."""
    floor = found.fresh.covered
    since = since_ms(journal, floor)
    rows = _window(quarantine, ("source_topic", "source_partition", "source_offset"), floor)
    letters = read_dead_letters(settings, since_ms=None if since is None else since - CLOCK_MARGIN_MS)
    present = {d.source for d in letters if d.source[2] > floor.get(d.source[:2], -1)}
    missing = [c for c in rows if c not in present]
    for t, p, o in missing:
        start[(t, p)] = min(start.get((t, p), o - 1), o - 1)
    if missing:
        log.warning(
            "quarantine rows missing from the dead-letter topic are published again",
            extra=kv(records=len(missing), topic=settings.kafka.dlq_topic),
        )
    return present
