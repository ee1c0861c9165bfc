"""The no-loss ledger: records read == audited + quarantined + deduplicated, over committed data.

Every record the ingest job reads ends as one row, with its source coordinates, in an audit table or in the
quarantine table (duplicates are quarantine rows with reason ``duplicate_event_id``), both committed on
checkpoints: the lake is the checkpoint-consistent record of what was processed. :func:`tally` counts the
lake's rows per partition up to a *settled* offset (the lake's highest at the previous refresh); offsets the
lake does not cover (gaps) are counted in Kafka; :func:`ledger` adds them up per topic.

Invariant: ``unaccounted = read - (audited + quarantined + deduplicated)`` is 0 unless records were lost
(positive) or written twice (negative). Method and assumption: docs/observation.md#the-no-loss-ledger.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.settings import Settings
from udfs.contract import Contracts
from udfs.reasons import Reason

TopicPartition = tuple[str, int]
Offsets = npt.NDArray[np.int64]
Gap = tuple[str, int, int, int]  # topic, partition, first offset, last offset (inclusive)

# Quarantine-table property: per partition, the offset the lake's account of it begins at (its origin;
# recorded at a job's fresh start by lakegate/offsets.py).
ORIGINS = "lakegate.origins"

# Column names of the normalised inputs to :func:`tally`.
TOPIC, PARTITION, OFFSET, REASON = "topic", "partition", "offset", "reason"
DUPLICATE = str(Reason.duplicate_event_id)


@dataclass(frozen=True, slots=True)
class TopicLedger:
    topic: str
    read: int
    audited: int
    quarantined: int
    deduplicated: int

    @property
    def unaccounted(self) -> int:
        return self.read - (self.audited + self.quarantined + self.deduplicated)


@dataclass(slots=True)
class Tally:
    """What the lake alone says; gaps still need Kafka's answer (:func:`ledger`)."""

    covered: dict[str, int] = field(default_factory=dict)  # topic → distinct offsets the lake holds
    audited: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    deduplicated: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)


def _settled(rows: pa.Table, settled: Mapping[TopicPartition, int]) -> pa.Table:
    """The rows at or below their partition's settled offset (partitions without one: none)."""
    if rows.num_rows == 0 or not settled:
        return rows.slice(0, 0)
    keys = pa.table(
        {
            TOPIC: [t for t, _ in settled],
            PARTITION: pa.array([p for _, p in settled], pa.int32()),
            "settled": pa.array(list(settled.values()), pa.int64()),
        }
    )
    joined = rows.cast(_schema_of(rows)).join(keys, [TOPIC, PARTITION], join_type="inner")
    return joined.filter(pc.less_equal(joined[OFFSET], joined["settled"])).drop_columns(["settled"])


def _schema_of(rows: pa.Table) -> pa.Schema:
    types = {TOPIC: pa.string(), PARTITION: pa.int32(), OFFSET: pa.int64(), REASON: pa.string()}
    return pa.schema([(name, types[name]) for name in rows.column_names])


