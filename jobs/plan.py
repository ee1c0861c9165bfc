"""The ingest job's plan: one JSON document both halves of the hot path read (docs/hotpath.md, "The plan").

Built once per job from the settings, the contracts and the Iceberg tables' current layouts; the Java
builders (``io.lakegate.flink.plan.Plan``) parse it, and the Python route keeps the same indexes. Every
decision that depends on a contract's content is written here as data (dedupe windows, field layouts,
which model values are PII-treated, measure functions), so the JVM side stays generic. No secret values:
the plan travels in the job graph.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from lakegate import catalog, kafka_clients, readmodels, resume
from lakegate.offsets import Offsets
from lakegate.settings import Settings
from udfs.columns import ColumnKind
from udfs.contract import Contract, Contracts
from udfs.envelope import ENVELOPE_COLUMNS
from udfs.quarantine import QUARANTINE_COLUMNS
from udfs.readmodels import MODEL_COLUMNS, WINDOW_START, AggregateModel, CurrentModel, ReadModel
from udfs.router import duplicate_message

FORMAT = 1
NO_WINDOW = -(2**63)  # Long.MIN_VALUE: a model event's window start when the model has no window
_KINDS: tuple[tuple[type[IcebergType], ColumnKind], ...] = (
    (StringType, ColumnKind.string),
    (BooleanType, ColumnKind.boolean),
    (IntegerType, ColumnKind.int),
    (LongType, ColumnKind.long),
    (FloatType, ColumnKind.float),
    (DoubleType, ColumnKind.double),
    (BinaryType, ColumnKind.bytes),
    (TimestamptzType, ColumnKind.timestamp_ms),
    (TimestampType, ColumnKind.timestamp_ms),
)
_AVRO_BASE = {"string", "boolean", "int", "long", "float", "double", "bytes", "enum"}
_TREATED = ("hash", "mask")


def build(
    settings: Settings,
    contracts: Contracts,
    iceberg: Catalog,
    start: Offsets | None = None,
    resume_section: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan for ``contracts`` (tables must exist: ``lakegate.provision`` creates them); ``resume_section``:
    what the sinks hold (:func:`lakegate.resume.plan_resume`; default: nothing is skipped)."""
    ordered = sorted(contracts, key=lambda c: c.name)
    topics = [c.topic for c in ordered]
    models = [(m, c) for c in ordered for m in c.read_models]
    return {
        "format": FORMAT,
        "job_name": settings.job.name,
        "batch": {
            "max_records": settings.job.batch_max_records,
            "max_bytes": settings.job.batch_max_bytes,
            "max_delay_ms": settings.job.batch_max_delay_ms,
        },
        "minibatch_ms": min(settings.readmodels.minibatch_ms, settings.job.checkpoint_interval_ms),
        "kafka": _kafka(settings, start),
        "catalog": _catalog(settings),
        "topics": topics,
        "contracts": [_contract(settings, c, topics.index(c.topic), iceberg) for c in ordered],
        "quarantine": {
            "table": catalog.quarantine_table_name(settings),
            "table_columns": table_columns(iceberg.load_table(catalog.quarantine_table_name(settings)).schema()),
            "encoded_columns": [_column(c.name, c.kind, c.nullable) for c in QUARANTINE_COLUMNS],
        },
        "models": [_model(settings, m, c, ordered.index(c), iceberg) for m, c in models],
        "resume": resume_section if resume_section is not None else resume.empty_section(settings),
    }


