"""Benchmark: the ingest job under steady load for a long time, with maintenance on its schedule.

Usage:  .venv/bin/python -m bench.soak [--minutes 30] [--rate R] [--bad-fraction 0.001] [--maintain-every-s 300]
                                       [--event-bytes 850] [--pool 20000] [--sample-s 10]
                                       [--state-backend rocksdb] [--no-record]

A private local stack, the ingest job (unbounded, all shipped read models, bench.compare's contracts and
record size) and ``lakegate maintain --every-s`` as a child process, while :class:`bench.load.Load` sends
``--rate`` events per second (default: half the highest rate bench/results/soak_max.jsonl recorded for the
state backend, bench.compare with the soak's models) from records made once and patched per send.
Every ``--sample-s`` seconds it samples the job's process-tree memory and what of it the JVM's heap and
RocksDB's block cache hold, its latest checkpoint's duration and size (Flink's REST API), and the newest
figures of lakegate's own Observer (as the exporter serves them: the tables' data files and snapshots,
consumer lag, the no-loss ledger), which a thread of its own refreshes as fast as it can. Writes every
sample and a verdict to bench/results/soak.jsonl and draws bench/results/soak.png. See bench/README.md,
"Soak".
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from statistics import mean
from typing import Any

from bench.data import bench_contracts, padding_for
from bench.load import Load, templates
from bench.modes import append_result, private_stack_settings, result_header, tree_rss
from lakegate import launcher
from lakegate.entrypoint import entry_point
from lakegate.kafka_admin import ensure_topics
from lakegate.observe.exporter import Observer
from lakegate.observe.sources import find_job, flink_rest_urls
from lakegate.produce import produce, registered_maker
from lakegate.settings import Settings
from lakegate.stack import local

RESULTS = Path(__file__).resolve().parent / "results"
MAXIMA = RESULTS / "soak_max.jsonl"  # bench.compare --state-backend B --read-models <every shipped model>
FLAT = 0.10  # "flat": the last ten minutes' mean within 10 % of minutes 5-15's
# Disk per byte sent: the broker keeps every record for the whole run, the lake its Parquet and checkpoints
# (a soak that filled its disk: 9.6 GB after 17.5 minutes at 9,182 events/s of about 850 bytes, 1.2 bytes per
# byte sent).
DISK_PER_BYTE_SENT = 1.5


def default_rate(state_backend: str) -> float:
    """Half the highest lakegate rate recorded for the state backend."""
    rates = []
    for line in MAXIMA.read_text().splitlines():
        record = json.loads(line)
        if record["options"]["state_backend"] == state_backend:
            rates += [r["events_per_s"] for r in record["runs"] if r["pipeline"] == "lakegate"]
    if not rates:
        raise SystemExit(f"no recorded rate for {state_backend} in {MAXIMA}; pass --rate")
    return float(max(rates)) / 2


# The job as Flink's REST API lists it: (REST base URL, job overview), from find_job once per sample.
Located = tuple[str, dict[str, Any]]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback REST API
        return json.load(response)


def checkpoint_size_bytes(located: Located | None) -> int | None:
    if located is None:
        return None
    url, job = located
    latest = (_get(f"{url}/jobs/{job['jid']}/checkpoints").get("latest") or {}).get("completed") or {}
    size = latest.get("checkpointed_size", latest.get("state_size"))
    return int(size) if size is not None else None


def jvm_heap_mb(located: Located | None) -> float | None:
    """The heap the job's TaskManager JVM has committed (on a MiniCluster, the job's one JVM)."""
    if located is None:
        return None
    url = located[0]
    managers = _get(f"{url}/taskmanagers").get("taskmanagers", [])
    total = 0.0
    for manager in managers:
        values = _get(f"{url}/taskmanagers/{manager['id']}/metrics?get=Status.JVM.Memory.Heap.Committed")
        total += sum(float(v["value"]) for v in values)
    return round(total / 2**20, 1) if managers else None


def block_cache_mb(located: Located | None) -> float | None:
    """RocksDB's block cache in use (``state.backend.rocksdb.metrics.block-cache-usage``). Every RocksDB
    instance of a slot shares one cache in the slot's managed memory, so every column family of every keyed
    operator reports the same figure: the highest one (the soak's job runs in one slot)."""
    if located is None:
        return None
    url, job = located
    found: list[float] = []
    for vertex in _get(f"{url}/jobs/{job['jid']}").get("vertices", []):
        base = f"{url}/jobs/{job['jid']}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in _get(base) if m["id"].endswith("block-cache-usage")]  # <cf>.rocksdb_block-cache-usage
        if ids:
            found += [float(v["value"]) for v in _get(f"{base}?get={urllib.parse.quote(','.join(ids), safe=',')}")]
    return round(max(found) / 2**20, 1) if found else None


class Observing(threading.Thread):
    """Refreshes the Observer once per ``interval_s`` (or back to back when a refresh takes longer): a refresh
    (every table's files and snapshots, the ledger) takes seconds on a busy machine, so a sample takes the
    newest observation instead of waiting for one. Not more often: run 5 refreshed every second and the
    soak's own process took a whole core of the two."""

    def __init__(self, observer: Observer, interval_s: float) -> None:
        super().__init__(name="soak-observer", daemon=True)
        self.observer = observer
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            self.observer.refresh()
            self.stopping.wait(max(0.0, self.interval_s - (time.monotonic() - began)))


class LoadCpu:
    """The share of a core this process (the load generator and the sampler) used since the last look."""

    def __init__(self) -> None:
        self._at = (time.monotonic(), time.process_time())

    def __call__(self) -> float:
        at = (time.monotonic(), time.process_time())
        share = (at[1] - self._at[1]) / max(at[0] - self._at[0], 1e-9)
        self._at = at
        return round(share, 3)


def sample(
    observer: Observer, settings: Settings, job: subprocess.Popen[bytes], started: float, *, load: Load, cpu: LoadCpu
) -> dict[str, Any]:
    o = observer.latest
    located = find_job(flink_rest_urls(settings), settings.job.name)
    unaccounted = sum(t.unaccounted for t in o.ledger) if o.ledger else None
    return {
        "t_s": round(time.monotonic() - started, 1),
        "sent": load.sent,
        "send_failures": load.failed,
        "soak_cpu": cpu(),
        "rss_mb": round(tree_rss(job.pid) / 2**20, 1),
        "heap_mb": jvm_heap_mb(located),
        "block_cache_mb": block_cache_mb(located),
        "observed_age_s": round(time.time() - o.at_s, 1),
        "checkpoint_s": o.job.last_checkpoint_duration_s if o.job else None,
        "checkpoints_failed": o.job.checkpoints_failed if o.job else None,
        "restarts": o.job.restarts if o.job else None,
        "checkpoint_mb": round(size / 2**20, 2) if (size := checkpoint_size_bytes(located)) is not None else None,
        "data_files": sum(t.data_files for t in o.tables),
        "snapshots": sum(t.snapshots for t in o.tables),
        "lag": sum(o.lag().values()),
        "read": sum(t.read for t in o.ledger),
        "unaccounted": unaccounted,
    }


def run(settings: Settings, args: argparse.Namespace) -> list[dict[str, Any]]:
    contracts = bench_contracts(
        Settings.load(env={}).paths.schemas_dir, settings.paths.schemas_dir, topic_prefix="soak.", read_models=None
    )
    padding = padding_for(contracts, args.event_bytes)
    local.up(settings)
    job = maintainer = load = observing = None
    observer = Observer(settings, contracts)
    samples: list[dict[str, Any]] = []
    try:
        ensure_topics(settings, [c.topic for c in contracts] + [settings.kafka.dlq_topic])
        home = settings.paths.home
        with (home / "job.out").open("wb") as out:
            job = launcher.start("ingest", settings, stdout=out, stderr=subprocess.STDOUT)
        # The job's tables appear; the same events as bench.compare's (padding included) then make the load.
        produce(settings, contracts, 2_000, bad_fraction=args.bad_fraction, seed=0, padding=padding)
        maker = registered_maker(
            settings,
            contracts,
            random.Random(1),  # noqa: S311 - test data, not cryptography
            bad_fraction=args.bad_fraction,
            padding=padding,
        )
        pool = templates(maker, args.pool, {c.topic: settings.kafka.topic_partitions for c in contracts})
        print(f"load: {len(pool):,} records made once ({padding.chars} chars of padding), sent round and round")
        load = Load(settings, pool, args.rate)
        while observer.refresh().job is None or not observer.latest.tables:
            if job.poll() is not None:
                raise SystemExit(f"the job ended; see {home / 'job.out'}")
            time.sleep(2)
        maintain_args = ["--every-s", str(args.maintain_every_s), "--older-than-s", str(args.maintain_every_s)]
        with (home / "maintain.out").open("wb") as out:
            maintainer = launcher.start("maintain", settings, maintain_args, stdout=out, stderr=subprocess.STDOUT)
        load.start()
        observing = Observing(observer, args.sample_s)
        observing.start()
        cpu = LoadCpu()
        started = time.monotonic()
        end = started + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(max(0.0, args.sample_s - (time.monotonic() - started) % args.sample_s))
            if job.poll() is not None or maintainer.poll() is not None:
                ended = "job" if job.poll() is not None else "maintain"
                raise SystemExit(f"the {ended} process ended; see {home / (ended + '.out')}")
            if load.error is not None:
                raise SystemExit(f"the load generator failed: {load.error}")
            s = sample(observer, settings, job, started, load=load, cpu=cpu)
            samples.append(s)
            print(
                f"  {s['t_s'] / 60:5.1f} min  sent {s['sent']:>10,}  lag {s['lag']:>8,}  rss {s['rss_mb']:>6.0f} MB  "
                f"(heap {s['heap_mb'] or 0:>5.0f}, block cache {s['block_cache_mb'] or 0:>4.0f})  "
                f"checkpoint {s['checkpoint_s'] or 0:5.2f} s {s['checkpoint_mb'] or 0:7.1f} MB  "
                f"files {s['data_files']:>5}  snapshots {s['snapshots']:>5}  unaccounted {s['unaccounted']}  "
                f"soak cpu {s['soak_cpu']:.2f}",
                flush=True,
            )
        return samples
    finally:
        if load is not None:
            load.stopping.set()
        if observing is not None:
            observing.stopping.set()
            observing.join(timeout=60)
        observer.close()
        for process in (maintainer, job):
            if process is not None:
                launcher.kill(process)
        local.down(settings)


def disk_problem(free_bytes: int, *, minutes: float, rate: float, event_bytes: int) -> str | None:
    """Why the run would fill the disk before it ends (None: room enough): the soak found out at minute 17
    once, when the broker could no longer write and the job failed."""
    needed = minutes * 60 * rate * event_bytes * DISK_PER_BYTE_SENT
    if free_bytes >= needed:
        return None
    return (
        f"the soak writes about {needed / 2**30:.1f} GB ({minutes:g} min at {rate:,.0f} events/s of about "
        f"{event_bytes} bytes) and only {free_bytes / 2**30:.1f} GB are free: free some space, or lower "
        "--minutes or --rate"
    )


def window(samples: list[dict[str, Any]], key: str, first_min: float, last_min: float) -> list[float]:
    return [s[key] for s in samples if first_min * 60 <= s["t_s"] < last_min * 60 and s.get(key) is not None]


def verdict(samples: list[dict[str, Any]], minutes: float) -> dict[str, Any]:
    """The issue's checks: memory and checkpoint duration flat (the last ten minutes' mean within 10 % of
    minutes 5-15's), data files bounded (the last ten minutes' peak not above minutes 5-15's by more than
    10 %), the ledger's unaccounted 0 in every settled sample."""
    out: dict[str, Any] = {}
    for key in ("rss_mb", "heap_mb", "block_cache_mb", "checkpoint_s", "checkpoint_mb"):
        early, late = window(samples, key, 5, 15), window(samples, key, minutes - 10, minutes + 1)
        if early and late:
            change = mean(late) / mean(early) - 1
            out[key] = {
                "minutes_5_15": round(mean(early), 3),
                "last_10": round(mean(late), 3),
                "change": round(change, 3),
                "flat": abs(change) <= FLAT,
            }
    early, late = window(samples, "data_files", 5, 15), window(samples, "data_files", minutes - 10, minutes + 1)
    if early and late:
        out["data_files"] = {
            "peak_minutes_5_15": max(early),
            "peak_last_10": max(late),
            "bounded": max(late) <= max(early) * (1 + FLAT),
        }
    settled = [s["unaccounted"] for s in samples if s["unaccounted"] is not None]
    out["ledger"] = {
        "samples": len(settled),
        "unaccounted_nonzero": sum(1 for u in settled if u != 0),
        "balanced": bool(settled) and all(u == 0 for u in settled),
    }
    out["lag"] = {"max": max((s["lag"] for s in samples), default=0), "last": samples[-1]["lag"] if samples else None}
    return out


def plot(samples: list[dict[str, Any]], target: Path, title: str) -> None:
    import matplotlib  # noqa: PLC0415 - a bench-only dependency, loaded when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    minutes = [s["t_s"] / 60 for s in samples]
    panels = [
        ("rss_mb", "process-tree memory (MB)"),
        ("heap_mb", "JVM heap committed (MB)"),
        ("block_cache_mb", "RocksDB block cache in use (MB)"),
        ("checkpoint_s", "checkpoint duration (s)"),
        ("checkpoint_mb", "checkpoint size (MB)"),
        ("data_files", "data files (all tables)"),
        ("snapshots", "snapshots (all tables)"),
        ("lag", "consumer lag (records)"),
        ("unaccounted", "ledger: unaccounted records"),
        ("sent", "events sent"),
    ]
    fig, axes = plt.subplots(5, 2, figsize=(12, 15), sharex=True)
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        points = [(m, s[key]) for m, s in zip(minutes, samples, strict=True) if s.get(key) is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=1)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(target, dpi=80)
    plt.close(fig)
    print(f"drew {target}")


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=None, help="events per second (default: half the recorded max)")
    parser.add_argument("--bad-fraction", type=float, default=0.001)
    parser.add_argument("--event-bytes", type=int, default=850, help="average framed value, as bench.compare's")
    parser.add_argument("--pool", type=int, default=20_000, help="records made once and sent round and round")
    parser.add_argument("--maintain-every-s", type=int, default=300)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--state-backend", choices=("hashmap", "rocksdb"), default="rocksdb")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    if args.rate is None:
        args.rate = default_rate(args.state_backend)
    settings = private_stack_settings("lakegate-soak-", state_backend=args.state_backend)
    settings = settings.replace(schemas_dir=settings.paths.home / "schemas")
    free = shutil.disk_usage(settings.paths.home).free
    problem = disk_problem(free, minutes=args.minutes, rate=args.rate, event_bytes=args.event_bytes)
    if problem:
        shutil.rmtree(settings.paths.home, ignore_errors=True)
        raise SystemExit(f"{problem} (in {settings.paths.home.parent})")
    print(
        f"soak: {args.minutes:g} min at {args.rate:,.0f} events/s, {args.bad_fraction:g} bad, "
        f"{args.state_backend} state, maintain every {args.maintain_every_s} s, a sample every {args.sample_s:g} s",
        flush=True,
    )
    samples = run(settings, args)
    result = verdict(samples, args.minutes)
    print(json.dumps(result, indent=2))
    if not args.no_record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        options = {
            k: getattr(args, k)
            for k in (
                "minutes",
                "rate",
                "bad_fraction",
                "event_bytes",
                "pool",
                "maintain_every_s",
                "sample_s",
                "state_backend",
            )
        }
        append_result(
            RESULTS / "soak.jsonl", {**result_header(), "options": options, "verdict": result, "samples": samples}
        )
        plot(
            samples,
            RESULTS / "soak.png",
            f"soak: {args.rate:,.0f} events/s, {args.state_backend}, maintain every {args.maintain_every_s} s",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
