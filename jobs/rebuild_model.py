"""The rebuild job: a read model recomputed from the audit log → its shadow table, diffed against the live one.

``python -m jobs.rebuild_model NAME [--swap]``, started by `lakegate readmodels rebuild`. The model is
computed in Python (:func:`lakegate.readmodels.replay_changes`: the audit log in routing order through the
ingest job's own functions); the Flink batch job only writes the last change per key into
``<readmodel_namespace>.<model>__rebuild`` in one Iceberg commit, because pyiceberg cannot write here (see
README, pinned stack). Then the two current states are compared key by key and, with ``--swap``, the
rebuilt table becomes the live one (only while the ingest job is stopped). Exit code: 0 when identical or
swapped, 1 when they differ, 2 on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pyflink.common import Row
from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment
from pyiceberg.exceptions import NoSuchTableError

from jobs import flink_types
from jobs.common import register_catalog
from jobs.runtime import stream_environment
from lakegate import readmodels
from lakegate.catalog import open_catalog
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_rebuild_options
from lakegate.logs import kv
from lakegate.observe.sources import find_job, flink_rest_urls
from lakegate.readmodels import Diff, ReadModelError
from lakegate.settings import Settings
from udfs.contract import Contract, Contracts, load_contracts
from udfs.readmodels import Change, ReadModel, change_values, model_columns

log = logging.getLogger("lakegate.jobs.rebuild_model")


@dataclass(frozen=True, slots=True)
class RebuildReport:
    model: str
    audited_records: int
    keys: int
    diff: Diff
    swapped_out: str | None  # the replaced live table, when swapped


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


def rebuild(settings: Settings, contracts: Contracts, name: str, *, swap_in: bool = False) -> RebuildReport:
    """Rebuild ``name`` from the audit log into its shadow table, diff it against the live one, optionally swap.

    Swapping needs the ingest job stopped: a running job would go on committing to whichever table holds
    the live name.
    """
    model, contract = readmodels.find(contracts, name)
    records = readmodels.audit_records(settings, contract)
    changes = readmodels.replay_changes(model, contract, records, settings.job.pii_salt.reveal().encode())
    catalog = open_catalog(settings)
    shadow = readmodels.table_name(settings, model, shadow=True)
    with contextlib.suppress(NoSuchTableError):
        catalog.drop_table(shadow)
    readmodels.ensure_table(catalog, settings, model, contract, shadow=True)
    log.info("rebuilding", extra=kv(model=name, audited=len(records), changes=len(changes), table=shadow))
    if changes:
        run(settings, model, contract, changes)
    live_rows = readmodels.current(readmodels.read_log_or_empty(settings, model), model)
    rebuilt_rows = readmodels.current(readmodels.read_log(settings, model, shadow=True), model)
    report = readmodels.diff(live_rows, rebuilt_rows, model)
    swapped = None
    if swap_in:
        located = find_job(flink_rest_urls(settings), settings.job.name)
        if located is not None and located[1].get("state") == "RUNNING":
            raise ReadModelError(
                f"job {settings.job.name} is running: stop it before swapping {name}, then "
                "start it again (it resumes from the lake)"
            )
        swapped = readmodels.swap(settings, model)
    return RebuildReport(name, len(records), len({c.key for c in changes}), report, swapped)


def print_report(report: RebuildReport) -> None:
    d = report.diff
    print(f"{report.model}: rebuilt from {report.audited_records} audited records, {report.keys} keys")
    print(
        f"  same {d.same}, only live {len(d.only_live)}, only rebuilt {len(d.only_rebuilt)}, "
        f"different {len(d.different)}"
    )
    for live, rebuilt in d.different[:5]:
        print(f"  live    {json.dumps(live, default=str)}\n  rebuilt {json.dumps(rebuilt, default=str)}")
    if report.swapped_out:
        print(f"  swapped: the rebuilt table is live; the old one is {report.swapped_out}")


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.rebuild_model", description=__doc__.splitlines()[0])
    add_rebuild_options(parser)
    args = parser.parse_args(argv)
    settings = Settings.load()
    report = rebuild(settings, load_contracts(settings.paths.schemas_dir), args.name, swap_in=args.swap)
    print_report(report)
    return 0 if report.diff.identical or report.swapped_out else 1


if __name__ == "__main__":
    sys.exit(main())
