"""The ingest job: Kafka → decode and check each record against its contract → Iceberg audit log | quarantine.

Data flow::

    Kafka source per contract topic, unioned (raw key/value bytes + topic, partition, offset, timestamp;
    Table API, no decoding; started after the lake's last offsets, see lakegate/offsets.py)
      → keyed by the Kafka key (on the JVM: no Python key selector)
      → route (Python: udfs.router.Router — framing, registry lookup, decode, envelope, key checks —
               then dedupe: a valid record whose event id its contract already accepted within
               dedupe_window_s is quarantined as duplicate_event_id; keyed MapState with TTL)
          ├─ side output per contract: the audit row as one Avro byte string (jobs/rowbytes.py)
          │    → decoded on the JVM, in a chain of its own → Iceberg table <audit_namespace>.<contract>
          ├─ read models (jobs/readmodels.py): applied in route when keyed like their topic, else
          │    side output → keyed by model key → read_models; then model tables and changelog topics
          └─ main output (quarantine)  ├→ dead-letter topic: original key and value bytes unchanged,
                                       │  reason and source coordinates in headers
                                       └→ Iceberg table <quarantine_namespace>.records (same facts, typed)

Exactly-once: the Iceberg sink commits on checkpoints and the dead-letter sink writes in Kafka
transactions committed on the same checkpoints; offsets come back from checkpoint state on restart.
A registry outage raises out of ``route`` (never quarantines): the task fails and Flink restarts it.

Dedupe: duplicates of an event (a producer retry) carry the same Kafka key, so keying by the key brings
them to the same keyed state. ``route`` keeps one ``MapState[event id, True]`` per contract with
``dedupe_window_s > 0``, with a processing-time TTL of that window per entry (set when the id is first
accepted, never extended). The state lives in checkpoints: a job restored from a checkpoint or savepoint
remembers the ids, a job started fresh (e.g. ``lakegate run ingest --drain`` again) does not.

Operator identity: ``route`` has an explicit name and uid; the table-side operators (Kafka source, the
sinks) get deterministic uids from ``table.exec.uid.generation=ALWAYS`` (see jobs/runtime.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pyflink.common import Row, Types
from pyflink.common.time import Time
from pyflink.datastream import (
    DataStream,
    KeyedProcessFunction,
    KeyedStream,
    StreamExecutionEnvironment,
)
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table, TableDescriptor
from pyflink.table.expressions import col, row

from jobs import flink_types
from jobs.common import (
    AuditRouting,
    add_audit_insert,
    exactly_once_kafka_sink,
    optional_bytes,
    register_catalog,
    with_client_security,
)
from jobs.metrics import METRICS_FLUSH_MS, LabelledCounters, RouteMetrics
from jobs.readmodels import ModelEvents, add_read_models
from jobs.runtime import stream_environment
from lakegate import catalog
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_ingest_options
from lakegate.logs import kv
from lakegate.observe import exporter
from lakegate.observe.catalogue import AUDITED, DEDUPLICATED, QUARANTINED_OUTCOME
from lakegate.offsets import Offsets, lake_offsets, specific_offsets_option
from lakegate.provision import provision
from lakegate.settings import Settings
from udfs.contract import Contract, Contracts, load_contracts
from udfs.quarantine import QUARANTINE_COLUMNS, quarantine_values
from udfs.reasons import Reason
from udfs.router import Quarantined, RawRecord, Valid, duplicate, now_ms, quarantine_headers

log = logging.getLogger("lakegate.jobs.ingest")

SOURCE_TABLE = "kafka_source"
DLQ_TABLE = "dead_letter"
# The quarantine stream: the quarantine table's columns, plus the dead-letter headers.
HEADERS = "headers"
QUARANTINE_ROW = Types.ROW_NAMED(
    [c.name for c in QUARANTINE_COLUMNS] + [HEADERS],
    [flink_types.type_info(c) for c in QUARANTINE_COLUMNS]
    + [Types.MAP(Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()))],
)

# The stream `route` reads: the Kafka key first (Flink keys by it), then the record's fields, nested.
ROUTE_KEY = "route_key"
RECORD = "record"
RECORD_FIELDS = ("k", "v", "topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
# A RowTypeInfo, as PyFlink's keyed operators need (to_data_stream's ExternalTypeInfo makes them fail at
# open with a ClassCastException); TIMESTAMP_LTZ arrives as an Instant, see flink_types.epoch_millis.
ROUTE_INPUT = Types.ROW_NAMED(
    [ROUTE_KEY, RECORD],
    [
        Types.STRING(),
        Types.ROW_NAMED(
            list(RECORD_FIELDS),
            [
                Types.PRIMITIVE_ARRAY(Types.BYTE()),
                Types.PRIMITIVE_ARRAY(Types.BYTE()),
                Types.STRING(),
                Types.INT(),
                Types.LONG(),
                Types.INSTANT(),
            ],
        ),
    ],
)


def seen_ids_descriptor(contract: Contract) -> MapStateDescriptor:
    """Event ids the contract accepted, each forgotten ``dedupe_window_s`` after it was first accepted."""
    ttl = (
        StateTtlConfig.new_builder(Time.seconds(contract.dedupe_window_s))
        .set_ttl_time_characteristic(StateTtlConfig.TtlTimeCharacteristic.ProcessingTime)
        .update_ttl_on_create_and_write()  # a duplicate does not extend the window: it is never written
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        # Explicit cleanup: PyFlink's default background cleanup builds a java Duration when the task opens
        # its state, which in thread mode on a session cluster has no gateway to build it with
        # (FileNotFoundError from launch_gateway). Incremental cleanup fits the heap state backend anyway.
        # One key per state access, not 10 as before: each key checked copies its whole map, inside the
        # Python operator's call into the JVM, and 10 cost a quarter of the job's rate (bench/README.md).
        # Expired ids are never returned either way; this only decides how soon their memory comes back.
        .disable_cleanup_in_background()
        .cleanup_incrementally(1, False)
        .build()
    )
    descriptor = MapStateDescriptor(f"seen-event-ids-{contract.name}", Types.STRING(), Types.BOOLEAN())
    descriptor.enable_time_to_live(ttl)
    return descriptor


class RouteFunction(KeyedProcessFunction):  # type: ignore[misc]  # pyflink is untyped
    """Routes each raw Kafka record: valid → its contract's side output, invalid or duplicate → main output.

    Runs keyed by the Kafka key: the event ids seen are keyed state (one MapState per contract that
    dedupes), so a retry, which carries the same key, meets the ids of its first occurrence.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._routing: AuditRouting | None = None

    def open(self, runtime_context: Any) -> None:
        settings = self._settings.with_worker_secrets()  # the pickled copy carries none
        self._routing = AuditRouting(settings)
        self._job = self._settings.job.name
        self._dedupe = {
            c.name: (c, runtime_context.get_map_state(seen_ids_descriptor(c)))
            for c in self._routing.contracts
            if c.dedupe_window_s > 0
        }
        self._metrics = RouteMetrics(runtime_context.get_metrics_group())
        self._flush_armed = False
        self._model_events = ModelEvents(
            self._routing.contracts, settings.job.pii_salt.reveal().encode(), runtime_context
        )
        self._model_changes = LabelledCounters(runtime_context.get_metrics_group().add_group("lakegate"))

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        assert self._routing is not None
        # The nested record row, by position (Flink hands the keyed function the value without the key).
        k, v, topic, partition, offset, timestamp = (value[i] for i in range(len(RECORD_FIELDS)))
        raw = RawRecord(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=flink_types.epoch_millis(timestamp),
            key=optional_bytes(k),
            value=optional_bytes(v),
        )
        started = time.perf_counter()
        result: Valid | Quarantined = self._routing.router.route(raw)
        route_seconds = time.perf_counter() - started
        version = result.envelope.schema_version if isinstance(result, Valid) else None
        if isinstance(result, Valid) and result.contract in self._dedupe:
            contract, seen = self._dedupe[result.contract]
            # Only valid records mark an id as seen: a quarantined one never reached the audit log.
            if seen.contains(result.envelope.event_id):
                result = duplicate(raw, result, contract)
            else:
                seen.put(result.envelope.event_id, True)
        self._observe(result, topic, version, route_seconds, ctx)
        if isinstance(result, Quarantined):
            headers = dict(quarantine_headers(result, self._job))
            yield Row(*quarantine_values(result, self._job, now_ms()), headers)
        else:
            yield self._routing.audit_output(result)
            yield from self._model_events.of(result)

    def _observe(
        self, result: Valid | Quarantined, topic: str, version: int | None, route_seconds: float, ctx: Any
    ) -> None:
        if isinstance(result, Quarantined):
            outcome = DEDUPLICATED if result.reason == Reason.duplicate_event_id else QUARANTINED_OUTCOME
            self._metrics.routed(topic, result.contract, version, outcome, route_seconds)
            self._metrics.quarantined(result.contract, str(result.reason), result.rule)
        else:
            self._metrics.routed(topic, result.contract, version, AUDITED, route_seconds)
            envelope = result.envelope
            self._metrics.fresh(result.contract, (envelope.ingest_time_ms - envelope.event_time_ms) / 1000)
        if not self._flush_armed:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + METRICS_FLUSH_MS)
            self._flush_armed = True

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._flush()
        self._flush_armed = False
        yield from ()

    def close(self) -> None:  # pending processing-time timers do not fire at the end of input
        if self._routing is not None:
            self._flush()

    def _flush(self) -> None:
        self._metrics.flush()
        self._model_events.applier.flush(self._model_changes)


