"""What the Java↔Python boundary costs per record when Python is called on packed batches of 1, 64 and 512 records.

Usage:  .venv/bin/python -m bench.batch_sizes [--events 300000] [--batch-sizes 1 64 512] [--variants empty route]
                                             [--repeats 2] [--max-delay-ms 1000] [--results PATH] [--no-record]

Per batch size N and variant, a bounded job on a MiniCluster in this process's gateway JVM: Kafka source →
pack (batches of N) → one Python map (``empty``: the crossing alone; ``route``: jobs.route.RouteBatches) → a
discarding sink. A fit µs/record = r + c · batches/record over the sizes gives c, the cost of one call.
Appends one JSON record to bench/results/batch_sizes.jsonl. Method: bench/README.md, "bench/batch_sizes.py".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyflink.java_gateway
from pyflink.datastream import DataStream, MapFunction, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from bench import compare
from bench.modes import machine, tree_pids
from jobs import plan as job_plan
from jobs.ingest import ROUTE
from jobs.route import BATCH, RouteBatches
from jobs.runtime import flink_configuration, prepare_process
from lakegate import catalog, jvm
from lakegate.entrypoint import entry_point
from lakegate.provision import provision
from lakegate.settings import Settings
from lakegate.stack import local
from udfs.batch import ResultWriter

RESULTS = Path(__file__).resolve().parent / "results" / "batch_sizes.jsonl"
MAX_BYTES = 64 * 2**20  # the byte cap: never reached (512 records of ~850 bytes are ~450 KB)
VARIANTS = {
    "empty": "the input batch crosses into Python, an empty result batch (4 zero bytes) crosses back",
    "route": "jobs.route.RouteBatches with the job's plan: parse, decode, rules, PII, model events, result batch, "
    "metrics",
}
_TICK = os.sysconf("SC_CLK_TCK")


# ---- the Python side (runs in the job's JVM: what it saw goes to a file when it closes) --------------------


class _Tally:
    """What a map function saw (records, batches, the largest batch, result entries), and the steady window:
    from the end of its first call to its close, the wall time and the CPU time of its process, which in
    thread mode is the JVM (``time.process_time`` counts every thread of the process)."""

    def __init__(self, path: str) -> None:
        self.path, self.records, self.batches, self.largest, self.entries = path, 0, 0, 0, 0
        self.first_records, self.first_at, self.first_cpu = 0, 0.0, 0.0

    def add(self, batch: bytes, result: bytes) -> None:
        records = int.from_bytes(batch[:4], "big")  # the batch's record count (docs/hotpath.md, "Input batch")
        self.records += records
        self.batches += 1
        self.largest = max(self.largest, records)
        self.entries += int.from_bytes(result[:4], "big")
        if self.batches == 1:  # the window starts after the first call: job start-up and open() left out
            self.first_records, self.first_at, self.first_cpu = records, time.monotonic(), time.process_time()

    def save(self) -> None:
        steady_s, steady_cpu_s = time.monotonic() - self.first_at, time.process_time() - self.first_cpu
        counts = {
            "records": self.records,
            "batches": self.batches,
            "largest": self.largest,
            "entries": self.entries,
            "steady_records": self.records - self.first_records,
            "steady_s": steady_s if self.batches else 0.0,
            "steady_cpu_s": steady_cpu_s if self.batches else 0.0,
        }
        Path(self.path).write_text(json.dumps(counts))


class EmptyBatches(MapFunction):  # type: ignore[misc]  # pyflink is untyped
    """Input batch → an empty result batch: the crossing in and out, and nothing else."""

    def __init__(self, counts_file: Path) -> None:
        self._tally = _Tally(str(counts_file))
        self._empty = b""

    def open(self, runtime_context: Any) -> None:
        self._empty = ResultWriter().finish()  # i32 0: a result batch of no entries

    def map(self, value: bytes) -> bytes:
        self._tally.add(value, self._empty)
        return self._empty

    def close(self) -> None:
        self._tally.save()


class CountedRoute(RouteBatches):
    """The job's route, counting what it saw."""

    def __init__(self, settings: Settings, plan: Mapping[str, Any], counts_file: Path) -> None:
        super().__init__(settings, plan)
        self._tally = _Tally(str(counts_file))

    def map(self, value: Any) -> bytes:
        result = super().map(value)
        self._tally.add(value, result)
        return result

    def close(self) -> None:
        self._tally.save()
        super().close()


