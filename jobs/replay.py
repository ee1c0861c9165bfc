"""The replay job: quarantined records that pass today's contracts → the audit log, original coordinates.

Runs in batch mode over the records :mod:`lakegate.replay` selected (never ones already audited), routes
each again through :class:`udfs.router.Router` — the same code as the ingest job — and appends the valid
ones to their audit tables in one Iceberg commit per table. Records that fail again stay where they are:
in quarantine.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import ProcessFunction, RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from jobs.common import AuditRouting, add_audit_insert, optional_bytes, register_catalog
from jobs.runtime import stream_environment
from lakegate import catalog
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_replay_options
from lakegate.lease import Lease
from lakegate.logs import kv
from lakegate.replay import ReplayPlan, prepare
from lakegate.settings import Settings
from udfs.contract import Contracts, load_contracts
from udfs.router import RawRecord, Valid

log = logging.getLogger("lakegate.jobs.replay")

RECORD_ROW = Types.ROW_NAMED(
    ["topic", "kafka_partition", "kafka_offset", "timestamp_ms", "k", "v"],
    [
        Types.STRING(),
        Types.INT(),
        Types.LONG(),
        Types.LONG(),
        Types.PRIMITIVE_ARRAY(Types.BYTE()),
        Types.PRIMITIVE_ARRAY(Types.BYTE()),
    ],
)


class ReplayFunction(ProcessFunction):  # type: ignore[misc]  # pyflink is untyped
    """Routes a quarantined record again; valid → its contract's side output, anything else is dropped
    here because it is still in quarantine (the table is the system of record)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, runtime_context: Any) -> None:
        self._routing = AuditRouting(self._settings.with_worker_secrets())  # the pickled copy carries none

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        raw = RawRecord(
            value.topic,
            value.kafka_partition,
            value.kafka_offset,
            value.timestamp_ms,
            optional_bytes(value.k),
            optional_bytes(value.v),
        )
        result = self._routing.router.route(raw)
        if isinstance(result, Valid):
            yield self._routing.audit_output(result)


def build(
    env: StreamExecutionEnvironment, settings: Settings, contracts: Contracts, records: list[RawRecord]
) -> StreamTableEnvironment:
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    t_env = StreamTableEnvironment.create(env)
    register_catalog(t_env, settings)
    rows = [Row(r.topic, r.partition, r.offset, r.timestamp_ms, r.key, r.value) for r in records]
    source = env.from_collection(rows, type_info=RECORD_ROW).name("quarantined-records").uid("quarantined-records")
    replay = ReplayFunction(settings.without_secrets())
    routed = source.process(replay, output_type=Types.STRING()).name("route").uid("route")
    statements = t_env.create_statement_set()
    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        add_audit_insert(
            t_env=t_env, statements=statements, iceberg=iceberg, settings=settings, contract=contract, routed=routed
        )
    statements.attach_as_datastream()
    return t_env


def run(settings: Settings, *, reasons: list[str], only: list[str], dry_run: bool) -> ReplayPlan:
    """Select and (unless ``dry_run``) write, holding the replay lease: a second replay meanwhile is refused
    (:class:`lakegate.lease.LeaseHeld`), since both would select the same records."""
    if dry_run:
        return _replay(settings, reasons=reasons, only=only, dry_run=True)
    iceberg = catalog.open_catalog(settings)
    catalog.ensure_namespace(iceberg, settings.catalog.quarantine_namespace)
    with Lease(iceberg, catalog.replay_lease(settings), "lakegate quarantine replay"):
        return _replay(settings, reasons=reasons, only=only, dry_run=False)


def _replay(settings: Settings, *, reasons: list[str], only: list[str], dry_run: bool) -> ReplayPlan:
    contracts = load_contracts(settings.paths.schemas_dir)
    for contract in contracts:  # a contract fix may have added a column
        catalog.ensure_audit_table(catalog.open_catalog(settings), settings, contract)
    plan = prepare(settings, contracts, settings.registry_client(), reasons=reasons, only=only)
    log.info(
        "replay plan",
        extra=kv(
            considered=plan.considered,
            already_audited=plan.already_audited,
            event_already_audited=plan.event_already_audited,
            passing=len(plan.passing),
            still_failing=sum(plan.still_failing.values()),
        ),
    )
    if plan.passing and not dry_run:
        env = stream_environment(settings)
        build(env, settings, contracts, plan.passing)
        result = env.execute(f"{settings.job.name}-replay")
        log.info("replay finished", extra=kv(replayed=len(plan.passing), net_runtime_ms=result.get_net_runtime()))
    return plan


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.replay", description=__doc__.splitlines()[0])
    add_replay_options(parser)
    args = parser.parse_args(argv)
    plan = run(Settings.load(), reasons=args.reason, only=args.contract, dry_run=args.dry_run)
    print(f"quarantined records considered: {plan.considered}")
    print(f"  already replayed (in the audit log): {plan.already_audited}")
    print(f"  not replayed, event already audited (e.g. duplicates): {plan.event_already_audited}")
    print(f"  {'would pass' if args.dry_run else 'replayed into the audit log'}: {len(plan.passing)}")
    for reason, n in sorted(plan.still_failing.items()):
        print(f"  still failing, {reason}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
