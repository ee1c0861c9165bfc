"""Pipeline (b) of bench/compare.py: lakegate's flow as pure-Java Flink SQL, Kafka → Iceberg, no quarantine.

Usage:  python -m bench.flink_sql TASK.json   (settings in LAKEGATE_* variables, as for jobs.ingest)

Per contract: a Kafka table source whose value format decodes Confluent-framed Avro (writer schema by id from
the registry, resolved to the contract's reader schema, given as ``avro-confluent.schema`` so enums keep their
type) → an ``INSERT`` into an Iceberg table shaped like lakegate's audit table, in the same JDBC catalog,
committed on checkpoints (Iceberg's Sink V2; see ``environment``). Python only builds the plan; every record
stays on the JVM. The format is ``avro-confluent-skip-invalid`` (bench/java), which skips undecodable records
instead of failing the task: bench/README.md, "Findings while building it".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, TableDescriptor
from pyflink.table.expression import Expression
from pyflink.table.expressions import col, current_timestamp, lit, null_of
from pyflink.table.types import DataType

from bench.task import Task
from jobs import flink_types
from jobs.common import register_catalog
from jobs.runtime import flink_configuration, prepare_process
from lakegate import catalog, jvm, logs
from lakegate.settings import Settings
from udfs.columns import Column, ColumnKind, payload_columns
from udfs.contract import Contract, load_contracts

FORMAT = "avro-confluent-skip-invalid"
FORMAT_JAR = "bench-formats.jar"  # built by bench/compare.py from bench/java into the run's home

_TOPIC, _PARTITION, _OFFSET = "kafka_topic", "kafka_partition", "kafka_offset"


def source_type(column: Column) -> DataType:
    """The row type Flink's AvroSchemaConverter derives from a reader schema (it must match the table's
    columns exactly): enums and uuids are strings, timestamp-millis is TIMESTAMP(3) (the format's legacy
    mapping); everything else as lakegate's own rows (jobs/flink_types.py)."""
    if column.kind is ColumnKind.timestamp_ms:
        return DataTypes.TIMESTAMP(3, nullable=column.nullable)
    return flink_types.data_type(column)


def kafka_source(settings: Settings, contract: Contract, task: Task) -> TableDescriptor:
    builder = Schema.new_builder()
    for column in payload_columns(contract.reader_schema_json):
        builder = builder.column(column.name, source_type(column))
    schema = (
        builder.column_by_metadata(_TOPIC, DataTypes.STRING(), "topic", True)
        .column_by_metadata(_PARTITION, DataTypes.INT(), "partition", True)
        .column_by_metadata(_OFFSET, DataTypes.BIGINT(), "offset", True)
        .build()
    )
    descriptor = (
        TableDescriptor.for_connector("kafka")
        .schema(schema)
        .option("topic", contract.topic)
        .option("properties.bootstrap.servers", settings.kafka.bootstrap)
        .option("properties.group.id", task.group)
        .option("properties.isolation.level", "read_committed")  # as lakegate's source
        .option("scan.startup.mode", "earliest-offset")
        .option("value.format", FORMAT)
        .option(f"value.{FORMAT}.url", settings.registry.url.reveal())
        .option(f"value.{FORMAT}.schema", contract.schema_texts[-1])
    )
    if task.end_offsets is not None:
        # The topics' end at job start, as lakegate's drain mode does: the pre-load's end offsets, since
        # nothing else writes to these topics.
        descriptor = descriptor.option("scan.bounded.mode", "latest-offset")
    return descriptor.build()


def projection(contract: Contract, table_order: list[str]) -> list[Expression]:
    """The source row as the audit-shaped Iceberg row, in the table's column order."""
    envelope: dict[str, Expression] = {
        "lg_ingest_time": current_timestamp(),  # evaluated per record in a streaming job
        "lg_topic": col(_TOPIC),
        "lg_partition": col(_PARTITION),
        "lg_offset": col(_OFFSET),
        "lg_schema_id": lit(-1),  # the format does not expose the writer schema id
        "lg_schema_version": null_of(DataTypes.INT()),
        "lg_producer_team": lit(contract.owner_team),
    }
    kinds = {c.name: c.kind for c in payload_columns(contract.reader_schema_json)}
    out = []
    for name in table_order:
        if name in envelope:
            expression = envelope[name]
        elif kinds[name] is ColumnKind.timestamp_ms:
            expression = col(name).cast(DataTypes.TIMESTAMP_LTZ(3))  # the session time zone is UTC
        else:
            expression = col(name)
        if name == "lg_ingest_time" or kinds.get(name) is ColumnKind.timestamp_ms:
            expression = expression.cast(DataTypes.TIMESTAMP_LTZ(6))  # Iceberg's timestamptz
        out.append(expression.alias(name))
    return out


def environment(settings: Settings) -> StreamExecutionEnvironment:
    prepare_process(settings)
    conf = flink_configuration(settings)
    bench_jars = [*jvm.jars(settings, "bench"), settings.paths.home / FORMAT_JAR]
    conf.set_string(
        "pipeline.jars", ";".join([conf.get_string("pipeline.jars", ""), *(j.as_uri() for j in bench_jars)])
    )
    # Iceberg's Sink V2, not the FlinkSink a Table API insert gets by default, which can leave a writer's last
    # data file uncommitted at parallelism 2 (bench/README.md, "Findings while building it"; apache/iceberg#15846).
    conf.set_string("table.exec.iceberg.use-v2-sink", "true")
    conf.set_string("table.local-time-zone", "UTC")  # TIMESTAMP(3) from Avro millis is UTC wall time
    return StreamExecutionEnvironment.get_execution_environment(conf)


def run(settings: Settings, task: Task) -> int:
    """Build, submit and, for a bounded task, wait; returns Flink's net runtime in ms."""
    t_env = StreamTableEnvironment.create(environment(settings))
    register_catalog(t_env, settings)
    iceberg = catalog.open_catalog(settings)
    statements = t_env.create_statement_set()
    for contract in load_contracts(settings.paths.schemas_dir):
        source = f"source_{contract.name}"
        t_env.create_temporary_table(source, kafka_source(settings, contract, task))
        name = f"{task.namespace}.{contract.name}"
        order = [f.name for f in iceberg.load_table(name).schema().fields]
        rows = t_env.from_path(source).select(*projection(contract, order))
        statements.add_insert(f"{settings.catalog.name}.{name}", rows)
    client = statements.execute().get_job_client()
    print(f"job submitted job_id={client.get_job_id()}", flush=True)
    result = client.get_job_execution_result().result()
    return int(result.get_net_runtime())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logs.configure()
    started = time.monotonic()
    net_ms = run(Settings.load(), Task.load(Path(args[0])))
    print(f"job finished net_runtime_ms={net_ms} wall_s={time.monotonic() - started:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
