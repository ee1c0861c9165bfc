"""The Python cost per record of routing: the per-record path (``v1``) against the hot path's BatchRouter.

Usage:  .venv/bin/python -m bench.route_batch [--records 10000] [--repeats 3] [--no-record]

No Flink, no services: the repo's contracts padded to ~850-byte events and an in-memory registry. Per mix
(every record written with the reader schema; every schema version at random) it times the per-record path
(``Router.route``, the audit row's encoding, ``prepare`` per model) and ``BatchRouter.route`` on batches of 1,
64 and 512 records, in µs of process CPU time per record, the best of ``--repeats`` passes. Appends one JSON
record to bench/results/route_batch.jsonl. Method: bench/README.md, "bench/route_batch.py".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import bench_contracts, padding_for
from bench.modes import code_version, machine
from jobs.metrics import RouteMetrics
from jobs.plan import treated_fields
from lakegate.produce import VALID, RecordMaker
from udfs.audit import audit_columns, audit_values
from udfs.batch import InputRecord, write_input
from udfs.contract import Contracts
from udfs.hotpath import BatchRouter, PlanIndexes
from udfs.readmodels import prepare
from udfs.registry import InMemorySchemas
from udfs.router import RawRecord, Router, Valid
from udfs.rowcodec import RowEncoder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "route_batch.jsonl"
EVENT_BYTES = 850
BATCH_SIZES = (1, 64, 512)
SALT = b"bench-route-batch-salt"
JOB = "bench-route-batch"


def plan_indexes(contracts: Contracts) -> PlanIndexes:
    """The route's part of jobs/plan.build's plan (contracts by name, their models in order), without tables."""
    ordered = sorted(contracts, key=lambda c: c.name)
    topics = [c.topic for c in ordered]
    return PlanIndexes.from_plan(
        {
            "topics": topics,
            "contracts": [{"name": c.name, "topic_index": i} for i, c in enumerate(ordered)],
            "models": [
                {"name": m.name, "contract_index": i, "treated": treated_fields(m, c)}
                for i, c in enumerate(ordered)
                for m in c.read_models
            ],
        }
    )


def make_records(
    contracts: Contracts, schemas: InMemorySchemas, count: int, *, all_versions: bool
) -> list[InputRecord]:
    ids = {c.name: [schemas.add(t) for t in c.schema_texts] for c in contracts}
    maker = RecordMaker(
        contracts,
        ids,
        {},
        random.Random(7),  # noqa: S311 - test data
        bad_fraction=0.0,
        bad_kinds=(),
        all_versions=all_versions,
        padding=padding_for(contracts, EVENT_BYTES),
    )
    topics = plan_indexes(contracts).topics
    now = int(time.time() * 1000)
    records = []
    for i in range(count):
        draft = maker.make(i)
        assert draft.expected == VALID
        records.append(InputRecord(topics.index(draft.contract.topic), i % 4, i, now, draft.key, draft.value))
    return records


def best_of(repeats: int, run: Callable[[], None]) -> float:
    """The shortest of ``repeats`` runs, in seconds of this process's CPU time (other processes on the
    shared cores stretch wall-clock time, not CPU time)."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def v1_path(contracts: Contracts, schemas: InMemorySchemas, records: Sequence[InputRecord]) -> Callable[[], None]:
    """v1's route per record: decide, encode the audit row, prepare every model's event."""
    router = Router(contracts, schemas)
    topics = plan_indexes(contracts).topics
    encoders = {c.name: RowEncoder(audit_columns(c)) for c in contracts}
    models = {c.name: (c, c.read_models) for c in contracts}
    raws = [RawRecord(topics[r.topic_index], r.partition, r.offset, r.timestamp_ms, r.key, r.value) for r in records]

    def run() -> None:
        for raw in raws:
            result = router.route(raw)
            assert isinstance(result, Valid)
            encoder = encoders[result.contract]
            encoder.encode(audit_values(result, encoder.columns))
            contract, contract_models = models[result.contract]
            for model in contract_models:
                prepare(model, contract, result.payload, result.envelope, SALT)

    return run


class _NoFlink:
    """Flink's metric group, for RouteMetrics counting without a job (nothing is flushed while timing)."""

    def add_group(self, *_: str) -> _NoFlink:
        return self

    def counter(self, _: str) -> None:
        return None


def batch_path(
    contracts: Contracts, schemas: InMemorySchemas, records: Sequence[InputRecord], size: int, *, metrics: bool
) -> Callable[[], None]:
    observer = RouteMetrics(_NoFlink()) if metrics else None
    router = BatchRouter(contracts, schemas, plan_indexes(contracts), SALT, JOB, observer=observer)
    batches = [write_input(records[i : i + size]) for i in range(0, len(records), size)]

    def run() -> None:
        for batch in batches:
            router.route(batch)

    return run


def measure(contracts: Contracts, records: Sequence[InputRecord], repeats: int) -> dict[str, float]:
    schemas = InMemorySchemas()
    for contract in contracts:
        for text in contract.schema_texts:
            schemas.add(text)
    per_record = 1e6 / len(records)
    figures = {"v1 per record": round(best_of(repeats, v1_path(contracts, schemas, records)) * per_record, 2)}
    for size in BATCH_SIZES:
        seconds = best_of(repeats, batch_path(contracts, schemas, records, size, metrics=True))
        figures[f"batch of {size}"] = round(seconds * per_record, 2)
    seconds = best_of(repeats, batch_path(contracts, schemas, records, BATCH_SIZES[-1], metrics=False))
    figures[f"batch of {BATCH_SIZES[-1]}, no metrics"] = round(seconds * per_record, 2)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.route_batch", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/results/route_batch.jsonl")
    args = parser.parse_args(argv)
    started = time.monotonic()
    load = [round(x, 2) for x in os.getloadavg()]  # a shared machine: how busy it was
    mixes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="route-batch-") as tmp:
        contracts = bench_contracts(ROOT / "schemas", Path(tmp) / "schemas", topic_prefix="bench.", read_models=None)
        for mix, all_versions in (("reader schema", False), ("all versions", True)):
            schemas = InMemorySchemas()
            records = make_records(contracts, schemas, args.records, all_versions=all_versions)
            avg = sum(len(r.value or b"") for r in records) / len(records)
            figures = measure(contracts, records, args.repeats)
            mixes[mix] = {"avg_value_bytes": round(avg, 1), "us_per_record": figures}
            print(f"{mix} (values of {avg:.0f} bytes on average), µs per valid record:")
            for name, us in figures.items():
                print(f"  {name:<26} {us:>7.2f}")
    record = {
        "code": code_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.route_batch", *(sys.argv[1:] if argv is None else argv)]),
        "machine": {**machine(), "loadavg_at_start": load},
        "records": args.records,
        "repeats": args.repeats,
        "models": sorted(m.name for c in contracts for m in c.read_models),
        "mixes": mixes,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    if not args.no_record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