# ---- one run ----------------------------------------------------------------------------------------------


# The figures per record, each in µs: ``<figure>_us_per_record`` in a run's dict and in the summary.
FIGURES = {
    "net": "Flink's net runtime of the job",
    "cpu": "CPU of the JVM and this process during env.execute() (start-up and shutdown included)",
    "steady": "wall time in the JVM from the end of the first call to the function's close",
    "steady_cpu": "CPU of the JVM over the same window",
}


@dataclass(frozen=True, slots=True)
class Run:
    variant: str
    batch_size: int
    repeat: int  # -1: the warm-up
    net_s: float  # Flink's net runtime (JobExecutionResult.get_net_runtime)
    wall_s: float  # env.execute(), MiniCluster start and stop included
    jvm_cpu_s: float  # the gateway JVM: MiniCluster, source, pack, Python (thread mode), sink
    client_cpu_s: float  # this process while the job ran
    records: int  # what the Python function saw
    batches: int
    largest_batch: int
    entries: int  # result entries it returned (route: one per record; empty: none)
    steady_records: int  # the records after the first batch
    steady_s: float  # from the end of the first call to close(), measured in the JVM
    steady_cpu_s: float  # the JVM's CPU over that window
    ok: bool

    @property
    def cpu_s(self) -> float:
        return self.jvm_cpu_s + self.client_cpu_s

    def as_dict(self) -> dict[str, Any]:
        records = max(self.records, 1)
        steady = self.steady_records > 0
        return {
            **asdict(self),
            "cpu_s": round(self.cpu_s, 2),
            "records_per_s": round(self.records / max(self.net_s, 1e-9)),
            "records_per_batch": round(self.records / max(self.batches, 1), 2),
            "net_us_per_record": round(self.net_s / records * 1e6, 2),
            "cpu_us_per_record": round(self.cpu_s / records * 1e6, 2),
            "steady_us_per_record": round(self.steady_s / self.steady_records * 1e6, 2) if steady else None,
            "steady_cpu_us_per_record": round(self.steady_cpu_s / self.steady_records * 1e6, 2) if steady else None,
        }