def _kafka_source(settings: Settings, topic: str, start: dict[int, int] | None) -> TableDescriptor:
    """One source per topic: the connector takes specific start offsets for a single topic only."""
    schema = (
        Schema.new_builder()
        .column("k", DataTypes.BYTES())
        .column("v", DataTypes.BYTES())
        .column_by_metadata("topic", DataTypes.STRING(), "topic", True)
        .column_by_metadata("kafka_partition", DataTypes.INT(), "partition", True)
        .column_by_metadata("kafka_offset", DataTypes.BIGINT(), "offset", True)
        .column_by_metadata("kafka_timestamp", DataTypes.TIMESTAMP_LTZ(3), "timestamp", True)
        .build()
    )
    builder = (
        TableDescriptor.for_connector("kafka")
        .schema(schema)
        .option("topic", topic)
        .option("properties.bootstrap.servers", settings.kafka.bootstrap)
        .option("properties.group.id", settings.kafka.consumer_group)
        .option("properties.isolation.level", "read_committed")
        # An offset no longer in the topic (retention) falls back to the earliest one still there.
        .option("properties.auto.offset.reset", "earliest")
        .option("key.format", "raw")
        .option("key.fields", "k")
        .option("value.format", "raw")
        .option("value.fields-include", "EXCEPT_KEY")
    )
    builder = with_client_security(builder, settings)
    if start:
        builder = builder.option("scan.startup.mode", "specific-offsets").option(
            "scan.startup.specific-offsets", specific_offsets_option(start)
        )
    elif settings.job.start_from == "group-offsets":
        builder = builder.option("scan.startup.mode", "group-offsets")
    else:
        builder = builder.option("scan.startup.mode", "earliest-offset")
    if settings.job.drain:
        builder = builder.option("scan.bounded.mode", "latest-offset")
    return builder.build()


