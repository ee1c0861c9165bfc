"""Replay quarantine: re-validate quarantined records against today's contracts (after a fix) and select
the ones that now pass, for the replay job to write into the audit log under their original coordinates.

Idempotent by construction: a quarantined record whose (topic, partition, offset) is already in an audit
table is never selected again, so replaying twice adds nothing. Nor is one whose event id is already
audited for its contract: a quarantined duplicate (`duplicate_event_id`) passes every contract check on
its own, yet its original is in the audit log, and an event must never be audited twice.

The quarantine table itself is immutable (an audit trail of what was rejected and why); a replayed record
is recognised by its coordinates being in the audit log — see :func:`effective_quarantine`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.exceptions import NoSuchTableError

from lakegate.catalog import audit_table_name, open_catalog, quarantine_table_name
from lakegate.settings import Settings
from udfs.columns import epoch_millis
from udfs.contract import Contracts
from udfs.registry import SchemaSource
from udfs.router import Quarantined, RawRecord, Router, Valid

Coordinate = tuple[str, int, int]


@dataclass(slots=True)
class ReplayPlan:
    considered: int = 0  # quarantine rows matching the filters
    already_audited: int = 0  # replayed earlier: skipped
    event_already_audited: int = 0  # passes now, but its event id is in the audit log (e.g. a duplicate)
    passing: list[RawRecord] = field(default_factory=list)  # pass today's contracts: to be audited
    still_failing: Counter[str] = field(default_factory=Counter)  # reason today → count


@dataclass(slots=True)
class Audited:
    coordinates: set[Coordinate] = field(default_factory=set)
    event_ids: set[tuple[str, str]] = field(default_factory=set)  # (contract, event id)


def audited(settings: Settings, contracts: Contracts) -> Audited:
    catalog = open_catalog(settings)
    out = Audited()
    for contract in contracts:
        try:
            table = catalog.load_table(audit_table_name(settings, contract))
        except NoSuchTableError:
            continue
        columns = ("lg_topic", "lg_partition", "lg_offset", contract.event_id_field)
        rows = table.scan(selected_fields=columns).to_arrow()
        out.coordinates.update(zip(*(rows.column(c).to_pylist() for c in columns[:3]), strict=True))
        out.event_ids.update((contract.name, e) for e in rows.column(contract.event_id_field).to_pylist())
    return out


def read_quarantine_rows(settings: Settings) -> pa.Table:
    try:
        table = open_catalog(settings).load_table(quarantine_table_name(settings))
    except NoSuchTableError:
        return pa.table({})
    return table.scan().to_arrow()


def plan(
    rows: Iterable[dict[str, object]],
    done: Audited,
    router: Router,
    *,
    reasons: Sequence[str] = (),
    contracts: Sequence[str] = (),
) -> ReplayPlan:
    """Decide, per quarantined row matching the filters, whether it now passes (pure: testable alone)."""
    result = ReplayPlan()
    for row in rows:
        if (reasons and row["reason"] not in reasons) or (contracts and row["contract"] not in contracts):
            continue
        result.considered += 1
        raw = RawRecord(
            topic=str(row["source_topic"]),
            partition=int(row["source_partition"]),  # type: ignore[call-overload]
            offset=int(row["source_offset"]),  # type: ignore[call-overload]
            timestamp_ms=_timestamp_ms(row["source_timestamp"]),
            key=row["original_key"],  # type: ignore[arg-type]
            value=row["original_value"],  # type: ignore[arg-type]
        )
        if (raw.topic, raw.partition, raw.offset) in done.coordinates:
            result.already_audited += 1
            continue
        outcome: Valid | Quarantined = router.route(raw)
        if isinstance(outcome, Valid) and (outcome.contract, outcome.envelope.event_id) in done.event_ids:
            result.event_already_audited += 1
        elif isinstance(outcome, Valid):
            done.event_ids.add((outcome.contract, outcome.envelope.event_id))  # two copies in quarantine
            result.passing.append(raw)
        else:
            result.still_failing[str(outcome.reason)] += 1
    return result


def prepare(
    settings: Settings,
    contracts: Contracts,
    schemas: SchemaSource,
    *,
    reasons: Sequence[str] = (),
    only: Sequence[str] = (),
) -> ReplayPlan:
    rows = read_quarantine_rows(settings).to_pylist()
    return plan(
        rows,
        audited(settings, contracts),
        Router(contracts, schemas, strict_indexes=True),
        reasons=reasons,
        contracts=only,
    )


def effective_quarantine(quarantine: Iterable[Coordinate], audited: set[Coordinate]) -> set[Coordinate]:
    """Quarantined records not replayed into the audit log since."""
    return {c for c in quarantine if c not in audited}


def _timestamp_ms(value: object) -> int:
    """A quarantine row's source timestamp (None when Kafka gave none) as the record's epoch millis."""
    if value is None:
        return 0
    assert isinstance(value, (int, dt.datetime)), value
    return epoch_millis(value)
