"""Benchmark: lakegate's ingest job side by side with pure-Java Flink SQL and a plain Python consumer.

Usage:  .venv/bin/python -m bench.compare [--events 2000000] [--parallelism 1 2] [--repeats 2]

Starts a private stack, pre-loads ``--events`` records once, then per repeat and parallelism runs each
pipeline on that same data into tables of its own: ``lakegate`` (jobs/ingest.py), ``lakegate_s3`` (the same
job with the lake in a bucket of a local S3Proxy), ``java`` (bench/flink_sql.py) and ``plain``
(bench/plain_consumer.py), each followed by a latency phase. Every run is
checked against what was produced (``ok``; exit code 1 otherwise) and measured. Appends one JSON line to
bench/results/compare.jsonl (``--results``) and prints a table. What each pipeline runs and what each figure
means: bench/README.md, "bench/compare.py".
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from bench import measure
from bench.changelog_latency import Follower
from bench.data import Manifest, bench_contracts, manifest_from_json, padding_for
from bench.java_build import build_jar
from bench.modes import code_version, machine
from bench.plain_env import ensure_plain_venv
from bench.task import Task
from lakegate import catalog, jvm, launcher, readmodels
from lakegate.entrypoint import entry_point
from lakegate.events import Padding
from lakegate.kafka_admin import ensure_topics
from lakegate.produce import produce
from lakegate.provision import provision
from lakegate.settings import Settings
from lakegate.stack import local, objectstore
from lakegate.testing.ports import free_port, free_port_range
from udfs.contract import Contracts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "compare.jsonl"
PIPELINES = ("lakegate", "lakegate_s3", "java", "plain")
LAKEGATE_PIPELINES = ("lakegate", "lakegate_s3")  # jobs/ingest.py, with its quarantine and read models
BUCKET = "bench-lake"  # lakegate_s3's bucket; each run's lake under a prefix of its own
PIPELINE_NOTES = {  # recorded with the results: what each pipeline does that the figures depend on
    "lakegate": "jobs/ingest.py as shipped (thread mode): contract checks, dedupe, audit tables (Iceberg FlinkSink "
    "v1), quarantine table + transactional dead-letter topic, the read models kept; bad records "
    "quarantined",
    "lakegate_s3": "lakegate as above with the lake in an S3 bucket (s3_warehouse): Iceberg's S3FileIO on the JVM, "
    "pyarrow's S3 filesystem in Python, the SQLite catalog; the store is S3Proxy on loopback (filesystem "
    "backend, a JVM sharing the machine's cores); checkpoints stay on local disk",
    "java": "Flink SQL, Kafka avro-confluent -> Iceberg (Sink V2), no quarantine. avro-confluent has no "
    "ignore-parse-errors option and fails the job on the first undecodable record, so the format runs "
    "wrapped (bench/java: skip it, reset Avro's reused decoder); records that decode but break a rule "
    "or the key checks are written",
    "plain": "kafka-python (crc32c) + fastavro + pyiceberg appends, own virtualenv; undecodable records counted "
    "and skipped, decodable bad ones written (no contract checks)",
}


@dataclass(slots=True)
class Bench:
    """What every run shares: the stack, the pre-loaded data and the options."""

    args: argparse.Namespace
    settings: Settings  # the private stack, the pre-loaded contracts
    contracts: Contracts
    manifest: Manifest
    padding: Padding
    plain_python: Path
    source_schemas: Path  # the repo's contracts, which every run's contracts are derived from


@dataclass(slots=True)
class Run:
    pipeline: str
    parallelism: int
    repeat: int
    measured: measure.Measured
    check: dict[str, Any]
    ok: bool
    steady: measure.Steady | None
    latency: dict[str, Any] = field(default_factory=dict)

    def events_per_s(self, events: int) -> float:
        return events / max(self.measured.net_s, 1e-9)

    def cpu_per_million(self, events: int) -> float:
        return self.measured.cpu_s / events * 1e6

    def as_dict(self, events: int) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            events_per_s=round(self.events_per_s(events)),
            events_per_s_wall=round(events / max(self.measured.wall_s, 1e-9)),
            cpu_s_per_million=round(self.cpu_per_million(events), 1),
        )
        return out


# ---- one pipeline ---------------------------------------------------------------------------------


def pipeline_settings(
    bench: Bench, pipeline: str, tag: str, parallelism: int, *, schemas_dir: Path, drain: bool
) -> Settings:
    """Everything a run writes is its own (tables, topics, group, transactional ids; lakegate_s3: its lake)."""
    return bench.settings.replace(
        s3_warehouse=f"s3://{BUCKET}/{tag}" if pipeline == "lakegate_s3" else "",
        schemas_dir=schemas_dir,
        drain=drain,
        parallelism=parallelism,
        job_name=f"bench-{tag}",
        audit_namespace=tag,
        quarantine_namespace=f"{tag}_q",
        readmodel_namespace=f"{tag}_rm",
        dlq_topic=f"bench.dlq.{tag}",
        changelog_topic_prefix=f"bench.rm.{tag}.",
        consumer_group=f"bench-{tag}",
    )


def launch(
    bench: Bench, pipeline: str, settings: Settings, contracts: Contracts, task: Task
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a pipeline process; creates the tables (and topics) it writes."""
    env = settings.child_env()
    env["PYTHONPATH"] = str(ROOT)  # this checkout, whichever copy a virtualenv's editable install names
    if pipeline in LAKEGATE_PIPELINES:
        provision(settings, contracts)  # the job does it too; here so tables and changelog topics exist early
        return launcher.command("ingest"), env
    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        catalog.ensure_audit_table(iceberg, settings, contract)  # the audit table's shape and partitioning
    task_file = task.save(settings.paths.home / f"task-{settings.catalog.audit_namespace}.json")
    if pipeline == "java":
        return [sys.executable, "-m", "bench.flink_sql", str(task_file)], env
    return [str(bench.plain_python), "-m", "bench.plain_consumer", str(task_file)], env


