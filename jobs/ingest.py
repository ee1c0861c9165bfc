"""The ingest job: Kafka → decode and check each record against its contract → Iceberg audit log | quarantine.

Data flow::

    Kafka source per contract topic, unioned (raw key/value bytes + topic, partition, offset, timestamp;
    Table API, no decoding; started after the lake's last offsets, see lakegate/offsets.py)
      → route (Python: udfs.router.Router — framing, registry lookup, decode, envelope, key checks)
          ├─ side output per contract → Iceberg table <audit_namespace>.<contract>
          └─ main output (quarantine)  ├→ dead-letter topic: original key and value bytes unchanged,
                                       │  reason and source coordinates in headers
                                       └→ Iceberg table <quarantine_namespace>.records (same facts, typed)

Exactly-once: the Iceberg sink commits on checkpoints and the dead-letter sink writes in Kafka
transactions committed on the same checkpoints; offsets come back from checkpoint state on restart.
A registry outage raises out of ``route`` (never quarantines): the task fails and Flink restarts it.

Operator identity: ``route`` has an explicit name and uid; the table-side operators (Kafka source, the
sinks) get deterministic uids from ``table.exec.uid.generation=ALWAYS`` (see jobs/runtime.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import OutputTag, ProcessFunction, StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, TableDescriptor
from pyflink.table.catalog import CatalogDescriptor
from pyflink.table.expressions import col

from jobs import flink_types
from jobs.runtime import stream_environment
from lakegate import catalog, logs
from lakegate.errors import LakegateError
from lakegate.logs import kv
from lakegate.offsets import Offsets, lake_offsets, specific_offsets_option
from lakegate.settings import Settings
from udfs.columns import audit_columns, audit_values
from udfs.contract import Contracts, load_contracts
from udfs.quarantine import QUARANTINE_COLUMNS, quarantine_values
from udfs.registry import RegistryClient
from udfs.router import Quarantined, RawRecord, Router, quarantine_headers

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


def audit_tag(contract: str, row_type: Any) -> OutputTag:
    return OutputTag(f"audit-{contract}", row_type)


class RouteFunction(ProcessFunction):  # type: ignore[misc]  # pyflink is untyped
    """Routes each raw Kafka record: valid → its contract's side output, invalid → main output."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router: Router | None = None

    def open(self, runtime_context: Any) -> None:
        # Built in the worker, not pickled: parsed schemas and HTTP clients do not travel well.
        contracts = load_contracts(self._settings.schemas_dir)
        self._router = Router(contracts, RegistryClient(self._settings.registry_url))
        self._columns = {c.name: audit_columns(c) for c in contracts}
        self._tags = {
            name: audit_tag(name, flink_types.row_type(cols)) for name, cols in self._columns.items()
        }
        self._job = self._settings.job_name

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        assert self._router is not None
        raw = RawRecord(
            topic=value.topic,
            partition=value.kafka_partition,
            offset=value.kafka_offset,
            timestamp_ms=flink_types.epoch_millis(value.kafka_timestamp),
            key=bytes(value.k) if value.k is not None else None,
            value=bytes(value.v) if value.v is not None else None,
        )
        result = self._router.route(raw)
        if isinstance(result, Quarantined):
            headers = dict(quarantine_headers(result, self._job))
            yield Row(*quarantine_values(result, self._job, _now_ms()), headers)
        else:
            yield self._tags[result.contract], Row(*audit_values(result, self._columns[result.contract]))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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
        .option("properties.bootstrap.servers", settings.kafka_bootstrap)
        .option("properties.group.id", settings.consumer_group)
        .option("properties.isolation.level", "read_committed")
        # An offset no longer in the topic (retention) falls back to the earliest one still there.
        .option("properties.auto.offset.reset", "earliest")
        .option("key.format", "raw")
        .option("key.fields", "k")
        .option("value.format", "raw")
        .option("value.fields-include", "EXCEPT_KEY")
    )
    if start:
        builder = builder.option("scan.startup.mode", "specific-offsets").option(
            "scan.startup.specific-offsets", specific_offsets_option(start))
    elif settings.start_from == "group-offsets":
        builder = builder.option("scan.startup.mode", "group-offsets")
    else:
        builder = builder.option("scan.startup.mode", "earliest-offset")
    if settings.drain:
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
    return (
        TableDescriptor.for_connector("kafka")
        .schema(schema)
        .option("topic", settings.dlq_topic)
        .option("properties.bootstrap.servers", settings.kafka_bootstrap)
        .option("key.format", "raw")
        .option("key.fields", "k")
        .option("value.format", "raw")
        .option("value.fields-include", "EXCEPT_KEY")
        .option("sink.delivery-guarantee", "exactly-once")
        .option("sink.transactional-id-prefix", f"{settings.job_name}-dlq")
        # Must not exceed the broker's transaction.max.timeout.ms (15 min by default); Flink's default is 1 h.
        .option("properties.transaction.timeout.ms", "600000")
        .build()
    )


