"""Read models outside the job: their tables and topics, reading the current state, the pieces of a rebuild
(the rebuild itself is the job jobs/rebuild_model.py, which `lakegate readmodels rebuild` starts).

Invariant: a model's Iceberg table is an append-only change log (one row per change the model emitted,
``lg_op`` upsert | delete, plus where it came from), and its current state is a view over it: per key, the
change with the greatest ``(lg_order, lg_partition, lg_offset)`` (current models) or ``lg_version``
(aggregates), unless it is a delete. :func:`current` computes that view with Arrow. docs/readmodels.md says
why a change log and not an upsert table ("Storage choice") and gives the same view in SQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from lakegate.catalog import (
    WRITE_PROPERTIES,
    audit_table_name,
    ensure_namespace,
    follow_renames,
    iceberg_schema,
    open_catalog,
    with_write_properties,
)
from lakegate.errors import LakegateError
from lakegate.logs import kv
from lakegate.settings import Settings
from udfs.columns import epoch_millis, payload_columns
from udfs.contract import Contract, Contracts
from udfs.envelope import Envelope
from udfs.readmodels import (
    AggregateState,
    Change,
    CurrentModel,
    CurrentState,
    ReadModel,
    apply_aggregate,
    apply_current,
    model_columns,
    prepare,
)

log = logging.getLogger(__name__)

METADATA = ("lg_op", "lg_order", "lg_partition", "lg_offset", "lg_event_time", "lg_topic", "lg_version")
UPSERT, DELETE = "upsert", "delete"
SHADOW_SUFFIX = "__rebuild"


class ReadModelError(LakegateError):
    """A read model is unknown, has no table yet, or its table does not match its declaration."""


def all_models(contracts: Contracts) -> list[tuple[ReadModel, Contract]]:
    return [(m, c) for c in contracts for m in c.read_models]


def find(contracts: Contracts, name: str) -> tuple[ReadModel, Contract]:
    for model, contract in all_models(contracts):
        if model.name == name:
            return model, contract
    known = ", ".join(m.name for m, _ in all_models(contracts)) or "none"
    raise ReadModelError(f"no read model named {name!r} in the contracts; known: {known}")


def table_name(settings: Settings, model: ReadModel, *, shadow: bool = False) -> str:
    return f"{settings.readmodels.namespace}.{model.name}{SHADOW_SUFFIX if shadow else ''}"


def changelog_topic(settings: Settings, model: ReadModel) -> str:
    return f"{settings.readmodels.changelog_topic_prefix}{model.name}"


def key_columns(model: ReadModel) -> list[str]:
    if isinstance(model, CurrentModel):
        return list(model.key)
    return list(model.group_by) + (["window_start"] if model.window else [])


def ensure_table(
    catalog: Catalog, settings: Settings, model: ReadModel, contract: Contract, *, shadow: bool = False
) -> Table:
    """Create the model's table if missing; a table whose columns differ is an error (rebuild it)."""
    ensure_namespace(catalog, settings.readmodels.namespace)
    name = table_name(settings, model, shadow=shadow)
    columns = model_columns(model, contract)
    try:
        table = catalog.load_table(name)
    except NoSuchTableError:
        return catalog.create_table(
            name,
            schema=iceberg_schema(columns),
            properties={
                **WRITE_PROPERTIES,
                "lakegate.contract": contract.name,
                "lakegate.read-model": model.name,
                "comment": f"Read model {model.name} of contract {contract.name}: append-only change log; "
                "current state = latest change per key unless a delete.",
            },
        )
    table, _ = follow_renames(catalog, with_write_properties(table), contract.renames)
    have = sorted((f.name, str(f.field_type)) for f in table.schema().fields)
    want = sorted((f.name, str(f.field_type)) for f in iceberg_schema(columns).fields)
    if have != want:
        raise ReadModelError(
            f"table {name} has columns {have}, the declaration of {model.name} needs {want}; its declaration "
            f"changed: `lakegate readmodels rebuild {model.name} --swap` (with the job stopped) replaces it"
        )
    return table


# ---- reading -------------------------------------------------------------------------------------------
def current(rows: pa.Table, model: ReadModel) -> pa.Table:
    """The current state from a model's change log: latest change per key, deletes removed."""
    if rows.num_rows == 0:
        return rows
    keys = key_columns(model)
    ranked = rows.append_column("_row", pa.array(range(rows.num_rows), pa.int64()))
    ordering = ["lg_order", "lg_partition", "lg_offset"] if isinstance(model, CurrentModel) else ["lg_version"]
    # Sort by key then ordering; the last row of each key group is the latest change.
    ranked = ranked.sort_by([(k, "ascending") for k in keys] + [(o, "ascending") for o in ordering])
    last = ranked.group_by(keys, use_threads=False).aggregate([("_row", "last")])
    latest = ranked.join(last.select(["_row_last"]), keys=["_row"], right_keys=["_row_last"], join_type="inner")
    latest = latest.filter(pc.equal(latest["lg_op"], UPSERT)).drop_columns(["_row"])
    return latest.select(rows.column_names).sort_by([(k, "ascending") for k in keys])


def read_log(settings: Settings, model: ReadModel, *, shadow: bool = False) -> pa.Table:
    try:
        table = open_catalog(settings).load_table(table_name(settings, model, shadow=shadow))
    except NoSuchTableError:
        raise ReadModelError(f"read model {model.name} has no table yet: run the ingest job") from None
    return table.scan().to_arrow()