def task_for(bench: Bench, settings: Settings, *, bounded: bool) -> Task:
    ends: dict[str, dict[int, int]] = {}
    for (topic, partition), end in bench.manifest.end_offsets.items():
        ends.setdefault(topic, {})[partition] = end
    return Task(
        namespace=settings.catalog.audit_namespace,
        group=settings.kafka.consumer_group,
        end_offsets=ends if bounded else None,
        parallelism=settings.job.parallelism,
        batch_records=bench.args.batch_records,
        flush_ms=settings.job.checkpoint_interval_ms,
    )


def tables(settings: Settings, contracts: Contracts) -> list[Table]:
    iceberg = catalog.open_catalog(settings)
    return [iceberg.load_table(catalog.audit_table_name(settings, c)) for c in contracts]


def throughput(bench: Bench, pipeline: str, parallelism: int, repeat: int) -> Run:
    tag = f"{pipeline}_p{parallelism}_r{repeat}"
    settings = pipeline_settings(
        bench, pipeline, tag, parallelism, schemas_dir=bench.settings.paths.schemas_dir, drain=True
    )
    command, env = launch(bench, pipeline, settings, bench.contracts, task_for(bench, settings, bounded=True))
    timeout = 900 + bench.manifest.events / 500
    measured, cpu = measure.run_measured(command, env, bench.settings.paths.home / f"{tag}.out", timeout_s=timeout)
    written, check = check_written(bench, settings, quarantines=pipeline in LAKEGATE_PIPELINES)
    return Run(pipeline, parallelism, repeat, measured, check.as_dict(), check.ok, measure.steady(written, cpu))


def check_written(bench: Bench, settings: Settings, *, quarantines: bool) -> tuple[list[Table], measure.Check]:
    """The run's audit tables, and whether they hold each valid pre-loaded record exactly once (and, for a
    pipeline that ``quarantines``, whether its quarantine table holds exactly the bad ones)."""
    written = tables(settings, bench.contracts)
    quarantine = None
    if quarantines:
        q_table = catalog.open_catalog(settings).load_table(catalog.quarantine_table_name(settings))
        quarantine = measure.coordinates([q_table], ("source_topic", "source_partition", "source_offset"))
    return written, measure.check(measure.coordinates(written), bench.manifest, quarantine)


# ---- latency --------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout_s: float, child: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if child.poll() is not None:
            raise RuntimeError(f"pipeline exited ({child.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout_s:.0f}s")
        time.sleep(0.5)


def rows_visible(settings: Settings, contracts: Contracts) -> int:
    try:
        return measure.visible_rows(tables(settings, contracts))
    except NoSuchTableError:
        return 0


