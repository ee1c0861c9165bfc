"""``lakegate status``: the dashboards' picture in a terminal, for someone without Grafana.

Reads what Prometheus would scrape, directly: the job's Flink reporter (twice, ``interval_s`` apart, for
throughput) and an :class:`~lakegate.observe.exporter.Observer` refreshed twice over the same interval
(the second refresh settles the ledger). Works with no job running: then it shows the lake and Kafka only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lakegate.observe import catalogue as m
from lakegate.observe.exporter import Observation, Observer
from lakegate.observe.scrape import job_endpoints, scrape, summed
from lakegate.settings import Settings
from udfs.contract import Contracts


@dataclass(frozen=True, slots=True)
class JobSample:
    text: str
    at_s: float


def quantile(q: float, cumulative: Sequence[tuple[float, float]]) -> float | None:
    """Like PromQL's ``histogram_quantile``: linear within the bucket; the highest finite bound for +Inf."""
    buckets = sorted(cumulative)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _histogram(text: str, name: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for (contract, bound), value in summed(text, name, ("contract", "bound")).items():
        out.setdefault(contract, []).append((float(bound), value))
    return out


def _seconds(value: float | None, top: float = math.inf) -> str:
    """``top``: the highest finite bucket bound; a quantile there is only known to be at least that."""
    if value is None:
        return "-"
    text = f"{value * 1000:.1f} ms" if value < 1 else f"{value:.1f} s"
    return f">={text}" if value >= top else text


def _ago(at_s: float | None, now_s: float) -> str:
    return "never" if at_s is None else f"{max(now_s - at_s, 0):.0f} s ago"


def collect(
    settings: Settings, contracts: Contracts, interval_s: float = 2.0
) -> tuple[JobSample, JobSample, Observation]:
    observer = Observer(settings, contracts)
    try:
        first = JobSample(scrape(job_endpoints(settings)), time.time())
        observer.refresh()
        time.sleep(interval_s)
        second = JobSample(scrape(job_endpoints(settings)), time.time())
        return first, second, observer.refresh()
    finally:
        observer.close()


def render(first: JobSample, second: JobSample, observation: Observation) -> str:
    lines: list[str] = []
    job = observation.job
    now = observation.at_s
    if job is None:
        lines.append("job: not found on the Flink REST ports (showing the lake and Kafka only)")
    else:
        lines.append(
            f"job {job.job} {job.state} (id {job.job_id}): {job.restarts} restarts, "
            f"{job.checkpoints_completed} checkpoints completed, {job.checkpoints_failed} failed, "
            f"last {_ago(job.last_checkpoint_s, now)}"
        )
    lines += _throughput(first, second)
    lines += _quarantine(second.text)
    lines += _latency(second.text)
    lines.append("")
    lines.append("lag (records in Kafka not yet in the lake)")
    lag: dict[str, int] = {}
    for (topic, _), n in observation.lag().items():
        lag[topic] = lag.get(topic, 0) + n
    lines += [f"  {topic:<28} {n:>10}" for topic, n in sorted(lag.items())] or ["  (no topics)"]
    lines.append("")
    lines.append(f"  {'table':<28} {'records':>10} {'files':>7} {'snapshots':>10}  last commit")
    lines += [
        f"  {t.table:<28} {t.records:>10} {t.data_files:>7} {t.snapshots:>10}  {_ago(t.last_commit_s, now)}"
        for t in observation.tables
    ] or ["  (no tables yet)"]
    lines.append("")
    lines.append(
        f"  {'ledger (settled)':<28} {'read':>8} {'audited':>8} {'quarant.':>8} {'dedup.':>8} {'unaccounted':>11}"
    )
    for row in observation.ledger:
        flag = "" if row.unaccounted == 0 else "  <-- records lost" if row.unaccounted > 0 else "  <-- doubled"
        lines.append(
            f"  {row.topic:<28} {row.read:>8} {row.audited:>8} {row.quarantined:>8} "
            f"{row.deduplicated:>8} {row.unaccounted:>11}{flag}"
        )
    return "\n".join(lines)


def _throughput(first: JobSample, second: JobSample) -> list[str]:
    by = ("contract", "outcome")
    before, after = summed(first.text, m.RECORDS, by), summed(second.text, m.RECORDS, by)
    if not after:
        return ["", "throughput: the job's metrics endpoint does not answer"]
    elapsed = max(second.at_s - first.at_s, 1e-9)
    lines = [
        "",
        f"  {'records/s (last ' + format(elapsed, '.0f') + ' s)':<28} "
        + " ".join(f"{o:>12}" for o in m.OUTCOMES)
        + f" {'total':>12}",
    ]
    for contract in sorted({c for c, _ in after}):
        rates = [max(after.get((contract, o), 0) - before.get((contract, o), 0), 0) / elapsed for o in m.OUTCOMES]
        totals = sum(after.get((contract, o), 0) for o in m.OUTCOMES)
        lines.append(f"  {contract:<28} " + " ".join(f"{r:>12.1f}" for r in rates) + f" {totals:>12.0f}")
    return lines


def _quarantine(text: str) -> list[str]:
    counts = summed(text, m.QUARANTINED, ("contract", "reason", "rule"))
    if not counts:
        return []
    lines = ["", "quarantined since the job started (contract, reason, rule)"]
    for (contract, reason, rule), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {contract:<16} {reason:<24} {'' if rule == m.NONE else rule:<28} {n:>8.0f}")
    return lines


def _latency(text: str) -> list[str]:
    freshness, decode = _histogram(text, m.FRESHNESS_SECONDS), _histogram(text, m.DECODE_SECONDS)
    if not freshness and not decode:
        return []
    lines = ["", f"  {'since the job started':<28} {'fresh p50':>10} {'fresh p99':>10} {'decode p99':>11}"]
    for contract in sorted(set(freshness) | set(decode)):
        f, d = freshness.get(contract, []), decode.get(contract, [])
        fresh_top, decode_top = max(m.FRESHNESS_BUCKETS), max(m.DECODE_BUCKETS)
        lines.append(
            f"  {contract:<28} {_seconds(quantile(0.5, f), fresh_top):>10} "
            f"{_seconds(quantile(0.99, f), fresh_top):>10} {_seconds(quantile(0.99, d), decode_top):>11}"
        )
    return lines