def select_key(rows: pa.Table, model: ReadModel, key: str) -> pa.Table:
    """Rows whose key prints as ``key``: comma-separated values, or a JSON array when a value has a comma;
    each compared with the value as `show` prints it (``str``: timestamps like 2026-11-21 10:00:00+00:00)."""
    names = key_columns(model)
    values = [str(v) for v in json.loads(key)] if key.startswith("[") else key.split(",")
    if len(values) != len(names):
        raise ReadModelError(
            f"{model.name} is keyed by {', '.join(names)}: give {len(names)} values, "
            'comma-separated or as a JSON array (["a,b", 1])'
        )
    keys = zip(*(rows[name].to_pylist() for name in names), strict=True)
    mask = pa.array([[str(v) for v in k] == values for k in keys], pa.bool_())
    return rows.filter(mask)


# ---- rebuilding ------------------------------------------------------------------------------------------
def audit_records(settings: Settings, contract: Contract) -> list[tuple[dict[str, object], Envelope]]:
    """The contract's audit log as (payload, envelope) pairs, in the order the job routed them."""
    table = open_catalog(settings).load_table(audit_table_name(settings, contract))
    rows = (
        table.scan()
        .to_arrow()
        .sort_by([("lg_ingest_time", "ascending"), ("lg_partition", "ascending"), ("lg_offset", "ascending")])
    )
    names = [c.name for c in payload_columns(contract.reader_schema_json)]
    out = []
    for row in rows.to_pylist():
        payload = {n: row.get(n) for n in names}
        out.append(
            (
                payload,
                Envelope(
                    event_id=str(row[contract.event_id_field]),
                    event_time_ms=epoch_millis(row[contract.event_time_field]),
                    ingest_time_ms=epoch_millis(row["lg_ingest_time"]),
                    topic=row["lg_topic"],
                    partition=row["lg_partition"],
                    offset=row["lg_offset"],
                    schema_id=row["lg_schema_id"],
                    schema_version=row["lg_schema_version"],
                    producer_team=row["lg_producer_team"],
                ),
            )
        )
    return out


def replay_changes(
    model: ReadModel, contract: Contract, records: Iterable[tuple[dict[str, object], Envelope]], salt: bytes
) -> list[Change]:
    """The last change per key of the whole model, computed from scratch with the job's own functions."""
    current_states: dict[object, CurrentState] = {}
    aggregate_states: dict[object, AggregateState] = {}
    last: dict[object, Change] = {}
    watermark = 0
    for payload, envelope in records:
        event = prepare(model, contract, payload, envelope, salt)
        if event is None:
            continue
        watermark = max(watermark, event.event_time_ms)
        if isinstance(model, CurrentModel):
            current_states[event.key], change = apply_current(model, current_states.get(event.key), event)
        else:
            state, change = apply_aggregate(model, aggregate_states.get(event.key), event, watermark)
            if state is not None:
                aggregate_states[event.key] = state
        if change is not None:
            last[event.key] = change
    return list(last.values())


@dataclass(slots=True)
class Diff:
    only_live: list[dict[str, object]] = field(default_factory=list)
    only_rebuilt: list[dict[str, object]] = field(default_factory=list)
    different: list[tuple[dict[str, object], dict[str, object]]] = field(default_factory=list)
    same: int = 0

    @property
    def identical(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.different)


def diff(live: pa.Table, rebuilt: pa.Table, model: ReadModel) -> Diff:
    """Compare two current states key by key, on what the ordering rule makes deterministic.

    Current models: every column but ``lg_version`` (the number of changes depends on arrival order).
    Aggregates: the group and its measures; which event came last (the other ``lg_`` columns) depends on
    arrival order within a millisecond.
    """
    keys = key_columns(model)
    ignore = {"lg_version"} if isinstance(model, CurrentModel) else {c for c in METADATA if c != "lg_op"}

    def by_key(rows: pa.Table) -> dict[tuple[object, ...], dict[str, object]]:
        return {tuple(r[k] for k in keys): {n: v for n, v in r.items() if n not in ignore} for r in rows.to_pylist()}

    a, b = by_key(live), by_key(rebuilt)
    out = Diff()
    for key in sorted(set(a) | set(b), key=repr):
        if key not in b:
            out.only_live.append(a[key])
        elif key not in a:
            out.only_rebuilt.append(b[key])
        elif a[key] != b[key]:
            out.different.append((a[key], b[key]))
        else:
            out.same += 1
    return out


def swap(settings: Settings, model: ReadModel) -> str:
    """Make the rebuilt (shadow) table the live one; the old one is kept as ``<name>__replaced``."""
    catalog = open_catalog(settings)
    live, shadow = table_name(settings, model), table_name(settings, model, shadow=True)
    replaced = f"{live}__replaced"
    with contextlib.suppress(NoSuchTableError):
        catalog.drop_table(replaced)
    # Two renames, not atomic: between them the live name is free (the job is stopped: jobs/rebuild_model.py).
    with contextlib.suppress(NoSuchTableError):
        catalog.rename_table(live, replaced)
    catalog.rename_table(shadow, live)
    log.info("read model swapped", extra=kv(model=model.name, live=live, replaced=replaced))
    return replaced


def model_logs(settings: Settings, contracts: Contracts) -> Iterator[tuple[ReadModel, pa.Table]]:
    """Every model's change log that has rows, one table in memory at a time (a fresh start reads them once:
    lakegate/resume.py)."""
    iceberg = open_catalog(settings)
    for model, _ in all_models(contracts):
        try:
            rows = iceberg.load_table(table_name(settings, model)).scan().to_arrow()
        except NoSuchTableError:
            continue
        if rows.num_rows:
            yield model, rows


def read_log_or_empty(settings: Settings, model: ReadModel) -> pa.Table:
    """The model's change log, or an empty table when the model has no table yet."""
    try:
        return read_log(settings, model)
    except ReadModelError:
        return pa.table({})