def latency_phase(bench: Bench, pipeline: str, parallelism: int, repeat: int) -> dict[str, Any]:
    """The pipeline unbounded on fresh topics; probes at a steady rate; produce → commit per probe."""
    tag = f"{pipeline}_p{parallelism}_r{repeat}_lat"
    args = bench.args
    schemas = bench.settings.paths.home / "schemas" / tag
    contracts = bench_contracts(
        bench.source_schemas,
        schemas,
        topic_prefix=f"bench.{tag}.",
        read_models=args.read_models,
        expression_rules=not args.no_expression_rules,
    )
    settings = pipeline_settings(bench, pipeline, tag, parallelism, schemas_dir=schemas, drain=False)
    ensure_topics(settings, [c.topic for c in contracts])
    command, env = launch(bench, pipeline, settings, contracts, task_for(bench, settings, bounded=False))
    followers = _followers(settings, contracts) if pipeline in LAKEGATE_PIPELINES else []
    child = measure.start(command, env, bench.settings.paths.home / f"{tag}.out")
    try:
        warm = produce(settings, contracts, args.warmup_events, padding=bench.padding, seed=repeat + 11)
        wait_for(lambda: rows_visible(settings, contracts) >= len(warm.records), 300, child, "warm-up rows")
        for follower in followers:
            follower.ready()
        time.sleep(settings.job.checkpoint_interval_ms / 1000)  # past the warm-up's commit
        probes = produce(
            settings,
            contracts,
            round(args.probe_rate * args.probe_seconds),
            rate=args.probe_rate,
            padding=bench.padding,
            seed=repeat + 12,
        )
        expected = len(warm.records) + len(probes.records)
        wait_for(
            lambda: rows_visible(settings, contracts) >= expected,
            60 + 3 * settings.job.checkpoint_interval_ms / 1000,
            child,
            "probe rows",
        )
        _quiet(followers, settings)
    finally:
        measure.stop(child)
        for follower in followers:
            follower.stop.set()
            follower.join()
    sent = {(r.topic, r.partition, r.offset): r.timestamp_ms for r in probes.records}
    out = {"iceberg": measure.latency(measure.visible_at(tables(settings, contracts)), sent)}
    if followers:
        out["changelog"] = measure.latency(followers[0].received, sent, all_expected=False)
    return out


def _followers(settings: Settings, contracts: Contracts) -> list[Follower]:
    """A read_committed consumer of every changelog topic (what a service reading the model sees)."""
    topics = [readmodels.changelog_topic(settings, m) for m, _ in readmodels.all_models(contracts)]
    if not topics:
        return []
    follower = Follower(settings, topics, "read_committed")
    follower.start()
    return [follower]


def _quiet(followers: list[Follower], settings: Settings) -> None:
    """Until no changelog record came for two checkpoint intervals (the last transaction has committed)."""
    quiet_s = 2 * settings.job.checkpoint_interval_ms / 1000 + 2
    deadline = time.monotonic() + 60
    while any(time.monotonic() - f.last_receive < quiet_s for f in followers) and time.monotonic() < deadline:
        time.sleep(0.5)


# ---- the whole benchmark --------------------------------------------------------------------------


def run_all(bench: Bench) -> list[Run]:
    """Every pipeline at every parallelism, ``repeats`` times; odd repeats in reverse order, so drift in
    the machine's load (or a warm page cache) does not always favour the same pipeline."""
    runs = []
    for repeat in range(bench.args.repeats):
        for parallelism in bench.args.parallelism:
            order = bench.args.pipelines if repeat % 2 == 0 else list(reversed(bench.args.pipelines))
            for pipeline in order:
                run = throughput(bench, pipeline, parallelism, repeat)
                print(_line(run, bench.manifest.events), flush=True)
                if bench.args.probe_seconds > 0:
                    run.latency = latency_phase(bench, pipeline, parallelism, repeat)
                    print(f"    latency {json.dumps(run.latency)}", flush=True)
                runs.append(run)
    return runs


