"""The route operator's metrics, through Flink's metric groups (exported by Flink's Prometheus reporter).

Names, labels and meaning: lakegate/observe/catalogue.py (``JOB``). Key/value groups become labels and
their keys part of the name, e.g. ``lakegate.topic(t).contract(c).schema_version(v).outcome(o).records``.
Per-record updates are aggregated in plain Python and handed to Flink's counters by :meth:`flush`, once per
batch: in thread mode every Flink counter call crosses from Python into the JVM, and the two histograms
alone touch up to 13 buckets each per record. First-seen timestamps are counters incremented once, by the
timestamp: a Python gauge would be read by the reporter's HTTP thread calling back into the interpreter.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lakegate.observe import catalogue

if TYPE_CHECKING:
    from udfs.hotpath import BatchStats

RecordLabels = tuple[str, str, str, str]  # topic, contract, schema_version, outcome
QuarantineLabels = tuple[str, str, str]  # contract, reason, rule


def bucket_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else str(float(bound))


class LocalHistogram:
    """Counts per bucket since the last flush; :meth:`drain` gives the cumulative increments per bound."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds: tuple[float, ...] = (*sorted(bounds), float("inf"))
        self._counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self.bounds, value)] += 1

    def drain(self) -> list[int]:
        cumulative, running = [], 0
        for count in self._counts:
            running += count
            cumulative.append(running)
        self._counts = [0] * len(self.bounds)
        return cumulative


class LabelledCounters:
    """Flink counters under one group, created on first use: one per path of groups and key/value groups
    (``("model", "users_current")`` becomes a label)."""

    def __init__(self, group: Any) -> None:
        self._root = group
        self._counters: dict[tuple[str, ...], Any] = {}

    def counter(self, *path: tuple[str, str] | str, name: str) -> Any:
        key = (*(p if isinstance(p, str) else f"{p[0]}={p[1]}" for p in path), name)
        counter = self._counters.get(key)
        if counter is None:
            group = self._root
            for part in path:
                group = group.add_group(part) if isinstance(part, str) else group.add_group(*part)
            counter = self._counters[key] = group.counter(name)
        return counter


class RouteMetrics:
    """What ``route`` observes per record; Flink counters are created lazily, one per label combination."""

    def __init__(self, metric_group: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self._flink = LabelledCounters(metric_group.add_group("lakegate"))
        self._wall_clock = wall_clock
        self._records: Counter[RecordLabels] = Counter()
        self._quarantined: Counter[QuarantineLabels] = Counter()
        self._decode: dict[str, LocalHistogram] = {}
        self._freshness: dict[str, LocalHistogram] = {}
        self._first_seen: dict[tuple[str, str], int] = {}  # not yet flushed
        self._seen: set[tuple[str, str]] = set()
        self.pending = False  # something to flush

    # ---- per record (plain Python) ----------------------------------------------------------------------
    def routed(
        self, topic: str, contract: str | None, schema_version: int | None, outcome: str, route_seconds: float
    ) -> None:
        name = contract or catalogue.UNKNOWN
        version = catalogue.UNKNOWN if schema_version is None else str(schema_version)
        self._records[(topic, name, version, outcome)] += 1
        self._histogram(self._decode, name, catalogue.DECODE_BUCKETS).observe(route_seconds)
        if schema_version is not None and (name, version) not in self._seen:
            self._seen.add((name, version))
            self._first_seen[(name, version)] = int(self._wall_clock())
        self.pending = True

    def quarantined(self, contract: str | None, reason: str, rule: str | None) -> None:
        self._quarantined[(contract or catalogue.UNKNOWN, reason, rule or catalogue.NONE)] += 1
        self.pending = True

    def fresh(self, contract: str, seconds: float) -> None:
        self._histogram(self._freshness, contract, catalogue.FRESHNESS_BUCKETS).observe(max(seconds, 0.0))
        self.pending = True

    def batch_routed(self, stats: BatchStats) -> None:
        """One batch of the hot path (udfs.hotpath.RouteObserver): its quarantined records counted as
        :meth:`routed` and :meth:`quarantined` count them; every record's route time; the freshness and
        first-seen schema versions of its valid records, whose outcome (audited or deduplicated) is counted
        on the JVM, where dedupe decides."""
        for topic, verdict, seconds in stats.quarantined:
            self.routed(topic, verdict.contract, None, catalogue.QUARANTINED_OUTCOME, seconds)
            self.quarantined(verdict.contract, str(verdict.reason), verdict.rule)
        if not stats.valid:
            return
        decode, freshness = self._decode, self._freshness
        for contract, _, seconds, fresh in stats.valid:
            timing = decode.get(contract) or self._histogram(decode, contract, catalogue.DECODE_BUCKETS)
            timing.observe(seconds)
            age = freshness.get(contract) or self._histogram(freshness, contract, catalogue.FRESHNESS_BUCKETS)
            age.observe(max(fresh, 0.0))
        for contract, version in {(c, v) for c, v, _, _ in stats.valid if v is not None}:
            if (contract, str(version)) not in self._seen:
                self._seen.add((contract, str(version)))
                self._first_seen[(contract, str(version))] = int(self._wall_clock())
        self.pending = True

    @staticmethod
    def _histogram(histograms: dict[str, LocalHistogram], contract: str, bounds: Sequence[float]) -> LocalHistogram:
        histogram = histograms.get(contract)
        if histogram is None:
            histogram = histograms[contract] = LocalHistogram(bounds)
        return histogram

    # ---- to Flink ----------------------------------------------------------------------------------------
    def flush(self) -> None:
        for (topic, contract, version, outcome), n in self._records.items():
            self._counter(
                ("topic", topic),
                ("contract", contract),
                ("schema_version", version),
                ("outcome", outcome),
                name="records",
            ).inc(n)
        for (contract, reason, rule), n in self._quarantined.items():
            self._counter(("contract", contract), ("reason", reason), ("rule", rule), name="quarantined_records").inc(n)
        for group, histograms in (("decode_seconds", self._decode), ("freshness_seconds", self._freshness)):
            for contract, histogram in histograms.items():
                for bound, n in zip(histogram.bounds, histogram.drain(), strict=True):
                    # Every bucket exists from the first observation on, even at 0: a ratio of two
                    # buckets must not vanish because the lower one is empty.
                    counter = self._counter(
                        ("contract", contract), group, ("bound", bucket_label(bound)), name="observations"
                    )
                    if n:
                        counter.inc(n)
        for (contract, version), seconds in self._first_seen.items():
            self._counter(("contract", contract), ("schema_version", version), name="first_seen_timestamp_seconds").inc(
                seconds
            )
        self._records.clear()
        self._quarantined.clear()
        self._first_seen.clear()
        self.pending = False

    def _counter(self, *path: tuple[str, str] | str, name: str) -> Any:
        return self._flink.counter(*path, name=name)