_HEADERS_TYPE = DataTypes.MAP(DataTypes.STRING(), DataTypes.BYTES())


def _dead_letter_sink(settings: Settings) -> TableDescriptor:
    schema = (
        Schema.new_builder()
        .column("k", DataTypes.BYTES())
        .column("v", DataTypes.BYTES())
        .column_by_metadata("headers", _HEADERS_TYPE, "headers", False)
        .build()
    )
    return exactly_once_kafka_sink(settings, schema, settings.kafka.dlq_topic, f"{settings.job.name}-dlq")


def _with_route_key(source: Table) -> Table:
    """(route_key, record): the shape PyFlink's keyed operators read, key first, the value nested.

    Flink cannot key by ``byte[]`` (identity hash), so the key bytes become a string one char per byte
    (ISO-8859-1 decodes every byte value, so equal strings ⇔ equal bytes); a null key becomes "".
    """
    route_key = col("k").decode("ISO-8859-1").if_null("")
    return source.select(route_key.alias(ROUTE_KEY), row(*(col(f) for f in RECORD_FIELDS)).alias(RECORD))


def _key_by_first_field(stream: DataStream) -> KeyedStream:
    """Key by field 0 (the Kafka key, see :func:`_with_route_key`; the model key for read models) on the JVM.

    ``DataStream.key_by`` takes only a Python key selector, which PyFlink runs as an extra Python operator
    in front of the shuffle: one more Java↔Python round trip of every record. The stream already carries
    the key as field 0, in the ``Row(key, value)`` shape that ``key_by`` itself builds, so this does the
    rest of what ``key_by`` does, with PyFlink's own JVM key selector.
    """
    key_type = Types.ROW([Types.STRING()])
    j_keyed = stream._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(), key_type.get_java_type_info())
    return KeyedStream(j_keyed, None, stream)  # the original type is only used by KeyedStream.map & co.