def _line(run: Run, events: int) -> str:
    m = run.measured
    return (
        f"  {run.pipeline:<8} p{run.parallelism} r{run.repeat}  {run.events_per_s(events):>9,.0f} ev/s  "
        f"net {m.net_s:7.1f}s  wall {m.wall_s:7.1f}s  cpu {m.cpu_s:7.1f}s  peak {m.peak_rss_mb:6.0f} MB  "
        f"rows {run.check['rows']}  ok={run.ok}"
    )


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(runs: list[Run], events: int) -> dict[str, dict[str, Any]]:
    """Medians over repeats, per pipeline and parallelism (key ``<pipeline>/p<N>``)."""
    summary: dict[str, dict[str, Any]] = {}
    for key in sorted({(r.pipeline, r.parallelism) for r in runs}):
        mine = [r for r in runs if (r.pipeline, r.parallelism) == key]
        summary[f"{key[0]}/p{key[1]}"] = {
            "events_per_s": _median([r.events_per_s(events) for r in mine]),
            "steady_rows_per_s": _median([r.steady.rows_per_s if r.steady else None for r in mine]),
            "steady_cpu_s_per_million": _median([r.steady.cpu_s_per_million if r.steady else None for r in mine]),
            "cpu_s_per_million": _median([r.cpu_per_million(events) for r in mine]),
            "peak_rss_mb": max(r.measured.peak_rss_mb for r in mine),
            **{
                f"{target}_{q}": _median([r.latency.get(target, {}).get(f"{q}_ms") for r in mine])
                for target in ("iceberg", "changelog")
                for q in ("p50", "p99")
            },
        }
    return summary


def ratios(summary: dict[str, dict[str, Any]], parallelisms: list[int]) -> dict[str, Any]:
    """Within this run: each pipeline against lakegate at the same parallelism, and each one's scaling."""
    out: dict[str, Any] = {}
    for p in parallelisms:
        base = summary.get(f"lakegate/p{p}")
        for pipeline in ("lakegate_s3", "java", "plain"):
            other = summary.get(f"{pipeline}/p{p}")
            if base and other:
                out[f"{pipeline}_vs_lakegate/p{p}"] = {
                    "throughput": _ratio(other["events_per_s"], base["events_per_s"]),
                    "cpu_per_event": _ratio(other["cpu_s_per_million"], base["cpu_s_per_million"]),
                }
    if len(parallelisms) > 1:
        low, high = min(parallelisms), max(parallelisms)
        for pipeline in PIPELINES:
            a, b = summary.get(f"{pipeline}/p{low}"), summary.get(f"{pipeline}/p{high}")
            if a and b:
                out[f"scaling_{pipeline}_p{high}_vs_p{low}"] = _ratio(b["events_per_s"], a["events_per_s"])
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


_COLUMNS = (  # (heading, summary key, format)
    ("events/s", "events_per_s", ",.0f"),
    ("cpu s/M", "cpu_s_per_million", ",.1f"),
    ("steady/s", "steady_rows_per_s", ",.0f"),
    ("st.cpu/M", "steady_cpu_s_per_million", ",.1f"),
    ("peak MB", "peak_rss_mb", ",.0f"),
    ("ice p50", "iceberg_p50", ",.0f"),
    ("ice p99", "iceberg_p99", ",.0f"),
    ("chg p50", "changelog_p50", ",.0f"),
    ("chg p99", "changelog_p99", ",.0f"),
)


def print_table(summary: dict[str, dict[str, Any]], compared: dict[str, Any]) -> None:
    print("\n" + f"{'pipeline':<15}" + "".join(f" {heading:>9}" for heading, _, _ in _COLUMNS))
    for key, values in summary.items():
        cells = ("-" if values[k] is None else format(values[k], spec) for _, k, spec in _COLUMNS)
        print(f"{key:<15}" + "".join(f" {cell:>9}" for cell in cells))
    for name, value in compared.items():
        print(f"  {name}: {value}")


def record(bench: Bench, runs: list[Run], summary: dict[str, Any], compared: dict[str, Any], path: Path) -> None:
    args = bench.args
    entry = {
        "code": code_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["python -m bench.compare", *sys.argv[1:]]),
        "machine": {**machine(), "loadavg_at_start": args.loadavg_at_start},
        "options": {
            "events": args.events,
            "event_bytes": args.event_bytes,
            "bad_fraction": args.bad_fraction,
            "parallelism": args.parallelism,
            "repeats": args.repeats,
            "pipelines": args.pipelines,
            "checkpoint_ms": args.checkpoint_ms,
            "state_backend": bench.settings.job.state_backend,
            "batch_records": args.batch_records,
            "read_models": args.read_models,
            "expression_rules": not args.no_expression_rules,
            "probe_rate": args.probe_rate,
            "probe_seconds": args.probe_seconds,
            "padding_chars": bench.padding.chars,
        },
        "preload": bench.manifest.summary(),
        "pipelines": {p: PIPELINE_NOTES[p] for p in args.pipelines},
        "runs": [r.as_dict(bench.manifest.events) for r in runs],
        "summary": summary,
        "ratios": compared,
        "ok": all(r.ok for r in runs),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(entry) + "\n")
    print(f"recorded in {path}")


