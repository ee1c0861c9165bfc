"""Read models inside the ingest job: route (→ keyed by model key → ``read_models``) → model tables + changelogs.

``route`` turns each valid record of a contract with read models into one model event per model
(:func:`udfs.readmodels.prepare`: key, upsert or delete, PII-treated row, order). The state of the
ordering rule (:func:`udfs.readmodels.apply_current` / ``apply_aggregate``) lives in ``ValueState`` per
model key, and a change is emitted only when the model changes. Where that state lives:

* a current model keyed by its contract's ``key_field`` (:func:`udfs.readmodels.keyed_like_the_topic`)
  has route's own key, the Kafka key (the router checks they are equal): ``route`` applies it in place,
  one ``ValueState`` per model. No shuffle and no second Python operator: in thread mode every Python
  operator of a TaskManager shares one interpreter lock, and a second one more than halved the job's rate
  (bench/README.md);
* every other model: ``route`` emits the event on a side output, keyed by ``"<model>\\0<key>"`` on the
  JVM, and ``read_models`` applies it.

Either way the change goes

* to the model's Iceberg table (append-only change log, exactly-once on checkpoints like the audit log);
* to the model's compacted changelog topic, keyed by the model key, the row as JSON, a tombstone on
  delete (Kafka transactions committed on the same checkpoints).

Moving a model between the two (its key changed) starts its state afresh: rebuild its table with
``lakegate rebuild-model``. The watermark for late windowed aggregates is, per model, the highest event
time the operator instance has seen (not checkpointed: after a restart it starts again from the first event).
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

from jobs import rowbytes
from jobs.common import exactly_once_kafka_sink
from jobs.metrics import METRICS_FLUSH_MS, LabelledCounters
from jobs.runtime import worker_schemas_dir
from lakegate import readmodels
from lakegate.settings import Settings
from udfs.columns import Column, ColumnKind
from udfs.contract import Contract, Contracts, load_contracts
from udfs.readmodels import (
    AggregateModel,
    AggregateState,
    CurrentModel,
    CurrentState,
    ModelEvent,
    ReadModel,
    apply_aggregate,
    apply_current,
    change_json,
    change_values,
    event_from_json,
    event_to_json,
    key_text,
    keyed_like_the_topic,
    model_columns,
    prepare,
    state_from_json,
    state_to_json,
)
from udfs.router import Valid
from udfs.rowcodec import RowEncoder

MODEL_KEY = "model_key"
# Like route's input: the key first (the JVM keys by it), the value nested (the function receives only that).
MODEL_EVENT = Types.ROW_NAMED([MODEL_KEY, "event"], [Types.STRING(), Types.ROW_NAMED(["json"], [Types.STRING()])])
MODEL_EVENTS = OutputTag("model-events", MODEL_EVENT)
# Changelog records (a tombstone's value is null), from `route` (models applied there) and from `read_models`:
# one side output for both. Like the model-table rows, they cross to the JVM encoded (jobs/rowbytes.py).
CHANGELOG_COLUMNS = (
    Column("model", ColumnKind.string, False),
    Column("k", ColumnKind.bytes, False),
    Column("v", ColumnKind.bytes, True),
)
CHANGELOG_TAG = OutputTag("changelog", rowbytes.ROW_BYTES)


def model_tag(model: ReadModel) -> OutputTag:
    """The side output of a model's table rows, each encoded as one byte string (jobs/rowbytes.py)."""
    return OutputTag(f"read-model-{model.name}", rowbytes.ROW_BYTES)


def state_descriptor(name: str) -> ValueStateDescriptor:
    return ValueStateDescriptor(name, Types.STRING())


class ModelApplier:
    """Model events → per-key state (the ordering rule) → the changes, as side outputs: the model-table row
    and the changelog record. ``read_models`` applies every model it receives with one; ``route`` applies
    the models keyed like their topic with another (:func:`udfs.readmodels.keyed_like_the_topic`)."""

    def __init__(self, models: list[tuple[ReadModel, Contract]]) -> None:
        self._models = {m.name: m for m, _ in models}
        self._rows = {m.name: RowEncoder(model_columns(m, c)) for m, c in models}
        self._tags = {m.name: model_tag(m) for m, _ in models}
        self._changelog = RowEncoder(CHANGELOG_COLUMNS)
        self._watermarks: dict[str, int] = {}  # per model: one contract's traffic must not close another's windows
        # Counted here and handed to Flink's counters once a second (the function's timer): in thread mode each
        # counter call crosses into the JVM, as in jobs/metrics.py.
        self._unflushed: Counter[tuple[str, str]] = Counter()

    def apply(self, event: ModelEvent, state: Any) -> Iterator[tuple[OutputTag, bytes]]:
        """Apply ``event`` to ``state`` (the key's ``ValueState``); yields the change's outputs, if any."""
        model = self._models[event.model]
        watermark = self._watermarks[event.model] = max(self._watermarks.get(event.model, 0), event.event_time_ms)
        stored = state.value()
        previous = state_from_json(stored) if stored else None
        new_state: CurrentState | AggregateState | None
        if isinstance(model, CurrentModel):
            assert previous is None or isinstance(previous, CurrentState)
            new_state, change = apply_current(model, previous, event)
        else:
            assert isinstance(model, AggregateModel) and (previous is None or isinstance(previous, AggregateState))
            new_state, change = apply_aggregate(model, previous, event, watermark)
        if new_state is not None:
            state.update(state_to_json(new_state))
        if change is None:
            return
        self._unflushed[(change.model, change.op)] += 1
        rows = self._rows[change.model]
        yield self._tags[change.model], rows.encode(change_values(change, rows.columns))
        yield CHANGELOG_TAG, self._changelog.encode((change.model, key_text(change.key).encode(), change_json(change)))

    def flush(self, counters: LabelledCounters) -> None:
        for (model, op), count in self._unflushed.items():
            counters.counter(("model", model), ("op", op), name="changes").inc(count)
        self._unflushed.clear()


