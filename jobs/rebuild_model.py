"""The rebuild job: a read model computed from the audit log → its shadow table (batch, one Iceberg commit).

The model is computed in Python beforehand (:func:`lakegate.readmodels.replay_changes`: the audit log in
routing order through the ingest job's own functions); this job only writes the last change per key into
``<readmodel_namespace>.<model>__rebuild``, because pyiceberg cannot write here (see README, pinned stack).
"""

from __future__ import annotations

import sys

from pyflink.common import Row
from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from jobs import flink_types
from jobs.common import register_catalog
from jobs.runtime import stream_environment
from lakegate import readmodels
from lakegate.settings import Settings
from udfs.contract import Contract
from udfs.readmodels import Change, ReadModel, change_values, model_columns


def build(
    env: StreamExecutionEnvironment, settings: Settings, model: ReadModel, contract: Contract, changes: list[Change]
) -> StreamTableEnvironment:
    t_env = StreamTableEnvironment.create(env)
    register_catalog(t_env, settings)
    columns = model_columns(model, contract)
    rows = [Row(*change_values(c, columns)) for c in changes]
    stream = (
        env.from_collection(rows, type_info=flink_types.row_type(columns))
        .name("rebuilt-changes")
        .uid("rebuilt-changes")
    )
    table = t_env.from_data_stream(stream, flink_types.stream_schema(columns))
    name = readmodels.table_name(settings, model, shadow=True)
    statements = t_env.create_statement_set()
    statements.add_insert(f"{settings.catalog.name}.{name}", table.select(*flink_types.sink_projection(columns)))
    statements.attach_as_datastream()
    return t_env


def run(settings: Settings, model: ReadModel, contract: Contract, changes: list[Change]) -> None:
    """Write ``changes`` into the model's shadow table; blocks until the batch job has committed."""
    env = stream_environment(settings)
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    build(env, settings, model, contract, changes)
    env.execute(f"{settings.job.name}-rebuild-{model.name}")


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.rebuild_model NAME [--swap]``: the same as ``lakegate readmodels rebuild``."""
    from lakegate.cli import main as cli

    return cli(["readmodels", "rebuild", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
