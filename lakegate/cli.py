"""The `lakegate` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lakegate import jvm, logs
from lakegate.errors import LakegateError
from lakegate.settings import Settings
from udfs.contract import load_contracts
from udfs.errors import ContractError, RegistryRejected, RegistryUnavailable

log = logging.getLogger("lakegate")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lakegate", description="Kafka → contracts → Iceberg, on Flink.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="fetch the pinned JVM artifacts (no-op when up to date)")
    sub.add_parser("settings", help="print the effective settings by section (secrets masked)")
    stack = sub.add_parser("stack", help="the local Kafka broker and schema registry")
    stack.add_argument("action", choices=["up", "down", "status"])
    contracts = sub.add_parser("contracts", help="contracts in schemas/")
    contracts.add_argument(
        "action",
        choices=["list", "register", "check", "publish"],
        help="check: CI gate (exit 1 on any ✗); publish: check, then register the versions",
    )
    contracts.add_argument("--offline", action="store_true", help="check: skip the schema registry")
    produce = sub.add_parser("produce", help="publish realistic events through the registry")
    produce.add_argument("--count", type=int, default=10_000)
    produce.add_argument("--rate", type=float, default=None, help="records per second (default: as fast as possible)")
    produce.add_argument("--bad-fraction", type=float, default=0.05)
    produce.add_argument("--seed", type=int, default=7)
    run = sub.add_parser("run", help="run a job on a local MiniCluster")
    run.add_argument("job", choices=["ingest"])
    run.add_argument("--drain", action="store_true", help="stop once the topics are read to their end")
    quarantine = sub.add_parser("quarantine", help="quarantined records")
    qsub = quarantine.add_subparsers(dest="action", required=True)
    replay = qsub.add_parser("replay", help="re-validate quarantined records, audit those that now pass (idempotent)")
    replay.add_argument("--reason", action="append", default=[], help="only this reason (repeatable)")
    replay.add_argument("--contract", action="append", default=[], help="only this contract (repeatable)")
    replay.add_argument("--dry-run", action="store_true", help="report what would be replayed, write nothing")
    _add_read_model_commands(sub)
    _add_cluster_commands(sub)
    _add_observation_commands(sub)
    demo = sub.add_parser("demo", help="set up, start the stack, produce, ingest, summarise, stop")
    demo.add_argument("--count", type=int, default=5_000)
    demo.add_argument("--bad-fraction", type=float, default=0.05)
    demo.add_argument("--keep-running", action="store_true", help="leave the stack running afterwards")
    return p


def _add_read_model_commands(sub: Any) -> None:
    models = sub.add_parser("readmodels", help="CQRS read models declared in the contracts")
    msub = models.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="every declared model: kind, contract, table, changelog topic")
    show = msub.add_parser("show", help="a model's current state (latest change per key, deletes removed)")
    show.add_argument("name")
    show.add_argument("--key", default=None, help="only this key (comma-separated values for multi-field keys)")
    show.add_argument("--limit", type=int, default=50)
    rebuild = msub.add_parser("rebuild", help="recompute a model from the audit log into a shadow table; diff")
    rebuild.add_argument("name")
    rebuild.add_argument("--swap", action="store_true", help="then make the rebuilt table the live one (job stopped)")
    maintain = sub.add_parser("maintain", help="compact small files, expire old snapshots (safe while jobs run)")
    maintain.add_argument("--model", action="append", default=[], help="only this read model (repeatable)")
    maintain.add_argument("--retain-last", type=int, default=10, help="snapshots always kept (default 10)")
    maintain.add_argument("--older-than-s", type=int, default=3600, help="snapshots newer than this are kept")
    maintain.add_argument("--every-s", type=int, default=0, help="repeat every N seconds (default: once)")


def _add_cluster_commands(sub: Any) -> None:
    cluster = sub.add_parser("cluster", help="a local standalone Flink session cluster (JobManager + TaskManager)")
    cluster.add_argument("action", choices=["up", "down", "status"])
    submit = sub.add_parser("submit", help="submit a job to the cluster at cluster_rest_url (detached)")
    submit.add_argument("job", nargs="?", default="ingest", choices=["ingest"])
    submit.add_argument("--from", dest="restore_from", default=None, help="a savepoint or checkpoint path")
    sub.add_parser("savepoint", help="take a savepoint of the running job on the cluster")
    sub.add_parser("upgrade", help="stop the running job with a savepoint and resubmit it from there")
    sub.add_parser("resume", help="resubmit the job from the newest retained checkpoint (after a lost cluster)")


def _add_observation_commands(sub: Any) -> None:
    status = sub.add_parser("status", help="throughput, quarantine, freshness, lag, tables, ledger in the terminal")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between the two samples (rates)")
    sub.add_parser("exporter", help="serve the lakegate exporter (ledger, lag, tables, job health) until Ctrl-C")
    metrics = sub.add_parser("metrics", help="the metrics catalogue")
    metrics.add_argument("action", choices=["catalogue"], help="print docs/metrics.md (markdown)")
    dashboards = sub.add_parser("dashboards", help="generate the Grafana dashboards from schemas/")
    dashboards.add_argument("--out", type=Path, default=None, help="default: deploy/grafana/dashboards")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    logs.exit_on_sigterm()
    try:
        settings = Settings.load()
        return _HANDLERS[args.command](args, settings)
    except (LakegateError, ContractError, RegistryUnavailable, RegistryRejected) as exc:
        print(f"lakegate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _setup(args: argparse.Namespace, settings: Settings) -> int:
    jvm.ensure_artifacts(settings)
    jvm.runtime_jar(settings)
    return _dashboards(argparse.Namespace(out=None), settings)


def _dashboards(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.observe import dashboards

    out = args.out or settings.paths.pom.parent / "grafana" / "dashboards"
    for path in dashboards.write(out, load_contracts(settings.paths.schemas_dir), settings):
        log.info("dashboard written", extra=logs.kv(path=str(path)))
    return 0


def _readmodels(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate import readmodels

    contracts = load_contracts(settings.paths.schemas_dir)
    if args.action == "list":
        for model, contract in readmodels.all_models(contracts):
            table, topic = readmodels.table_name(settings, model), readmodels.changelog_topic(settings, model)
            print(
                f"{model.name:<26} {type(model).__name__:<15} contract={contract.name:<10} "
                f"table={table:<34} topic={topic}"
            )
        return 0
    if args.action == "show":
        model, _ = readmodels.find(contracts, args.name)
        rows = readmodels.current(readmodels.read_log(settings, model), model)
        if args.key is not None:
            rows = readmodels.select_key(rows, model, args.key)
        shown = f" (first {args.limit})" if rows.num_rows > args.limit else ""
        print(f"{args.name}: {rows.num_rows} current rows{shown}")
        for row in rows.slice(0, args.limit).to_pylist():
            print("  " + json.dumps(row, default=str, sort_keys=False))
        return 0
    report = readmodels.rebuild(settings, contracts, args.name, swap_in=args.swap)
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
    return 0 if d.identical or report.swapped_out else 1


def _maintain(args: argparse.Namespace, settings: Settings) -> int:
    from jobs import maintain

    return maintain.main(
        [
            *args.model,
            f"--retain-last={args.retain_last}",
            f"--older-than-s={args.older_than_s}",
            f"--every-s={args.every_s}",
        ]
    )


def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate import cluster

    if args.action == "up":
        cluster.up(settings)
    elif args.action == "down":
        cluster.down(settings)
    else:
        for name, value in cluster.status(settings).items():
            print(f"{name:<13} {value if value is not None else 'stopped'}")
    return 0


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate import cluster

    submitted = cluster.submit(settings, args.job, restore_from=args.restore_from)
    print(
        f"submitted {args.job}: job {submitted.job_id} on {settings.cluster.rest_url}"
        + (f", restored from {submitted.restored_from}" if submitted.restored_from else "")
    )
    return 0


def _lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate import cluster

    if args.command == "savepoint":
        job_id = cluster.running_job(settings)
        if job_id is None:
            print(f"lakegate: error: no running job named {settings.job.name}", file=sys.stderr)
            return 2
        print(cluster.savepoint(settings, job_id))
        return 0
    submitted = cluster.upgrade(settings) if args.command == "upgrade" else cluster.resume(settings)
    print(f"{args.command}: job {submitted.job_id}, restored from {submitted.restored_from}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.observe import status

    contracts = load_contracts(settings.paths.schemas_dir)
    print(status.render(*status.collect(settings, contracts, interval_s=args.interval)))
    return 0


def _exporter(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from lakegate.observe.exporter import serving

    with serving(settings, load_contracts(settings.paths.schemas_dir)) as exporter:
        if exporter is None:
            print("lakegate: error: the exporter is off (exporter_port = 0) or its port is taken", file=sys.stderr)
            return 2
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    return 0


def _metrics(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.observe.catalogue import render_markdown

    print(render_markdown(), end="")
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.masked_sections(), indent=2))
    return 0


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.stack import local

    if args.action == "up":
        jvm.ensure_artifacts(settings)
        local.up(settings)
    elif args.action == "down":
        local.down(settings)
    else:
        for name, pid in local.status(settings).items():
            print(f"{name:<9} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0


def _contracts(args: argparse.Namespace, settings: Settings) -> int:
    if args.action in ("check", "publish"):
        from lakegate import contracts_check

        if args.action == "check":
            return contracts_check.run_check(settings, offline=args.offline)
        return contracts_check.run_publish(settings)
    contracts = load_contracts(settings.paths.schemas_dir)
    if args.action == "list":
        for c in contracts:
            print(f"{c.name:<12} topic={c.topic:<22} owner={c.owner_team:<14} versions={len(c.schema_texts)}")
        return 0
    from lakegate.produce import register_contracts

    for name, schema_id in register_contracts(settings.registry_client(), contracts).items():
        print(f"{name}: latest schema id {schema_id}")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.demo import progress_bar
    from lakegate.produce import produce

    report = produce(
        settings,
        load_contracts(settings.paths.schemas_dir),
        args.count,
        rate=args.rate,
        bad_fraction=args.bad_fraction,
        seed=args.seed,
        progress=progress_bar,
    )
    for outcome, n in sorted(report.expected_counts().items()):
        print(f"{outcome:<22} {n}")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from jobs import ingest

    return ingest.main(["--drain"] if args.drain else [])


def _quarantine(args: argparse.Namespace, settings: Settings) -> int:
    from jobs import replay

    argv = [f"--reason={r}" for r in args.reason] + [f"--contract={c}" for c in args.contract]
    return replay.main(argv + (["--dry-run"] if args.dry_run else []))


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.demo import demo

    return demo(settings, count=args.count, bad_fraction=args.bad_fraction, keep_running=args.keep_running)


_HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "setup": _setup,
    "settings": _settings,
    "stack": _stack,
    "contracts": _contracts,
    "produce": _produce,
    "run": _run,
    "quarantine": _quarantine,
    "readmodels": _readmodels,
    "maintain": _maintain,
    "cluster": _cluster,
    "submit": _submit,
    "savepoint": _lifecycle,
    "upgrade": _lifecycle,
    "resume": _lifecycle,
    "status": _status,
    "exporter": _exporter,
    "metrics": _metrics,
    "dashboards": _dashboards,
    "demo": _demo,
}


if __name__ == "__main__":
    sys.exit(main())
