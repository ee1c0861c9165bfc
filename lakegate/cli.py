"""The `lakegate` command.

Commands that run a job (`run ingest`, `quarantine replay`, `maintain`, `readmodels rebuild`) start it by
name through lakegate/launcher.py and forward the user's arguments to it unchanged: the job and its
subcommand declare them once, in lakegate/job_options.py. Modules that pull in pyiceberg, pyarrow or
kafka-python are imported by the commands that need them, so the others start quickly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lakegate import cluster, jvm, launcher, logs
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_ingest_options, add_maintain_options, add_rebuild_options, add_replay_options
from lakegate.observe.catalogue import render_markdown
from lakegate.settings import Settings
from lakegate.stack import OPTIONAL_SERVICES
from udfs.contract import load_contracts

log = logging.getLogger("lakegate")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lakegate", description="Kafka → contracts → Iceberg, on Flink.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="fetch the pinned JVM artifacts (no-op when up to date)")
    sub.add_parser("settings", help="print the effective settings by section (secrets masked)")
    stack = sub.add_parser("stack", help="the local Kafka broker and schema registry (and optional services)")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument(
        "--with",
        dest="extras",
        type=_optional_services,
        default=(),
        help="up: optional services too, comma-separated: rest-catalog (an Iceberg REST catalog on the "
        "loopback port catalog_uri names, docs/catalogs.md), object-store (an S3-compatible store on the "
        "loopback port s3_endpoint names, docs/objectstore.md)",
    )
    contracts = sub.add_parser("contracts", help="contracts in schemas/")
    contracts.add_argument(
        "action",
        choices=["list", "register", "check", "publish", "diff"],
        help="check: CI gate (exit 1 on any ✗); publish: check, then register the versions; "
        "diff: what schemas/ changes against a git revision (exit 1 on a breaking change)",
    )
    contracts.add_argument("--offline", action="store_true", help="check: skip the schema registry")
    contracts.add_argument("--against", default="HEAD", help="diff: the git revision to compare with")
    contracts.add_argument("--json", action="store_true", help="diff: machine-readable output")
    produce = sub.add_parser("produce", help="publish realistic events through the registry")
    produce.add_argument("--count", type=int, default=10_000)
    produce.add_argument("--rate", type=float, default=None, help="records per second (default: as fast as possible)")
    produce.add_argument("--bad-fraction", type=float, default=0.05)
    produce.add_argument("--seed", type=int, default=7)
    run = sub.add_parser("run", help="run a job on a local MiniCluster")
    run_jobs = run.add_subparsers(dest="job", required=True)
    add_ingest_options(_starts_job(run_jobs.add_parser("ingest", help="the ingest job"), "ingest", words=2))
    quarantine = sub.add_parser("quarantine", help="quarantined records")
    qsub = quarantine.add_subparsers(dest="action", required=True)
    replay = qsub.add_parser("replay", help="re-validate quarantined records, audit those that now pass (idempotent)")
    add_replay_options(_starts_job(replay, "replay", words=2))
    _add_read_model_commands(sub)
    _add_cluster_commands(sub)
    _add_observation_commands(sub)
    demo = sub.add_parser("demo", help="set up, start the stack, produce, ingest, summarise, stop")
    demo.add_argument("--count", type=int, default=5_000)
    demo.add_argument("--bad-fraction", type=float, default=0.05)
    demo.add_argument("--keep-running", action="store_true", help="leave the stack running afterwards")
    demo.add_argument(
        "--with",
        dest="extras",
        type=_optional_services,
        default=(),
        help="optional services to start with the stack, as `stack up --with` (e.g. object-store,rest-catalog "
        "with deploy/local/lake-on-object-store.toml)",
    )
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
    add_rebuild_options(_starts_job(rebuild, "rebuild_model", words=2))
    maintain = sub.add_parser("maintain", help="compact small files, expire old snapshots (safe while jobs run)")
    add_maintain_options(_starts_job(maintain, "maintain", words=1))


def _starts_job(parser: argparse.ArgumentParser, job: str, *, words: int) -> argparse.ArgumentParser:
    """Mark ``parser``'s command as one that starts ``job``: the first ``words`` words of the command line
    name the command, the rest are the job's own arguments (see :func:`_start_job`)."""
    parser.set_defaults(start_job=job, command_words=words)
    return parser


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


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(words)
    if "start_job" in args:
        args.job_args = words[args.command_words :]
        return _start_job(args, Settings.load())
    return _HANDLERS[args.command](args, Settings.load())


def _start_job(args: argparse.Namespace, settings: Settings) -> int:
    """Run the job the command names, with the rest of the command line as the user typed it (both parsers
    declare the same options, so the job reads them as this one did); its output goes to the terminal."""
    return launcher.run(args.start_job, settings, args.job_args).returncode


def _setup(args: argparse.Namespace, settings: Settings) -> int:
    jvm.ensure_artifacts(settings)
    jvm.runtime_jar(settings)
    return _dashboards(argparse.Namespace(out=None), settings)