class ModelEvents:
    """Built in ``route``'s ``open()``: a valid record → its model events. Models keyed like their topic are
    applied right there, in ``route``'s keyed state (its key is theirs); the others leave on
    :data:`MODEL_EVENTS` for ``read_models``."""

    def __init__(self, contracts: Contracts, salt: bytes, runtime_context: Any) -> None:
        self._models = {c.name: (c, c.read_models) for c in contracts if c.read_models}
        self._salt = salt
        local = [(m, c) for c in contracts for m in c.read_models if keyed_like_the_topic(m, c)]
        self.applier = ModelApplier(local)
        self._states = {
            m.name: runtime_context.get_state(state_descriptor(f"read-model-state-{m.name}")) for m, _ in local
        }

    def of(self, valid: Valid) -> Iterator[tuple[OutputTag, Row | bytes]]:
        contract, models = self._models.get(valid.contract, (None, ()))
        for model in models:
            assert contract is not None
            event = prepare(model, contract, valid.payload, valid.envelope, self._salt)
            if event is None:
                continue
            state = self._states.get(model.name)
            if state is not None:
                yield from self.applier.apply(event, state)
            else:
                yield MODEL_EVENTS, Row(f"{model.name}\0{key_text(event.key)}", Row(event_to_json(event)))


class ReadModelFunction(KeyedProcessFunction):  # type: ignore[misc]  # pyflink is untyped
    """The models not keyed like their topic: keyed by ``"<model>\\0<key>"``, one ``ValueState`` per key."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, runtime_context: Any) -> None:
        contracts = load_contracts(worker_schemas_dir(self._settings))
        self._applier = ModelApplier(shuffled_models(contracts))
        self._state = runtime_context.get_state(state_descriptor("read-model-state"))
        self._changes = LabelledCounters(runtime_context.get_metrics_group().add_group("lakegate"))
        self._flush_armed = False

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        if not self._flush_armed:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + METRICS_FLUSH_MS)
            self._flush_armed = True
        yield from self._applier.apply(event_from_json(value[0]), self._state)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._applier.flush(self._changes)
        self._flush_armed = False
        yield from ()

    def close(self) -> None:  # pending processing-time timers do not fire at the end of input
        if hasattr(self, "_applier"):
            self._applier.flush(self._changes)


def shuffled_models(contracts: Contracts) -> list[tuple[ReadModel, Contract]]:
    """The models ``read_models`` keeps: those not keyed like their topic."""
    return [(m, c) for m, c in readmodels.all_models(contracts) if not keyed_like_the_topic(m, c)]


def _changelog_sink(settings: Settings, model: ReadModel) -> TableDescriptor:
    schema = Schema.new_builder().column("k", DataTypes.BYTES()).column("v", DataTypes.BYTES()).build()
    return exactly_once_kafka_sink(
        settings, schema, readmodels.changelog_topic(settings, model), f"{settings.job.name}-changelog-{model.name}"
    )


def add_read_models(
    *,
    t_env: StreamTableEnvironment,
    statements: StatementSet,
    iceberg: SqlCatalog,
    settings: Settings,
    contracts: Contracts,
    routed: DataStream,
    key_by: Any,
) -> None:
    """Wire the read-model operator (for the models ``route`` does not apply itself) and the sinks of every
    model after ``route`` (nothing when no contract declares one)."""
    models = readmodels.all_models(contracts)
    if not models:
        return
    source = {m.name: routed for m, c in models if keyed_like_the_topic(m, c)}  # the operator that applies it
    changelogs = [routed.get_side_output(CHANGELOG_TAG)] if source else []
    shuffled = shuffled_models(contracts)
    if shuffled:
        changes = (
            key_by(routed.get_side_output(MODEL_EVENTS))
            .process(ReadModelFunction(settings.without_secrets()), output_type=Types.STRING())  # side outputs only
            .name("read_models")
            .uid("read-models")
        )
        source.update({m.name: changes for m, _ in shuffled})
        changelogs.append(changes.get_side_output(CHANGELOG_TAG))
    both = changelogs[0].union(*changelogs[1:]) if len(changelogs) > 1 else changelogs[0]
    changelog = rowbytes.decoded_table(
        t_env, both, CHANGELOG_COLUMNS, None, name="changelog_rows", uid="changelog-rows"
    )
    for model, contract in models:
        name = readmodels.table_name(settings, model)
        layout = [f.name for f in iceberg.load_table(name).schema().fields]
        rows = rowbytes.decoded_table(
            t_env,
            source[model.name].get_side_output(model_tag(model)),
            model_columns(model, contract),
            layout,
            name=f"model_rows_{model.name}",
            uid=f"model-rows-{model.name}",
        )
        statements.add_insert(f"{settings.catalog.name}.{name}", rows)
        sink = f"changelog_{model.name}"
        t_env.create_temporary_table(sink, _changelog_sink(settings, model))
        statements.add_insert(sink, changelog.filter(col("model") == lit(model.name)).select(col("k"), col("v")))