# ---- setting up -----------------------------------------------------------------------------------


def stack_settings(args: argparse.Namespace, home: Path) -> Settings:
    defaults = Settings.load(env={})
    settings = Settings.load(
        env={},
        home=home,
        artifacts_dir=defaults.paths.jvm_dir,
        schemas_dir=home / "schemas" / "data",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
        metrics_port=free_port_range(4),
        flink_rest_port=free_port_range(4),
        exporter_port=0,
        checkpoint_interval_ms=args.checkpoint_ms,
        start_from="earliest",
        state_backend=args.state_backend or defaults.job.state_backend,
    )
    if "lakegate_s3" not in args.pipelines:
        return settings
    # lakegate_s3's object store (S3Proxy on loopback); only a run with s3_warehouse set uses it.
    return settings.replace(
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="bench",
        s3_secret_access_key=secrets.token_urlsafe(24),
    )


def prepare(args: argparse.Namespace, settings: Settings) -> Bench:
    """The stack must be up: data contracts, the pre-load (in the bench virtualenv), the Java format jar."""
    source = Settings.load(env={}).paths.schemas_dir
    contracts = bench_contracts(
        source,
        settings.paths.schemas_dir,
        topic_prefix="bench.data.",
        read_models=args.read_models,
        expression_rules=not args.no_expression_rules,
    )
    ensure_topics(settings, [c.topic for c in contracts])
    padding = padding_for(contracts, args.event_bytes)
    plain_python = ensure_plain_venv(Settings.load(env={}).paths.home / "bench-venv")
    build_jar(settings, settings.paths.home / "bench-formats.jar")
    print(f"pre-loading {args.events:,} events (padding {padding.chars} chars) ...", flush=True)
    env = settings.child_env()
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [str(plain_python), "-m", "bench.data", str(args.events), str(args.bad_fraction), str(padding.chars)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    manifest_text = out.stdout.strip().splitlines()[-1]
    (settings.paths.home / "manifest.json").write_text(manifest_text)  # for checking the tables afterwards
    manifest = manifest_from_json(manifest_text)
    print(f"pre-loaded: {json.dumps(manifest.summary())}", flush=True)
    return Bench(args, settings, contracts, manifest, padding, plain_python, source)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--event-bytes", type=int, default=850, help="average Avro value size to pad to")
    parser.add_argument("--bad-fraction", type=float, default=0.001)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=PIPELINES)
    parser.add_argument("--checkpoint-ms", type=int, default=5000, help="Flink checkpoints; plain: longest wait")
    parser.add_argument("--batch-records", type=int, default=20_000, help="plain consumer: records per append")
    parser.add_argument(
        "--read-models", nargs="*", default=["open_tickets"], help="lakegate read models kept (none: no read model)"
    )
    parser.add_argument(
        "--state-backend", choices=("hashmap", "rocksdb"), default=None, help="lakegate's (default: its setting's)"
    )
    parser.add_argument("--probe-rate", type=float, default=100.0, help="latency probes per second")
    parser.add_argument("--probe-seconds", type=float, default=30.0, help="0: no latency phase")
    parser.add_argument("--warmup-events", type=int, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--home", type=Path, default=None, help="where the run's stack and tables live (kept)")
    parser.add_argument(
        "--no-expression-rules", action="store_true", help="the contracts without their CEL rules (their cost)"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    args.loadavg_at_start = Path("/proc/loadavg").read_text().split()[:3]
    return args


@entry_point
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="lakegate-compare-"))
    settings = stack_settings(args, home)
    jvm.ensure_artifacts(settings)
    started = time.monotonic()
    local.up(settings)
    store = settings.replace(s3_warehouse=f"s3://{BUCKET}") if "lakegate_s3" in args.pipelines else None
    try:
        if store is not None:
            objectstore.start(store)  # with the bucket
        bench = prepare(args, settings)
        runs = run_all(bench)
    finally:
        if store is not None:
            objectstore.stop(store)
        local.down(settings)
    summary = summarize(runs, bench.manifest.events)
    compared = ratios(summary, args.parallelism)
    print_table(summary, compared)
    print(f"elapsed {time.monotonic() - started:,.0f}s; stack home {home}")
    if not all(r.ok for r in runs):
        print("WARNING: a run did not account for every valid record (see 'check' in the results)")
    if not args.no_record:
        record(bench, runs, summary, compared, args.results)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