class Gateway:
    """PyFlink's gateway JVM, started by this process (so its CPU can be read from /proc)."""

    def __init__(self, settings: Settings) -> None:
        launch = pyflink.java_gateway.launch_gateway_server_process
        started: list[subprocess.Popen[bytes]] = []

        def launch_and_keep(env: Any, args: Any) -> subprocess.Popen[bytes]:
            process: subprocess.Popen[bytes] = launch(env, args)
            started.append(process)
            return process

        # The job's settings in the JVM's environment, as `lakegate` gives the ingest job its own (the route's
        # open() reads its worker secrets there); HADOOP_CLASSPATH and the log folder as the job sets them.
        for name in [k for k in os.environ if k.startswith("LAKEGATE_")]:
            del os.environ[name]
        os.environ.update(settings.to_env())
        prepare_process(settings)
        pyflink.java_gateway.launch_gateway_server_process = launch_and_keep
        try:
            get_gateway()
        finally:
            pyflink.java_gateway.launch_gateway_server_process = launch
        if not started:
            raise RuntimeError("PyFlink's gateway was already running: its CPU cannot be told from the stack's")
        self.process = started[0]

    def cpu_s(self) -> float:
        """CPU seconds of the gateway JVM and anything it started (thread mode: nothing)."""
        total = 0
        for pid in tree_pids(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / _TICK


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_settings(base: Settings, tag: str, batch_size: int, max_delay_ms: int) -> Settings:
    return base.replace(
        job_name=f"bench-{tag}",
        consumer_group=f"bench-{tag}",
        batch_max_records=batch_size,
        batch_max_bytes=MAX_BYTES,
        batch_max_delay_ms=max_delay_ms,
    )


def environment(settings: Settings) -> StreamExecutionEnvironment:
    """The job's own Flink configuration (jobs/runtime.py), without checkpoints: a barrier would flush a
    batch early, and the source's snapshots are not what is measured."""
    conf = flink_configuration(settings)
    conf.remove_config("execution.checkpointing.interval")
    return StreamExecutionEnvironment.get_execution_environment(conf)


@dataclass(frozen=True, slots=True)
class Runner:
    bench: compare.Bench  # the stack, the pre-loaded records and contracts
    base: Settings  # the provisioned tables the plan names; each run changes its name, group and batch caps
    gateway: Gateway
    max_delay_ms: int

    def run(self, variant: str, batch_size: int, repeat: int) -> Run:
        tag = f"batch_sizes_{variant}_{batch_size}_" + ("warmup" if repeat < 0 else f"r{repeat}")
        settings = run_settings(self.base, tag, batch_size, self.max_delay_ms)
        plan = job_plan.build(settings, self.bench.contracts, catalog.open_catalog(settings))
        kafka = plan["kafka"]
        assert kafka["startup"] == "earliest" and kafka["bounded"], kafka  # every run reads the same records
        counts_file = settings.paths.home / "counts" / f"{tag}.json"
        counts_file.parent.mkdir(parents=True, exist_ok=True)
        counts_file.unlink(missing_ok=True)
        function = EmptyBatches(counts_file) if variant == "empty" else CountedRoute(settings, plan, counts_file)
        env = environment(settings)
        jvm_view = get_gateway().jvm
        j_batches = jvm_view.io.lakegate.flink.ingest.IngestGraph.source(
            env._j_stream_execution_environment, job_plan.to_json(plan)
        )
        routed = DataStream(j_batches).map(function, output_type=BATCH).name(ROUTE).uid(ROUTE)
        sink = jvm_view.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink
        routed._j_data_stream.sinkTo(sink()).name("discard").uid("discard")
        jvm_before, own_before, started = self.gateway.cpu_s(), _own_cpu_s(), time.monotonic()
        result = env.execute(settings.job.name)
        wall = time.monotonic() - started
        jvm_cpu, own_cpu = self.gateway.cpu_s() - jvm_before, _own_cpu_s() - own_before
        counts = json.loads(counts_file.read_text())
        events = self.bench.manifest.events
        ok = counts["records"] == events and counts["entries"] == (events if variant == "route" else 0)
        return Run(
            variant,
            batch_size,
            repeat,
            round(result.get_net_runtime() / 1000, 3),
            round(wall, 2),
            round(jvm_cpu, 2),
            round(own_cpu, 2),
            counts["records"],
            counts["batches"],
            counts["largest"],
            counts["entries"],
            counts["steady_records"],
            round(counts["steady_s"], 3),
            round(counts["steady_cpu_s"], 3),
            ok=ok and counts["largest"] <= batch_size,
        )


def run_order(batch_sizes: Sequence[int], variants: Sequence[str], repeat: int) -> list[tuple[str, int]]:
    """Every (variant, batch size), batch sizes outermost; reversed on odd repeats, so drift in the machine's
    load (or the JVM warming up further) does not always favour the same runs."""
    order = [(variant, size) for size in batch_sizes for variant in variants]
    return order if repeat % 2 == 0 else order[::-1]


def _line(run: Run) -> str:
    d = run.as_dict()
    return (
        f"  {'warm-up' if run.repeat < 0 else f'r{run.repeat}':<7} {run.variant:<6} {run.batch_size:>5}  "
        f"{d['records_per_s']:>9,} rec/s  net {run.net_s:7.2f}s  cpu {run.cpu_s:7.2f}s  "
        f"{d['net_us_per_record']:7.2f} µs/rec net  {d['cpu_us_per_record']:7.2f} µs/rec cpu  "
        f"{d['records_per_batch']:6.1f} rec/batch  ok={run.ok}"
    )


# ---- figures from the runs (plain dicts: Run.as_dict) ------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians over repeats: ``summary[variant][str(batch size)]``."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, size in sorted({(r["variant"], r["batch_size"]) for r in runs}):
        mine = [r for r in runs if (r["variant"], r["batch_size"]) == (variant, size)]
        keys = ("net_s", "cpu_s", "records_per_s", "records_per_batch", *(f"{f}_us_per_record" for f in FIGURES))
        summary.setdefault(variant, {})[str(size)] = {
            "runs": len(mine),
            **{k: _median([r[k] for r in mine]) for k in keys},
        }
    return summary


def per_call_fit(points: Mapping[str, Mapping[str, Any]], figure: str) -> dict[str, float] | None:
    """µs per record = r + c · (batches per record), through the batch sizes with the most and the fewest
    batches per record: ``c`` the µs of one call (the crossing in and out, pack's and PyFlink's work per
    batch, the function's per-call work), ``r`` the µs per record whatever the batch. ``points``: a
    variant's summary; ``figure``: one of :data:`FIGURES`. None without two distinct batch sizes."""
    key = f"{figure}_us_per_record"
    xs = sorted((1 / p["records_per_batch"], p[key]) for p in points.values() if p[key] is not None)
    if len(xs) < 2 or xs[-1][0] <= xs[0][0]:
        return None
    (x_few, y_few), (x_many, y_many) = xs[0], xs[-1]
    per_call = (y_many - y_few) / (x_many - x_few)
    return {"us_per_call": round(per_call, 2), "us_per_record": round(y_few - per_call * x_few, 2)}


def _difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, float | None]:
    """``a`` minus ``b``, µs per record, for every figure."""
    out: dict[str, float | None] = {}
    for figure in FIGURES:
        x, y = a[f"{figure}_us_per_record"], b[f"{figure}_us_per_record"]
        out[figure] = None if x is None or y is None else round(x - y, 2)
    return out