def tally(
    audit: pa.Table,
    quarantine: pa.Table,
    settled: Mapping[TopicPartition, int],
    log_start: Mapping[TopicPartition, int],
    origins: Mapping[TopicPartition, int] | None = None,
) -> Tally:
    """Count the lake's rows up to each settled offset and find the offsets it does not cover.

    ``audit``: columns topic, partition, offset (all audit tables). ``quarantine``: the same plus reason.
    ``log_start``: each partition's first offset still in Kafka; ``origins``: where the lake's account of a
    partition begins. Uncovered offsets from the later of the two (the log start alone for a partition
    without an origin) up to the lake's first are gaps too; a job that started mid-topic owns nothing before.
    Vectorised (Arrow joins and group-bys, numpy per partition): it runs on every exporter refresh.
    """
    audit = _settled(audit, settled).select([TOPIC, PARTITION, OFFSET])
    quarantine = _settled(quarantine, settled)
    out = Tally()
    if audit.num_rows and quarantine.num_rows:
        # Replayed into the audit log since: counted there, once.
        audited_keys = audit.group_by([TOPIC, PARTITION, OFFSET]).aggregate([])
        quarantine = quarantine.join(audited_keys, [TOPIC, PARTITION, OFFSET], join_type="left anti")
    duplicate = pc.equal(quarantine[REASON], DUPLICATE) if quarantine.num_rows else pa.array([], pa.bool_())
    out.audited = _count_by_topic(audit)
    out.deduplicated = _count_by_topic(quarantine.filter(duplicate))
    out.quarantined = _count_by_topic(quarantine.filter(pc.invert(duplicate)))
    both = pa.concat_tables([audit, quarantine.select([TOPIC, PARTITION, OFFSET])])
    if both.num_rows == 0:
        return out
    distinct = (
        both.group_by([TOPIC, PARTITION, OFFSET])
        .aggregate([])
        .sort_by([(TOPIC, "ascending"), (PARTITION, "ascending"), (OFFSET, "ascending")])
    )
    out.covered = _count_by_topic(distinct)
    for (t, p), offsets in _split_by_partition(distinct):
        first = int(offsets[0])
        start = log_start.get((t, p))
        origin = (origins or {}).get((t, p))
        if origin is not None:
            start = origin if start is None else max(origin, start)
        if start is not None and start < first:
            first = start
        out.gaps.extend((t, p, a, b) for a, b in _missing_ranges(offsets, first, settled[(t, p)]))
    return out


def _count_by_topic(rows: pa.Table) -> dict[str, int]:
    if rows.num_rows == 0:
        return {}
    counted = rows.group_by([TOPIC]).aggregate([([], "count_all")])
    return dict(zip(counted[TOPIC].to_pylist(), counted["count_all"].to_pylist(), strict=True))


def _split_by_partition(distinct: pa.Table) -> list[tuple[TopicPartition, Offsets]]:
    """(topic, partition) → its offsets, for rows sorted by topic, partition, offset."""
    starts = (
        distinct.group_by([TOPIC, PARTITION])
        .aggregate([([], "count_all")])
        .sort_by([(TOPIC, "ascending"), (PARTITION, "ascending")])
    )
    offsets = distinct[OFFSET].to_numpy()
    out, begin = [], 0
    for t, p, n in zip(
        starts[TOPIC].to_pylist(), starts[PARTITION].to_pylist(), starts["count_all"].to_pylist(), strict=True
    ):
        out.append(((t, p), offsets[begin : begin + n]))
        begin += n
    return out


def _missing_ranges(present: Offsets, first: int, last: int) -> list[tuple[int, int]]:
    """Maximal ranges in [first, last] not in ``present`` (sorted, distinct, all <= last)."""
    ranges = []
    if first < present[0]:
        ranges.append((first, int(present[0]) - 1))
    for i in np.flatnonzero(np.diff(present) > 1):
        ranges.append((int(present[i]) + 1, int(present[i + 1]) - 1))
    if present[-1] < last:
        ranges.append((int(present[-1]) + 1, last))
    return ranges


def ledger(counted: Tally, records_in_gaps: Mapping[Gap, int], topics: list[str]) -> list[TopicLedger]:
    """Per topic, with Kafka's count of the records each gap holds."""
    lost: dict[str, int] = {}
    for gap in counted.gaps:
        lost[gap[0]] = lost.get(gap[0], 0) + records_in_gaps[gap]
    return [
        TopicLedger(
            topic=t,
            read=counted.covered.get(t, 0) + lost.get(t, 0),
            audited=counted.audited.get(t, 0),
            quarantined=counted.quarantined.get(t, 0),
            deduplicated=counted.deduplicated.get(t, 0),
        )
        for t in topics
    ]


