"""Benchmark: latency from an event's produce time to its read-model changelog record.

Usage:  .venv/bin/python -m bench.changelog_latency [--records 9000] [--rate 300] [--checkpoint-ms 5000] [--samples F]

Starts a private local stack and the ingest job (unbounded), warms it up at the rate through three
checkpoints, then produces ``--records`` events at ``--rate`` per second while a ``read_committed`` and a
``read_uncommitted`` consumer follow every changelog topic. Latency = receive time minus the source
record's Kafka timestamp (each changelog record names its source record); events the ordering rule ignores
produce no changelog record and are not counted. Appends to bench/results/changelog_latency.jsonl (with the
machine and the commit) and prints; ``--samples`` also writes every sample. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kafka import KafkaConsumer

from bench.modes import append_result, result_header
from lakegate import jvm, kafka_clients, launcher, readmodels
from lakegate.entrypoint import entry_point
from lakegate.kafka_admin import ensure_topics
from lakegate.produce import produce
from lakegate.settings import Settings
from lakegate.stack import local
from lakegate.testing.ports import free_port
from udfs.contract import load_contracts

RESULTS = Path(__file__).resolve().parent / "results" / "changelog_latency.jsonl"
Source = tuple[str, int, int]


class Follower(threading.Thread):
    """Receive times of changelog records, by the source record they name."""

    def __init__(self, settings: Settings, topics: list[str], isolation: str) -> None:
        super().__init__(daemon=True, name=f"follow-{isolation}")
        self.isolation = isolation
        self.received: dict[Source, int] = {}
        self.written: dict[Source, int] = {}  # the changelog record's own timestamp: when the job sent it
        self.last_receive = time.monotonic()
        self.stop = threading.Event()
        self._consumer = KafkaConsumer(
            *topics,
            **kafka_clients.python_config(settings),
            isolation_level=isolation,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            group_id=f"latency-{isolation}-{time.time_ns()}",
        )

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for records in self._consumer.poll(timeout_ms=200).values():
                    now_ms = time.time_ns() // 1_000_000
                    for record in records:
                        if record.value is None:
                            continue  # a tombstone names no source
                        body = json.loads(record.value)
                        source = (body["_topic"], body["_partition"], body["_offset"])
                        self.received.setdefault(source, now_ms)
                        self.written.setdefault(source, record.timestamp)
                        self.last_receive = time.monotonic()
        finally:
            self._consumer.close()

    def ready(self) -> None:
        """Wait until the consumer has its partitions (auto_offset_reset=latest: only what comes after)."""
        deadline = time.monotonic() + 60
        while not self._consumer.assignment() and time.monotonic() < deadline:
            time.sleep(0.2)


def percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50_ms": q[49], "p90_ms": q[89], "p99_ms": q[98], "max_ms": max(values)}


def measure(settings: Settings, args: argparse.Namespace) -> tuple[list[Follower], dict[Source, int]]:
    """Run the job on a private stack; return the followers and each produced record's send time."""
    home = settings.paths.home
    contracts = load_contracts(settings.paths.schemas_dir)
    topics = [readmodels.changelog_topic(settings, m) for m, _ in readmodels.all_models(contracts)]
    local.up(settings)
    job = None
    try:
        ensure_topics(settings, [c.topic for c in contracts])
        ensure_topics(settings, topics, configs={"cleanup.policy": "compact"})
        with (home / "job.out").open("wb") as out:
            job = launcher.start("ingest", settings, stdout=out, stderr=subprocess.STDOUT)
        followers = [Follower(settings, topics, i) for i in ("read_committed", "read_uncommitted")]
        for f in followers:
            f.start()
        print("warming up (the job starts, a first batch goes through) ...", flush=True)
        produce(settings, contracts, 300, seed=1)
        deadline = time.monotonic() + 180
        while not followers[0].received and time.monotonic() < deadline:
            time.sleep(1)
        if not followers[0].received:
            raise SystemExit(f"no changelog record after warm-up; job output in {home / 'job.out'}")
        for f in followers:
            f.ready()
        # Steady state before measuring: traffic at the rate through three checkpoints, so every pooled
        # transactional producer of the changelog sink has sent to every changelog topic (each learns a
        # topic's metadata on its first send) and the JIT has compiled the path.
        warm = int(args.rate * args.checkpoint_ms / 1000 * 3)
        print(f"warming up: {warm} records at {args.rate:.0f}/s ...", flush=True)
        produce(settings, contracts, warm, rate=args.rate, seed=3)
        time.sleep(args.checkpoint_ms / 1000 * 2)
        print(f"producing {args.records} records at {args.rate:.0f}/s ...", flush=True)
        report = produce(settings, contracts, args.records, rate=args.rate, seed=2)
        quiet_s = args.checkpoint_ms / 1000 * 2 + 5
        while any(time.monotonic() - f.last_receive < quiet_s for f in followers):
            time.sleep(1)
        for f in followers:
            f.stop.set()
            f.join()
        return followers, {(r.topic, r.partition, r.offset): r.timestamp_ms for r in report.records}
    finally:
        if job is not None:
            launcher.kill(job)
        local.down(settings)


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=9000)
    parser.add_argument("--rate", type=float, default=300.0, help="records produced per second")
    parser.add_argument("--checkpoint-ms", type=int, default=5000)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--samples", type=Path, help="also write every latency sample here (JSON lines)")
    args = parser.parse_args(argv)
    settings = Settings.load(
        env={},
        home=Path(tempfile.mkdtemp(prefix="lakegate-latency-")),
        artifacts_dir=Settings.load(env={}).paths.jvm_dir,
        drain=False,
        checkpoint_interval_ms=args.checkpoint_ms,
        exporter_port=0,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
    )
    jvm.ensure_artifacts(settings)
    followers, sent = measure(settings, args)
    summary = {}
    print(f"\n{'consumer':<18} {'changes':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for f in followers:
        stats = percentiles([at - sent[source] for source, at in f.received.items() if source in sent])
        summary[f.isolation] = stats
        print(
            f"{f.isolation:<18} {stats.get('count', 0):>8} {stats.get('p50_ms', 0):>8.0f} "
            f"{stats.get('p90_ms', 0):>8.0f} {stats.get('p99_ms', 0):>8.0f} {stats.get('max_ms', 0):>8.0f}"
        )
    if args.samples:
        with args.samples.open("w") as out:
            for f in followers:
                for source, at in sorted(f.received.items(), key=lambda item: item[1]):
                    if source in sent:
                        sample = {
                            "isolation": f.isolation,
                            "source": source,
                            "sent_ms": sent[source],
                            "written_ms": f.written[source],
                            "at_ms": at,
                        }
                        out.write(json.dumps(sample) + "\n")
        print(f"samples in {args.samples}")
    if not args.no_record:
        record = {
            **result_header(),
            "records": args.records,
            "rate": args.rate,
            "checkpoint_ms": args.checkpoint_ms,
            "python_execution_mode": settings.job.python_execution_mode,
            "summary": summary,
        }
        append_result(RESULTS, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
