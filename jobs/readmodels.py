"""Read models inside the ingest job: route → keyed by model key → ``read_models`` → model tables + changelogs.

``route`` turns each valid record of a contract with read models into one model event per model
(:func:`udfs.readmodels.prepare`: key, upsert or delete, PII-treated row, order) on a side output. Keyed
by ``"<model>\\0<key>"`` on the JVM, ``read_models`` keeps per key the state of the ordering rule
(:func:`udfs.readmodels.apply_current` / ``apply_aggregate``) in ``ValueState`` and emits a change only
when the model changes:

* to the model's Iceberg table (append-only change log, exactly-once on checkpoints like the audit log);
* to the model's compacted changelog topic, keyed by the model key, the row as JSON, a tombstone on
  delete (Kafka transactions committed on the same checkpoints).

The watermark for late windowed aggregates is, per model, the highest event time this operator instance
has seen (not checkpointed: after a restart it starts again from the first event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedProcessFunction, OutputTag
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import DataTypes, Schema, StatementSet, StreamTableEnvironment, TableDescriptor
from pyflink.table.expressions import col, lit
from pyiceberg.catalog.sql import SqlCatalog

from jobs import flink_types
from jobs.common import exactly_once_kafka_sink
from jobs.metrics import METRICS_FLUSH_MS, LabelledCounters
from jobs.runtime import worker_schemas_dir
from lakegate import readmodels
from lakegate.settings import Settings
from udfs.contract import Contract, Contracts, load_contracts
from udfs.readmodels import (
    AggregateModel,
    AggregateState,
    CurrentModel,
    CurrentState,
    ReadModel,
    apply_aggregate,
    apply_current,
    change_json,
    change_values,
    event_from_json,
    event_to_json,
    key_text,
    model_columns,
    prepare,
    state_from_json,
    state_to_json,
)
from udfs.router import Valid

MODEL_KEY = "model_key"
# Like route's input: the key first (the JVM keys by it), the value nested (the function receives only that).
MODEL_EVENT = Types.ROW_NAMED([MODEL_KEY, "event"], [Types.STRING(), Types.ROW_NAMED(["json"], [Types.STRING()])])
MODEL_EVENTS = OutputTag("model-events", MODEL_EVENT)
CHANGELOG = Types.ROW_NAMED(["model", "k", "v"], [Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()),
                                                  Types.PRIMITIVE_ARRAY(Types.BYTE())])


def model_tag(model: ReadModel, contract: Contract) -> OutputTag:
    return OutputTag(f"read-model-{model.name}", flink_types.row_type(model_columns(model, contract)))


class ModelEvents:
    """Built in ``route``'s ``open()``: a valid record → its model events (side output rows)."""

    def __init__(self, contracts: Contracts, salt: bytes) -> None:
        self._models = {c.name: (c, c.read_models) for c in contracts if c.read_models}
        self._salt = salt

    def __bool__(self) -> bool:
        return bool(self._models)

    def of(self, valid: Valid) -> Iterator[tuple[OutputTag, Row]]:
        contract, models = self._models.get(valid.contract, (None, ()))
        for model in models:
            assert contract is not None
            event = prepare(model, contract, valid.payload, valid.envelope, self._salt)
            if event is not None:
                yield MODEL_EVENTS, Row(f"{model.name}\0{key_text(event.key)}", Row(event_to_json(event)))


class ReadModelFunction(KeyedProcessFunction):  # type: ignore[misc]  # pyflink is untyped
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, runtime_context: Any) -> None:
        contracts = load_contracts(worker_schemas_dir(self._settings))
        self._models = {m.name: (m, c) for c in contracts for m in c.read_models}
        self._columns = {name: model_columns(m, c) for name, (m, c) in self._models.items()}
        self._tags = {name: model_tag(m, c) for name, (m, c) in self._models.items()}
        self._state = runtime_context.get_state(ValueStateDescriptor("read-model-state", Types.STRING()))
        self._watermarks: dict[str, int] = {}  # per model: one contract's traffic must not close another's windows
        self._changes = LabelledCounters(runtime_context.get_metrics_group().add_group("lakegate"))
        # Counted here and handed to Flink's counters once a second (a timer): in thread mode each counter
        # call crosses into the JVM, as in jobs/metrics.py.
        self._unflushed: Counter[tuple[str, str]] = Counter()

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        event = event_from_json(value[0])
        model, _ = self._models[event.model]
        watermark = self._watermarks[event.model] = max(self._watermarks.get(event.model, 0), event.event_time_ms)
        stored = self._state.value()
        previous = state_from_json(stored) if stored else None
        state: CurrentState | AggregateState | None
        if isinstance(model, CurrentModel):
            assert previous is None or isinstance(previous, CurrentState)
            state, change = apply_current(model, previous, event)
        else:
            assert isinstance(model, AggregateModel) and (previous is None or isinstance(previous, AggregateState))
            state, change = apply_aggregate(model, previous, event, watermark)
        if state is not None:
            self._state.update(state_to_json(state))
        if change is None:
            return
        if not self._unflushed:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + METRICS_FLUSH_MS)
        self._unflushed[(change.model, change.op)] += 1
        yield self._tags[change.model], Row(*change_values(change, self._columns[change.model]))
        yield Row(change.model, key_text(change.key).encode(), change_json(change))

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._flush()
        yield from ()

    def close(self) -> None:  # pending processing-time timers do not fire at the end of input
        if hasattr(self, "_unflushed"):
            self._flush()

    def _flush(self) -> None:
        for (model, op), count in self._unflushed.items():
            self._changes.counter(("model", model), ("op", op), name="changes").inc(count)
        self._unflushed.clear()


def _changelog_sink(settings: Settings, model: ReadModel) -> TableDescriptor:
    schema = Schema.new_builder().column("k", DataTypes.BYTES()).column("v", DataTypes.BYTES()).build()
    return exactly_once_kafka_sink(settings, schema, readmodels.changelog_topic(settings, model),
                                  f"{settings.job_name}-changelog-{model.name}")


def add_read_models(*, t_env: StreamTableEnvironment, statements: StatementSet, iceberg: SqlCatalog,
                    settings: Settings, contracts: Contracts, routed: DataStream,
                    key_by: Any) -> None:
    """Wire the read-model operator and its sinks after ``route`` (nothing when no contract declares one)."""
    models = readmodels.all_models(contracts)
    if not models:
        return
    changes = (
        key_by(routed.get_side_output(MODEL_EVENTS))
        .process(ReadModelFunction(settings.without_secrets()), output_type=CHANGELOG)
        .name("read_models")
        .uid("read-models")
    )
    changelog = t_env.from_data_stream(changes)
    for model, contract in models:
        columns = model_columns(model, contract)
        side = changes.get_side_output(model_tag(model, contract))
        table = t_env.from_data_stream(side, flink_types.stream_schema(columns))
        name = readmodels.table_name(settings, model)
        layout = [f.name for f in iceberg.load_table(name).schema().fields]
        statements.add_insert(f"{settings.catalog_name}.{name}",
                              table.select(*flink_types.sink_projection(columns, layout)))
        sink = f"changelog_{model.name}"
        t_env.create_temporary_table(sink, _changelog_sink(settings, model))
        statements.add_insert(sink, changelog.filter(col("model") == lit(model.name)).select(col("k"), col("v")))