def build(
    env: StreamExecutionEnvironment, settings: Settings, contracts: Contracts, start: Offsets | None = None
) -> StreamTableEnvironment:
    """Wire the job into ``env``. ``start``: first offset per topic partition (``start_from = "lake"``)."""
    t_env = StreamTableEnvironment.create(env)
    register_catalog(t_env, settings)
    t_env.create_temporary_table(DLQ_TABLE, _dead_letter_sink(settings))

    # The Kafka sources and the sinks are table operators: their uids come from `table.exec.uid.generation`.
    streams = []
    for contract in contracts:
        name = f"{SOURCE_TABLE}_{contract.name}"
        t_env.create_temporary_table(name, _kafka_source(settings, contract.topic, (start or {}).get(contract.topic)))
        # to_append_stream (deprecated, but in 2.1) rather than to_data_stream: it takes the RowTypeInfo.
        streams.append(t_env.to_append_stream(_with_route_key(t_env.from_path(name)), ROUTE_INPUT))
    raw = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
    routed = (
        _key_by_first_field(raw)
        .process(RouteFunction(settings.without_secrets()), output_type=QUARANTINE_ROW)
        .name("route")
        .uid("route")
    )
    statements = t_env.create_statement_set()
    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        add_audit_insert(
            t_env=t_env, statements=statements, iceberg=iceberg, settings=settings, contract=contract, routed=routed
        )
    add_read_models(
        t_env=t_env,
        statements=statements,
        iceberg=iceberg,
        settings=settings,
        contracts=contracts,
        routed=routed,
        key_by=_key_by_first_field,
    )
    quarantine = t_env.from_data_stream(
        routed, flink_types.stream_schema(QUARANTINE_COLUMNS, extra=[(HEADERS, _HEADERS_TYPE)])
    )
    statements.add_insert(
        DLQ_TABLE,
        quarantine.select(col("original_key").alias("k"), col("original_value").alias("v"), col(HEADERS)),
    )
    statements.add_insert(
        f"{settings.catalog.name}.{catalog.quarantine_table_name(settings)}",
        quarantine.select(*flink_types.sink_projection(QUARANTINE_COLUMNS)),
    )
    statements.attach_as_datastream()
    return t_env


def run(settings: Settings) -> str:
    """Build and execute; blocks until the job ends (only in drain mode). Returns the Flink job id."""
    contracts = load_contracts(settings.paths.schemas_dir)
    provision(settings, contracts)
    start = lake_offsets(settings, contracts) if settings.job.start_from == "lake" else None
    env = stream_environment(settings)
    build(env, settings, contracts, start)
    log.info(
        "submitting job",
        extra=kv(
            job=settings.job.name,
            contracts=len(contracts),
            mode=settings.job.python_execution_mode,
            drain=settings.job.drain,
        ),
    )
    if settings.cluster.execution_target == "remote":
        client = env.execute_async(settings.job.name)
        job_id = str(client.get_job_id())
        # Detached: the job lives on the cluster; `lakegate exporter` and `lakegate status` observe it there.
        log.info(
            "job submitted",
            extra=kv(
                job_id=job_id, cluster=settings.cluster.rest_url, restored_from=settings.cluster.restore_from or "none"
            ),
        )
        return job_id
    with exporter.serving(settings, contracts):
        client = env.execute_async(settings.job.name)
        job_id = str(client.get_job_id())
        log.info("job running", extra=kv(job_id=job_id))
        result = client.get_job_execution_result().result()
    log.info("job finished", extra=kv(job_id=job_id, net_runtime_ms=result.get_net_runtime()))
    return job_id


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.ingest", description=__doc__.splitlines()[0])
    add_ingest_options(parser)
    args = parser.parse_args(argv)
    run(Settings.load(drain=True if args.drain else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