def high_water(audit: pa.Table, quarantine: pa.Table) -> dict[TopicPartition, int]:
    """The highest offset per partition in the lake (the next refresh's settled offsets)."""
    both = pa.concat_tables([_coordinates(audit), _coordinates(quarantine)])
    if both.num_rows == 0:
        return {}
    grouped = both.group_by([TOPIC, PARTITION]).aggregate([(OFFSET, "max")])
    return {
        (t, p): o
        for t, p, o in zip(
            grouped[TOPIC].to_pylist(),
            grouped[PARTITION].to_pylist(),
            grouped[f"{OFFSET}_max"].to_pylist(),
            strict=True,
        )
    }


def _coordinates(rows: pa.Table) -> pa.Table:
    rows = rows.select([TOPIC, PARTITION, OFFSET])
    return rows.cast(_schema_of(rows))


class LakeReader:
    """The lake's coordinates, read incrementally: each refresh reads only data files it has not read before.

    The audit and quarantine tables are append-only, so a data file's rows never change; a file that leaves
    the table (compaction, expiry) is dropped from the cache and its rows come back in the files that
    replaced it. A table with delete files is read whole (nothing lakegate writes has them).
    """

    AUDIT_COLUMNS: tuple[str, ...] = ("lg_topic", "lg_partition", "lg_offset")
    QUARANTINE_COLUMNS: tuple[str, ...] = ("source_topic", "source_partition", "source_offset", "reason")

    def __init__(self, settings: Settings, contracts: Contracts) -> None:
        self._settings = settings
        self._contracts = contracts
        self._files: dict[str, pa.Table] = {}  # data file path → its normalised rows
        self.origins: dict[TopicPartition, int] = {}  # as of the last read

    def read(self) -> tuple[pa.Table, pa.Table]:
        """(audit coordinates of every contract's table, quarantine coordinates and reasons), normalised."""
        catalog = open_catalog(self._settings)
        names = [(audit_table_name(self._settings, c), self.AUDIT_COLUMNS, _AUDIT) for c in self._contracts]
        names.append((quarantine_table_name(self._settings), self.QUARANTINE_COLUMNS, _QUARANTINE))
        parts: dict[pa.Schema, list[pa.Table]] = {_AUDIT: [], _QUARANTINE: []}
        live: set[str] = set()
        for name, columns, schema in names:
            try:
                table = catalog.load_table(name)
            except NoSuchTableError:
                continue
            parts[schema] += self._rows(table, columns, schema, live)
            if schema is _QUARANTINE:
                self.origins = read_origins(table)
        self._files = {path: rows for path, rows in self._files.items() if path in live}
        audit, quarantine = (pa.concat_tables(parts[s]) if parts[s] else s.empty_table() for s in (_AUDIT, _QUARANTINE))
        return audit, quarantine

    def _rows(self, table: Table, columns: tuple[str, ...], schema: pa.Schema, live: set[str]) -> list[pa.Table]:
        tasks = list(table.scan(selected_fields=columns).plan_files())
        if any(task.delete_files for task in tasks):
            rows = table.scan(selected_fields=columns).to_arrow().select(list(columns))
            return [rows.rename_columns(schema.names).cast(schema)]
        out = []
        for task in tasks:
            path = task.file.file_path
            live.add(path)
            if path not in self._files:
                with table.io.new_input(path).open() as stream:
                    rows = pq.read_table(stream, columns=list(columns))
                self._files[path] = rows.select(list(columns)).rename_columns(schema.names).cast(schema)
            out.append(self._files[path])
        return out


def read_origins(table: Table) -> dict[TopicPartition, int]:
    """The origins recorded in the quarantine table's :data:`ORIGINS` property."""
    text = table.properties.get(ORIGINS)
    if not text:
        return {}
    return {(topic, int(p)): int(o) for topic, partitions in json.loads(text).items() for p, o in partitions.items()}


def read_lake(settings: Settings, contracts: Contracts) -> tuple[pa.Table, pa.Table]:
    """One full read (see :class:`LakeReader` for the incremental one)."""
    return LakeReader(settings, contracts).read()


_AUDIT = pa.schema([(TOPIC, pa.string()), (PARTITION, pa.int32()), (OFFSET, pa.int64())])
_QUARANTINE = _AUDIT.append(pa.field(REASON, pa.string()))