def build(
    env: StreamExecutionEnvironment, settings: Settings, contracts: Contracts, start: Offsets | None = None
) -> StreamTableEnvironment:
    """Wire the job into ``env``. ``start``: first offset per topic partition (``start_from = "lake"``)."""
    t_env = StreamTableEnvironment.create(env)
    catalog_conf = Configuration()
    for key, value in catalog.flink_catalog_options(settings).items():
        catalog_conf.set_string(key, value)
    t_env.create_catalog(settings.catalog_name, CatalogDescriptor.of(settings.catalog_name, catalog_conf))
    t_env.create_temporary_table(DLQ_TABLE, _dead_letter_sink(settings))

    # The Kafka sources and the sinks are table operators: their uids come from `table.exec.uid.generation`.
    streams = []
    for contract in contracts:
        name = f"{SOURCE_TABLE}_{contract.name}"
        t_env.create_temporary_table(name, _kafka_source(settings, contract.topic, (start or {}).get(contract.topic)))
        streams.append(t_env.to_data_stream(t_env.from_path(name)))
    raw = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
    routed = (
        raw.process(RouteFunction(settings), output_type=QUARANTINE_ROW)
        .name("route")
        .uid("route")
    )
    statements = t_env.create_statement_set()
    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        columns = audit_columns(contract)
        # A side output is a virtual edge of `route`, not an operator: nothing to name or uid here.
        side = routed.get_side_output(audit_tag(contract.name, flink_types.row_type(columns)))
        table = t_env.from_data_stream(side, flink_types.stream_schema(columns))
        target = f"{settings.catalog_name}.{catalog.audit_table_name(settings, contract)}"
        layout = [f.name for f in iceberg.load_table(catalog.audit_table_name(settings, contract)).schema().fields]
        statements.add_insert(target, table.select(*flink_types.sink_projection(columns, layout)))
    quarantine = t_env.from_data_stream(
        routed, flink_types.stream_schema(QUARANTINE_COLUMNS, extra=[(HEADERS, _HEADERS_TYPE)])
    )
    statements.add_insert(
        DLQ_TABLE,
        quarantine.select(col("original_key").alias("k"), col("original_value").alias("v"), col(HEADERS)),
    )
    statements.add_insert(
        f"{settings.catalog_name}.{catalog.quarantine_table_name(settings)}",
        quarantine.select(*flink_types.sink_projection(QUARANTINE_COLUMNS)),
    )
    statements.attach_as_datastream()
    return t_env


def provision(settings: Settings, contracts: Contracts) -> None:
    """Create what the job writes to if missing (audit and quarantine tables, dead-letter topic)."""
    from lakegate.stack import kafka

    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        catalog.ensure_audit_table(iceberg, settings, contract)
    catalog.ensure_quarantine_table(iceberg, settings)
    kafka.ensure_topics(settings, [settings.dlq_topic])


def run(settings: Settings) -> str:
    """Build and execute; blocks until the job ends (only in drain mode). Returns the Flink job id."""
    contracts = load_contracts(settings.schemas_dir)
    provision(settings, contracts)
    start = lake_offsets(settings, contracts) if settings.start_from == "lake" else None
    env = stream_environment(settings)
    build(env, settings, contracts, start)
    log.info("submitting job", extra=kv(job=settings.job_name, contracts=len(contracts),
                                          mode=settings.python_execution_mode, drain=settings.drain))
    client = env.execute_async(settings.job_name)
    job_id = str(client.get_job_id())
    log.info("job running", extra=kv(job_id=job_id))
    result = client.get_job_execution_result().result()
    log.info("job finished", extra=kv(job_id=job_id, net_runtime_ms=result.get_net_runtime()))
    return job_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--drain", action="store_true", help="stop once the topics are read to their end")
    args = parser.parse_args(argv)
    logs.configure()
    try:
        settings = Settings.load(drain=True if args.drain else None)
        run(settings)
    except LakegateError as exc:
        log.error(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