def to_json(plan: Mapping[str, Any]) -> str:
    return json.dumps(plan, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def _kafka(settings: Settings, start: Offsets | None) -> dict[str, Any]:
    startup = "group-offsets" if settings.job.start_from == "group-offsets" else "earliest"
    offsets = [
        {"topic": topic, "partition": partition, "offset": offset}
        for topic, partitions in sorted((start or {}).items())
        for partition, offset in sorted(partitions.items())
    ]
    return {
        "properties": {"bootstrap.servers": settings.kafka.bootstrap, **kafka_clients.java_properties(settings)},
        "group_id": settings.kafka.consumer_group,
        "startup": "specific" if start else startup,
        "start_offsets": offsets,
        "bounded": settings.job.drain,
        "dead_letter_topic": settings.kafka.dlq_topic,
        "transactional_id_prefix": settings.job.name,
        # Must not exceed the broker's transaction.max.timeout.ms (15 min by default); Flink's default is 1 h.
        "transaction_timeout_ms": 600_000,
    }


def _catalog(settings: Settings) -> dict[str, Any]:
    options = catalog.flink_catalog_options(settings)
    impl = options["catalog-impl"]
    properties = {k: v for k, v in options.items() if k not in ("type", "catalog-impl")}
    return {"name": settings.catalog.name, "impl": impl, "properties": properties}


def table_columns(schema: Schema) -> list[dict[str, Any]]:
    """An Iceberg table's columns in its own order, as plan columns (name, kind, nullable)."""
    return [_column(f.name, _kind(f.field_type, f.name), not f.required) for f in schema.fields]


def _kind(field_type: IcebergType, name: str) -> ColumnKind:
    for iceberg_type, kind in _KINDS:
        if isinstance(field_type, iceberg_type):
            return kind
    raise ValueError(f"column {name!r} has type {field_type}, which lakegate's tables never hold")


def _column(name: str, kind: ColumnKind, nullable: bool) -> dict[str, Any]:
    return {"name": name, "kind": kind.value, "nullable": nullable}


def _contract(settings: Settings, contract: Contract, topic_index: int, iceberg: Catalog) -> dict[str, Any]:
    table = catalog.audit_table_name(settings, contract)
    layout = table_columns(iceberg.load_table(table).schema())
    position = {c["name"]: i for i, c in enumerate(layout)}
    return {
        "name": contract.name,
        "topic_index": topic_index,
        "producer_team": contract.owner_team,
        "dedupe_window_ms": contract.dedupe_window_s * 1000,
        "event_id_field": contract.event_id_field,
        "duplicate_message": duplicate_message(contract),
        "audit_table": table,
        "table_columns": layout,
        "fields": [_field(f, position) for f in contract.reader_schema_json["fields"]],
        "envelope": {c.name: position[c.name] for c in ENVELOPE_COLUMNS},
    }


def _field(field: Mapping[str, Any], position: Mapping[str, int]) -> dict[str, Any]:
    """A reader-schema field: Avro base type, where "null" sits in its union, enum symbols, table position."""
    avro, null_branch = field["type"], None
    if isinstance(avro, list):
        null_branch = avro.index("null")
        avro = avro[1 - null_branch]
    base = avro.get("type") if isinstance(avro, Mapping) else avro
    if base not in _AVRO_BASE:
        raise ValueError(f"field {field['name']!r} has Avro type {avro!r}, which audit columns do not hold")
    return {
        "name": field["name"],
        "avro": base,
        "null_branch": null_branch,
        "symbols": list(avro["symbols"]) if base == "enum" else None,
        "column": position[field["name"]],
    }


def treated_fields(model: ReadModel, contract: Contract) -> list[str]:
    """The model's fields whose values Python sends PII-treated (hash or mask), in the order it sends them."""
    if isinstance(model, CurrentModel):
        names: Sequence[str] = (*model.key, *model.fields)
    else:
        names = (*model.group_by, *(m.field for m in model.measures if m.field is not None))
    return list(dict.fromkeys(n for n in names if contract.pii.get(n) in _TREATED))


def _model(
    settings: Settings, model: ReadModel, contract: Contract, contract_index: int, iceberg: Catalog
) -> dict[str, Any]:
    table = readmodels.table_name(settings, model)
    layout = table_columns(iceberg.load_table(table).schema())
    fields = [f["name"] for f in contract.reader_schema_json["fields"]]
    treated = treated_fields(model, contract)
    measures = [] if isinstance(model, CurrentModel) else list(model.measures)
    kinds = {c["name"]: c["kind"] for c in layout}

    def source(name: str) -> dict[str, Any]:
        column: dict[str, Any] = {"name": name, "kind": kinds[name], "field": None, "treated": None, "measure": None}
        if name in {c.name for c in MODEL_COLUMNS}:
            return {**column, "source": name}
        if name == WINDOW_START and isinstance(model, AggregateModel) and model.window is not None:
            return {**column, "source": "window_start"}
        measure = next((i for i, m in enumerate(measures) if m.name == name), None)
        if measure is not None:
            return {**column, "source": "measure", "measure": measure}
        if name in treated:
            return {**column, "source": "treated", "treated": treated.index(name)}
        return {**column, "source": "field", "field": fields.index(name)}

    columns = [source(c["name"]) for c in layout]
    by_name = {c["name"]: i for i, c in enumerate(columns)}
    if isinstance(model, CurrentModel):
        key_names: list[str] = list(model.key)
        json_names: list[str] = [*model.key, *model.fields]
        window = None
    else:
        key_names = [*model.group_by, *([WINDOW_START] if model.window else [])]
        json_names = [*key_names, *(m.name for m in measures)]
        window = model.window and {
            "size_ms": model.window.size_ms,
            "allowed_lateness_ms": model.window.allowed_lateness_ms,
        }
    return {
        "name": model.name,
        "kind": "current" if isinstance(model, CurrentModel) else "aggregate",
        "contract_index": contract_index,
        "table": table,
        "changelog_topic": readmodels.changelog_topic(settings, model),
        "table_columns": layout,
        "treated": treated,
        "columns": columns,
        "key": [by_name[n] for n in key_names],
        "json": [by_name[n] for n in json_names],
        "window": window,
        "measures": [
            {
                "name": m.name,
                "fn": m.fn,
                "field": None if m.field is None or m.field in treated else fields.index(m.field),
                "treated": treated.index(m.field) if m.field in treated else None,
                "kind": kinds[m.name],
            }
            for m in measures
        ],
    }