def derive(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per variant and figure, the per-call fit, and the smallest batch size's µs per record minus the
    largest's; and what the route adds to the empty call, per record, at each batch size."""
    out: dict[str, Any] = {}
    for variant, points in summary.items():
        sizes = sorted(points, key=int)
        out[variant] = {
            "fit": {figure: per_call_fit(points, figure) for figure in FIGURES},
            "smallest_minus_largest": {
                "batch_sizes": [int(sizes[0]), int(sizes[-1])],
                "us_per_record": _difference(points[sizes[0]], points[sizes[-1]]),
            }
            if len(sizes) > 1
            else None,
        }
    if "empty" in summary and "route" in summary:
        out["route_minus_empty"] = {
            size: _difference(route, summary["empty"][size])
            for size, route in sorted(summary["route"].items(), key=lambda kv: int(kv[0]))
            if size in summary["empty"]
        }
    return out


def _cell(value: float | None, width: int, spec: str = ".2f") -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


def print_table(summary: Mapping[str, Mapping[str, Mapping[str, Any]]], derived: Mapping[str, Any]) -> None:
    print("\nmedians; µs per record: net (Flink's net runtime), cpu (JVM + client, whole job), steady and steady cpu")
    print("(in the JVM, from the end of the first call to close: start-up and shutdown left out)")
    head = "".join(f" {f + ' µs':>13}" for f in FIGURES)
    print(f"{'variant':<8} {'batch':>6} {'records/s':>10} {'rec/batch':>10}{head}")
    for variant, points in summary.items():
        for size, p in sorted(points.items(), key=lambda kv: int(kv[0])):
            rate, per_batch = _cell(p["records_per_s"], 10, ",.0f"), _cell(p["records_per_batch"], 10)
            cells = "".join(f" {_cell(p[f'{f}_us_per_record'], 13)}" for f in FIGURES)
            print(f"{variant:<8} {size:>6} {rate} {per_batch}{cells}")
    print("\nper call c and per record r, µs (µs/record = r + c · batches/record; most vs fewest batches/record):")
    for variant in summary:
        fits = derived[variant]["fit"]
        shown = "  ".join(
            f"{figure}: c {fit['us_per_call']:.2f}, r {fit['us_per_record']:.2f}"
            for figure, fit in fits.items()
            if fit is not None
        )
        print(f"  {variant:<6} {shown or '-'}")
    for size, diff in derived.get("route_minus_empty", {}).items():
        shown = "  ".join(f"{figure} {_cell(value, 0)}" for figure, value in diff.items())
        print(f"  route - empty at batch {size:>4}, µs/record: {shown}")


# ---- the whole benchmark ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_sizes", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--event-bytes", type=int, default=850, help="average Avro value size to pad to")
    parser.add_argument("--bad-fraction", type=float, default=0.001)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 512], help="batch.max_records")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-delay-ms", type=int, default=1000, help="batch.max_delay_ms: not to cut batches")
    parser.add_argument(
        "--read-models", nargs="*", default=["open_tickets"], help="read models kept (the route makes their events)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--home", type=Path, default=None, help="where the run's stack lives (kept)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    if min(args.batch_sizes) < 1:
        parser.error("batch sizes are at least 1")
    return args


@entry_point
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_args = compare.parse_args(
        [
            *("--events", str(args.events), "--event-bytes", str(args.event_bytes)),
            *("--bad-fraction", str(args.bad_fraction), "--pipelines", "lakegate"),
            *("--read-models", *args.read_models),
        ]
    )
    home = args.home or Path(tempfile.mkdtemp(prefix="lakegate-batch-sizes-"))
    settings = compare.stack_settings(bench_args, home)
    jvm.ensure_artifacts(settings)
    started = time.monotonic()
    local.up(settings)
    runs: list[Run] = []
    try:
        bench = compare.prepare(bench_args, settings)
        base = compare.pipeline_settings(
            bench, "lakegate", "batch_sizes", 1, schemas_dir=settings.paths.schemas_dir, drain=True
        ).replace(python_execution_mode="thread")
        provision(base, bench.contracts)  # the plan names the tables (nothing is written to them)
        runner = Runner(bench, base, Gateway(base), args.max_delay_ms)
        # Uncounted: the first job in the JVM loads its classes and starts compiling the hot code, and the first
        # route's open() imports its modules into the embedded interpreter.
        warmup = runner.run("route" if "route" in args.variants else args.variants[0], max(args.batch_sizes), -1)
        print(_line(warmup), flush=True)
        for repeat in range(args.repeats):
            for variant, size in run_order(args.batch_sizes, args.variants, repeat):
                runs.append(runner.run(variant, size, repeat))
                print(_line(runs[-1]), flush=True)
    finally:
        local.down(settings)
    rows = [r.as_dict() for r in runs]
    summary = summarize(rows)
    derived = derive(summary)
    print_table(summary, derived)
    ok = all(r.ok for r in runs) and warmup.ok
    print(f"elapsed {time.monotonic() - started:,.0f}s; stack home {home}")
    if not ok:
        print("WARNING: a run's function did not see every pre-loaded record once (see the runs' counts)")
    if not args.no_record:
        record = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench.batch_sizes", *(sys.argv[1:] if argv is None else argv)]),
            "machine": {**machine(), "loadavg_at_start": bench_args.loadavg_at_start},
            "events": args.events,
            "options": {
                "event_bytes": args.event_bytes,
                "bad_fraction": args.bad_fraction,
                "batch_sizes": args.batch_sizes,
                "variants": args.variants,
                "repeats": args.repeats,
                "max_delay_ms": args.max_delay_ms,
                "max_bytes": MAX_BYTES,
                "read_models": args.read_models,
                "parallelism": 1,
                "python_execution_mode": "thread",
                "checkpoints": False,
                "padding_chars": bench.padding.chars,
            },
            "preload": bench.manifest.summary(),
            "variants": {v: VARIANTS[v] for v in args.variants},
            "warmup": warmup.as_dict(),
            "runs": rows,
            "summary": summary,
            "derived": derived,
            "ok": ok,
            "elapsed_s": round(time.monotonic() - started),
        }
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"recorded in {args.results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
