"""`lakegate demo`: the whole path on the embedded local stack, with progress and a closing summary.

setup → stack up → topics → register contracts → produce (some bad) → run ingest until drained →
summary (produced, rows per audit table, quarantined per reason, where everything is) → stack down.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pyiceberg.catalog import Catalog

from lakegate import jvm, launcher, readmodels
from lakegate.catalog import audit_table_name, catalog_location, open_catalog, quarantine_table_name
from lakegate.errors import JobFailedError
from lakegate.kafka_admin import ensure_topics
from lakegate.produce import VALID, produce
from lakegate.provision import provision
from lakegate.readers import DeadLetter, read_audit, read_dead_letters, read_quarantine
from lakegate.settings import Settings
from lakegate.stack import local
from udfs.contract import Contract, Contracts, load_contracts

STEPS = 7


@contextmanager
def step(number: int, title: str) -> Iterator[None]:
    print(f"[{number}/{STEPS}] {title} ...", flush=True)
    started = time.monotonic()
    yield
    print(f"[{number}/{STEPS}] {title}: done in {time.monotonic() - started:.1f}s", flush=True)


def progress_bar(done: int, total: int) -> None:
    """A bar redrawn in place on a terminal; in a log, a line per tenth of the way."""
    width = 30
    filled = int(width * done / max(total, 1))
    line = f"      [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
    if sys.stdout.isatty():
        print("\r" + line, end="\n" if done >= total else "", flush=True)
    elif done >= total or done % max(total // 10, 1) < 1000:
        print(line, flush=True)


def run_job_with_progress(settings: Settings, contracts: Contracts, expected_valid: int) -> None:
    """Run the ingest job (drain mode) in a child process; print audited rows as commits land."""
    settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
    log = settings.paths.log_dir / "demo-ingest.out"
    stop = threading.Event()

    def watch() -> None:
        catalog = open_catalog(settings)
        started = time.monotonic()
        while not stop.wait(5.0):
            try:
                rows = sum(_committed_rows(catalog, settings, c) for c in contracts)
            except Exception:  # noqa: S112 - a commit in flight; try again at the next tick
                continue
            print(
                f"      job running for {time.monotonic() - started:.0f}s: {rows}/{expected_valid} audit rows "
                f"committed (Iceberg commits land at checkpoints, every {settings.job.checkpoint_interval_ms} ms)",
                flush=True,
            )

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with log.open("wb") as out:
            code = launcher.run("ingest", settings.replace(drain=True), stdout=out, stderr=subprocess.STDOUT).returncode
    finally:
        stop.set()
        watcher.join()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise JobFailedError(f"ingest job exited {code}; see {log} and Flink logs in {settings.paths.log_dir}:\n{tail}")


def _committed_rows(catalog: Catalog, settings: Settings, contract: Contract) -> int:
    table = catalog.load_table(audit_table_name(settings, contract))
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", "0"))


def demo(
    settings: Settings, *, count: int, bad_fraction: float, keep_running: bool = False, extras: Sequence[str] = ()
) -> int:
    started = time.monotonic()
    with step(1, "fetching JVM artifacts (no-op when already there)"):
        jvm.ensure_artifacts(settings)
    contracts = load_contracts(settings.paths.schemas_dir)
    services = ", ".join(["Kafka broker", "schema registry", *extras])
    with step(2, f"starting the local stack ({services})"):
        local.up(settings, extras)
    try:
        with step(3, "creating topics"):
            created = ensure_topics(settings, [c.topic for c in contracts] + [settings.kafka.dlq_topic])
            print(f"      created: {', '.join(created) or 'none (all existed)'}")
        with step(4, f"registering contracts and producing {count} events ({bad_fraction:.0%} bad)"):
            report = produce(
                settings, contracts, count, bad_fraction=bad_fraction, seed=int(time.time()), progress=progress_bar
            )
        expected = report.expected_counts()
        with step(5, "running the ingest job on a Flink MiniCluster until the topics are drained"):
            provision(settings, contracts)
            before = {c.name: _committed_rows(open_catalog(settings), settings, c) for c in contracts}
            run_job_with_progress(settings, contracts, sum(before.values()) + expected[VALID])
        with step(6, "reading back the audit tables and the dead-letter topic"):
            audited = {c.name: read_audit(settings, c).num_rows for c in contracts}
            dead = read_dead_letters(settings)
            quarantine_rows = read_quarantine(settings).num_rows
            models = {
                m.name: readmodels.current(readmodels.read_log(settings, m), m).num_rows
                for m, _ in readmodels.all_models(contracts)
            }
        _summary(
            settings=settings,
            contracts=contracts,
            expected=expected,
            audited=audited,
            before=before,
            dead=dead,
            quarantine_rows=quarantine_rows,
            produced=len(report.records),
            models=models,
            seconds=time.monotonic() - started,
        )
        new_rows = sum(audited.values()) - sum(before.values())
        produced = {(r.topic, r.partition, r.offset) for r in report.records}
        new_dead = [d for d in dead if d.source in produced]
        ok = new_rows + len(new_dead) == len(report.records)
        counts = f"produced {len(report.records)}, audited {new_rows}, quarantined {len(new_dead)}"
        print("RESULT: " + ("OK: produced == audited + quarantined" if ok else f"MISMATCH: {counts}"))
        return 0 if ok else 1
    finally:
        if keep_running:
            print("stack left running: `lakegate stack down` stops it")
        else:
            with step(7, "stopping the local stack"):
                local.down(settings)


def _summary(
    *,
    settings: Settings,
    contracts: Contracts,
    expected: Counter[str],
    audited: dict[str, int],
    before: dict[str, int],
    dead: list[DeadLetter],
    quarantine_rows: int,
    produced: int,
    models: dict[str, int],
    seconds: float,
) -> None:
    reasons = Counter(d.reason for d in dead)
    line: Callable[[str], None] = print
    line("")
    line("=" * 64)
    line("lakegate demo summary")
    line("=" * 64)
    line(f"produced this run:      {produced:>8}   (valid {expected[VALID]}, bad {produced - expected[VALID]})")
    for c in contracts:
        line(
            f"audit {settings.catalog.name}.{audit_table_name(settings, c):<20} {audited[c.name]:>8} rows"
            f"   (+{audited[c.name] - before[c.name]} this run)"
        )
    line(
        f"quarantined, all runs: topic {settings.kafka.dlq_topic}: {sum(reasons.values())}, "
        f"table {settings.catalog.name}.{quarantine_table_name(settings)}: {quarantine_rows}"
    )
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        line(f"    {reason:<22} {n:>6}")
    for name, rows in models.items():
        line(f"read model {name:<26} {rows:>8} current rows   (lakegate readmodels show {name})")
    line("where things are:")
    line(f"    Iceberg catalog       {catalog_location(settings)}")
    line(f"    Iceberg warehouse     {settings.objectstore.warehouse or settings.paths.warehouse_path}")
    line(f"    Kafka                 {settings.kafka.bootstrap}  topics: {', '.join(c.topic for c in contracts)}")
    line(f"    schema registry       {settings.masked()['registry_url']}")
    line(f"    logs                  {settings.paths.log_dir}")
    line(f"elapsed: {seconds:.0f}s")
    line("=" * 64)