def _dashboards(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.observe import dashboards  # noqa: PLC0415 - pyiceberg (~0.4 s): `dashboards` and `setup` only

    out = args.out or settings.paths.pom.parent / "grafana" / "dashboards"
    for path in dashboards.write(out, load_contracts(settings.paths.schemas_dir), settings):
        log.info("dashboard written", extra=logs.kv(path=str(path)))
    return 0


def _readmodels(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate import readmodels  # noqa: PLC0415 - pyiceberg and pyarrow (~0.5 s): `readmodels` only

    contracts = load_contracts(settings.paths.schemas_dir)
    if args.action == "list":
        for model, contract in readmodels.all_models(contracts):
            table, topic = readmodels.table_name(settings, model), readmodels.changelog_topic(settings, model)
            print(
                f"{model.name:<26} {type(model).__name__:<15} contract={contract.name:<10} "
                f"table={table:<34} topic={topic}"
            )
        return 0
    model, _ = readmodels.find(contracts, args.name)  # `show`; `rebuild` starts its job (see main)
    rows = readmodels.current(readmodels.read_log(settings, model), model)
    if args.key is not None:
        rows = readmodels.select_key(rows, model, args.key)
    shown = f" (first {args.limit})" if rows.num_rows > args.limit else ""
    print(f"{args.name}: {rows.num_rows} current rows{shown}")
    for row in rows.slice(0, args.limit).to_pylist():
        print("  " + json.dumps(row, default=str, sort_keys=False))
    return 0


def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "up":
        cluster.up(settings)
    elif args.action == "down":
        cluster.down(settings)
    else:
        for name, value in cluster.status(settings).items():
            print(f"{name:<13} {value if value is not None else 'stopped'}")
    return 0


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    submitted = cluster.submit(settings, args.job, restore_from=args.restore_from)
    print(
        f"submitted {args.job}: job {submitted.job_id} on {settings.cluster.rest_url}"
        + (f", restored from {submitted.restored_from}" if submitted.restored_from else "")
    )
    return 0


def _lifecycle(args: argparse.Namespace, settings: Settings) -> int:
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
    from lakegate.observe import status  # noqa: PLC0415 - pyiceberg, pyarrow, kafka-python (~0.5 s)

    contracts = load_contracts(settings.paths.schemas_dir)
    print(status.render(*status.collect(settings, contracts, interval_s=args.interval)))
    return 0


def _exporter(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.observe.exporter import serving  # noqa: PLC0415 - pyiceberg, pyarrow, kafka-python (~0.5 s)

    with serving(settings, load_contracts(settings.paths.schemas_dir)) as exporter:
        if exporter is None:
            print("lakegate: error: the exporter is off (exporter_port = 0) or its port is taken", file=sys.stderr)
            return 2
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    return 0


def _metrics(args: argparse.Namespace, settings: Settings) -> int:
    print(render_markdown(), end="")
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.masked_sections(), indent=2))
    return 0


def _optional_services(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(set(names) - set(OPTIONAL_SERVICES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown service {', '.join(unknown)}; known: {', '.join(OPTIONAL_SERVICES)}")
    return names


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.stack import local  # noqa: PLC0415 - kafka-python (~70 ms): `stack` only

    if args.action == "up":
        jvm.ensure_artifacts(settings)
        local.up(settings, args.extras)
    elif args.action == "down":
        local.down(settings)
    else:
        for name, pid in local.status(settings).items():
            print(f"{name:<12} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0


def _contracts(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "diff":
        from lakegate import contracts_diff  # noqa: PLC0415 - `diff` only

        return contracts_diff.run_diff(settings.paths.schemas_dir, args.against, machine=args.json)
    if args.action in ("check", "publish"):
        from lakegate import contracts_check  # noqa: PLC0415 - pyiceberg (~0.4 s): `check`, `publish` only

        if args.action == "check":
            return contracts_check.run_check(settings, offline=args.offline)
        return contracts_check.run_publish(settings)
    contracts = load_contracts(settings.paths.schemas_dir)
    if args.action == "list":
        for c in contracts:
            print(f"{c.name:<12} topic={c.topic:<22} owner={c.owner_team:<14} versions={len(c.schema_texts)}")
        return 0
    from lakegate.produce import register_contracts  # noqa: PLC0415 - kafka-python (~80 ms): `register` only

    for name, schema_id in register_contracts(settings.registry_client(), contracts).items():
        print(f"{name}: latest schema id {schema_id}")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.demo import progress_bar  # noqa: PLC0415 - pyiceberg, pyarrow (~0.5 s): `produce` only
    from lakegate.produce import produce  # noqa: PLC0415 - kafka-python (~80 ms): `produce` only

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


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from lakegate.demo import demo  # noqa: PLC0415 - pyiceberg, pyarrow, kafka-python (~0.5 s): `demo` only

    return demo(
        settings,
        count=args.count,
        bad_fraction=args.bad_fraction,
        keep_running=args.keep_running,
        extras=args.extras,
    )


_HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "setup": _setup,
    "settings": _settings,
    "stack": _stack,
    "contracts": _contracts,
    "produce": _produce,
    "readmodels": _readmodels,
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
