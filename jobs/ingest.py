"""The ingest job: Kafka → each record checked against its contract → audit log | quarantine | read models.

Wiring only (docs/hotpath.md): ``IngestGraph.source`` (Java: one Kafka source, batches packed on the JVM)
→ ``route`` (Python, :class:`jobs.route.RouteBatches`: one call per batch, every decision that depends on a
contract) → ``IngestGraph.sinks`` (Java: unpack, dedupe, read models, the Iceberg and Kafka sinks). Both
halves read the same plan (:mod:`jobs.plan`). The job starts after the lake's last offsets
(``start_from = "lake"``, lakegate/offsets.py) unless it restores a checkpoint or savepoint.

Exactly-once: the Iceberg sinks commit and the Kafka sinks' transactions commit on checkpoints; the packer
flushes before every barrier. A registry outage raises out of ``route``: the task fails and restarts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from jobs import plan as job_plan
from jobs.route import BATCH, RouteBatches
from jobs.runtime import stream_environment
from lakegate import catalog, resume
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_ingest_options
from lakegate.logs import kv
from lakegate.observe import exporter
from lakegate.offsets import Offsets, lake_high, lake_offsets, record_origins
from lakegate.provision import provision
from lakegate.settings import Settings
from udfs.contract import Contracts, load_contracts

log = logging.getLogger("lakegate.jobs.ingest")

ROUTE = "route"  # the Python operator's name and uid (the JVM operators' uids: docs/hotpath.md)


def build(env: StreamExecutionEnvironment, settings: Settings, plan: dict[str, Any]) -> None:
    """Wire the job into ``env`` from ``plan`` (:func:`jobs.plan.build`)."""
    text = job_plan.to_json(plan)
    graph = get_gateway().jvm.io.lakegate.flink.ingest.IngestGraph
    batches = DataStream(graph.source(env._j_stream_execution_environment, text))
    routed = batches.map(RouteBatches(settings, plan), output_type=BATCH).name(ROUTE).uid(ROUTE)
    graph.sinks(routed._j_data_stream, text)


def plan_for(
    settings: Settings, contracts: Contracts, start: Offsets | None, section: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The job's plan, from the tables as they are now (provisioned first)."""
    return job_plan.build(settings, contracts, catalog.open_catalog(settings), start, section)


def fresh_start(settings: Settings, contracts: Contracts) -> tuple[Offsets | None, dict[str, Any]]:
    """Where a job started without a checkpoint reads first, and the plan's ``resume`` section
    (lakegate/resume.py): with ``start_from = "lake"``, after what every sink holds, with the read models'
    state rebuilt from their tables and their changelog topics level with them (lakegate/changelogs.py)."""
    held = lake_high(settings, contracts)
    record_origins(settings, contracts, held)
    if settings.job.start_from != "lake":
        return None, resume.empty_section(settings)
    found = resume.plan_resume(settings, contracts)
    if found is None:
        log.warning("the lake has no coverage journal yet: resuming after its highest offsets, as before it")
        start = lake_offsets(settings, contracts, held)
        section = resume.empty_section(settings)
    else:
        start = lake_offsets(settings, contracts, {tp: o - 1 for tp, o in found.start.items()})
        section = found.section
    section["covered"] = [
        {"topic": t, "partition": p, "offset": o - 1}
        for t, partitions in sorted(start.items())
        for p, o in sorted(partitions.items())
    ]
    return start, section


def run(settings: Settings) -> str:
    """Build and execute; blocks until the job ends (only in drain mode). Returns the Flink job id."""
    contracts = load_contracts(settings.paths.schemas_dir)
    provision(settings, contracts)
    # A restored job takes its offsets from the checkpoint; the lake is consulted only for a fresh start.
    start, section = None, None
    if not settings.cluster.restore_from:
        start, section = fresh_start(settings, contracts)
    env = stream_environment(settings)
    build(env, settings, plan_for(settings, contracts, start, section))
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
