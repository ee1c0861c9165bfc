"""The route operator's metrics (jobs/metrics.py) against a fake of Flink's Python MetricGroup.

The fake records every group path and counter, and names the series the way Flink's Prometheus reporter
does: ``flink_taskmanager_job_task_operator_`` + the path, where a key/value group contributes its key (the
value becomes a label) and a plain group its name, joined by ``_``, + ``_`` + the counter name.
"""

from __future__ import annotations

import pytest

from jobs.metrics import LocalHistogram, RouteMetrics, bucket_label
from lakegate.observe import catalogue

USERS_TOPIC = "support.users.v1"
TICKETS_TOPIC = "support.tickets.v1"
SCOPE = "flink_taskmanager_job_task_operator_"
NOW = 1_700_000_000.75

Part = tuple[str, str | None]  # (name, None) for a plain group, (key, value) for a key/value group
Labels = frozenset[tuple[str, str]]


class FakeCounter:
    def __init__(self) -> None:
        self.value = 0
        self.calls = 0

    def inc(self, n: int = 1) -> None:
        self.value += n
        self.calls += 1


class FakeReporter:
    """Everything registered under one operator's metric group, as the Prometheus reporter would see it."""

    def __init__(self) -> None:
        self.add_group_calls = 0
        self.counter_calls = 0
        self.counters: dict[tuple[tuple[Part, ...], str], FakeCounter] = {}

    def series(self) -> dict[tuple[str, Labels], int]:
        out = {}
        for (path, name), counter in self.counters.items():
            scope = "_".join(part for part, _ in path)
            labels = frozenset((key, value) for key, value in path if value is not None)
            out[(f"{SCOPE}{scope}_{name}", labels)] = counter.value
        return out

    def values(self, name: str, **labels: str) -> dict[Labels, int]:
        """Series of ``name`` whose labels include ``labels``, by their full label set."""
        return {s: v for (n, s), v in self.series().items() if n == name and set(labels.items()) <= s}

    def value(self, name: str, **labels: str) -> int:
        found = self.values(name, **labels)
        assert len(found) == 1, f"expected one series {name}{labels}, found {sorted(found)}"
        return next(iter(found.values()))


class FakeMetricGroup:
    """Flink's ``MetricGroup``: ``add_group(name)`` or ``add_group(key, value)``, ``counter(name)``."""

    def __init__(self, reporter: FakeReporter, path: tuple[Part, ...] = ()) -> None:
        self._reporter = reporter
        self._path = path
        self._children: dict[Part, FakeMetricGroup] = {}

    def add_group(self, name: str, extra: str | None = None) -> FakeMetricGroup:
        self._reporter.add_group_calls += 1
        part = (name, extra)
        if part not in self._children:  # Flink returns the existing group for the same name
            self._children[part] = FakeMetricGroup(self._reporter, (*self._path, part))
        return self._children[part]

    def counter(self, name: str) -> FakeCounter:
        self._reporter.counter_calls += 1
        key = (self._path, name)
        # Flink refuses a second metric of the same name in a group (logs a warning, the new one is never
        # reported): creating a counter twice would silently lose counts.
        assert key not in self._reporter.counters, f"counter {key} registered twice"
        counter = self._reporter.counters[key] = FakeCounter()
        return counter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


@pytest.fixture
def reporter() -> FakeReporter:
    return FakeReporter()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def metrics(reporter: FakeReporter, clock: Clock) -> RouteMetrics:
    return RouteMetrics(FakeMetricGroup(reporter), wall_clock=clock)


def bounds(buckets: tuple[float, ...]) -> set[str]:
    return {bucket_label(b) for b in buckets} | {"+Inf"}


def buckets(reporter: FakeReporter, name: str, contract: str) -> dict[str, int]:
    return {dict(labels)["bound"]: v for labels, v in reporter.values(name, contract=contract).items()}


def exercise(metrics: RouteMetrics) -> None:
    """Something of every kind, for the tests about names and creation."""
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0002)
    metrics.fresh("users", 1.5)
    metrics.routed(TICKETS_TOPIC, "tickets", 2, catalogue.QUARANTINED_OUTCOME, 0.0004)
    metrics.quarantined("tickets", "rule_violation", "priority_known")
    metrics.routed(TICKETS_TOPIC, None, None, catalogue.QUARANTINED_OUTCOME, 0.00001)
    metrics.quarantined(None, "bad_magic_byte", None)


# ---- nothing reaches Flink before a flush -------------------------------------------------------------------
def test_nothing_reaches_flink_before_flush(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    assert reporter.add_group_calls == 1  # the "lakegate" root group
    assert not metrics.pending
    exercise(metrics)
    assert metrics.pending
    assert reporter.add_group_calls == 1
    assert reporter.counters == {}


def test_flush_clears_pending(metrics: RouteMetrics) -> None:
    exercise(metrics)
    metrics.flush()
    assert not metrics.pending


def test_a_flush_with_nothing_observed_creates_nothing(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    metrics.flush()
    assert reporter.counters == {}


# ---- records and quarantine ---------------------------------------------------------------------------------
def test_records_are_counted_by_topic_contract_schema_version_and_outcome(
    metrics: RouteMetrics, reporter: FakeReporter
) -> None:
    for _ in range(3):
        metrics.routed(USERS_TOPIC, "users", 2, catalogue.AUDITED, 0.0001)
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    metrics.routed(USERS_TOPIC, "users", 2, catalogue.DEDUPLICATED, 0.0001)
    metrics.flush()
    assert reporter.values(catalogue.RECORDS) == {
        frozenset(
            {("topic", USERS_TOPIC), ("contract", "users"), ("schema_version", "2"), ("outcome", catalogue.AUDITED)}
        ): 3,
        frozenset(
            {("topic", USERS_TOPIC), ("contract", "users"), ("schema_version", "1"), ("outcome", catalogue.AUDITED)}
        ): 1,
        frozenset(
            {
                ("topic", USERS_TOPIC),
                ("contract", "users"),
                ("schema_version", "2"),
                ("outcome", catalogue.DEDUPLICATED),
            }
        ): 1,
    }


def test_records_without_contract_or_schema_version_are_labelled_unknown(
    metrics: RouteMetrics, reporter: FakeReporter
) -> None:
    metrics.routed(TICKETS_TOPIC, None, None, catalogue.QUARANTINED_OUTCOME, 0.00002)
    metrics.flush()
    assert (
        reporter.value(
            catalogue.RECORDS,
            topic=TICKETS_TOPIC,
            contract=catalogue.UNKNOWN,
            schema_version=catalogue.UNKNOWN,
            outcome=catalogue.QUARANTINED_OUTCOME,
        )
        == 1
    )


def test_quarantined_records_are_counted_by_contract_reason_and_rule(
    metrics: RouteMetrics, reporter: FakeReporter
) -> None:
    metrics.quarantined("tickets", "rule_violation", "priority_known")
    metrics.quarantined("tickets", "rule_violation", "priority_known")
    metrics.quarantined("tickets", "rule_violation", "subject_not_blank")
    metrics.quarantined("users", "duplicate_event_id", None)
    metrics.quarantined(None, "bad_magic_byte", None)
    metrics.flush()
    assert reporter.values(catalogue.QUARANTINED) == {
        frozenset({("contract", "tickets"), ("reason", "rule_violation"), ("rule", "priority_known")}): 2,
        frozenset({("contract", "tickets"), ("reason", "rule_violation"), ("rule", "subject_not_blank")}): 1,
        frozenset({("contract", "users"), ("reason", "duplicate_event_id"), ("rule", catalogue.NONE)}): 1,
        frozenset({("contract", catalogue.UNKNOWN), ("reason", "bad_magic_byte"), ("rule", catalogue.NONE)}): 1,
    }


# ---- histograms -----------------------------------------------------------------------------------------------
def test_decode_buckets_are_cumulative_and_inf_counts_every_observation(
    metrics: RouteMetrics, reporter: FakeReporter
) -> None:
    for seconds in (0.00001, 0.0003, 0.0003, 0.5):  # on a bound, between bounds twice, above every bound
        metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, seconds)
    metrics.flush()
    got = buckets(reporter, catalogue.DECODE_SECONDS, "users")
    assert set(got) == bounds(catalogue.DECODE_BUCKETS)
    assert got[bucket_label(0.00001)] == 1  # a value on a bound is within it (≤)
    assert got[bucket_label(0.00025)] == 1
    assert got[bucket_label(0.0005)] == 3
    assert got[bucket_label(0.1)] == 3
    assert got["+Inf"] == 4
    ordered = [got[bucket_label(b)] for b in sorted(catalogue.DECODE_BUCKETS)] + [got["+Inf"]]
    assert ordered == sorted(ordered)


def test_decode_histograms_are_per_contract(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.001)
    metrics.routed(TICKETS_TOPIC, "tickets", 1, catalogue.AUDITED, 0.001)
    metrics.routed(TICKETS_TOPIC, "tickets", 1, catalogue.AUDITED, 0.001)
    metrics.routed(TICKETS_TOPIC, None, None, catalogue.QUARANTINED_OUTCOME, 0.001)
    metrics.flush()
    assert buckets(reporter, catalogue.DECODE_SECONDS, "users")["+Inf"] == 1
    assert buckets(reporter, catalogue.DECODE_SECONDS, "tickets")["+Inf"] == 2
    assert buckets(reporter, catalogue.DECODE_SECONDS, catalogue.UNKNOWN)["+Inf"] == 1


def test_every_freshness_bucket_exists_even_when_zero(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    """The share fresher than 60 s is bound="60.0" / bound="+Inf": 0 must be a value, not a missing series."""
    metrics.fresh("users", 120.0)
    metrics.flush()
    got = buckets(reporter, catalogue.FRESHNESS_SECONDS, "users")
    assert set(got) == bounds(catalogue.FRESHNESS_BUCKETS)
    assert got["60.0"] == 0
    assert got["300.0"] == 1
    assert got["+Inf"] == 1


def test_negative_freshness_is_clamped_to_zero(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    """An event time slightly in the future (clock skew) is as fresh as can be, not an error.

    Only the buckets are exported (no sum), so the clamp shows as: counted in the lowest bucket and in +Inf.
    """
    metrics.fresh("users", -3.0)
    metrics.flush()
    got = buckets(reporter, catalogue.FRESHNESS_SECONDS, "users")
    assert got[bucket_label(min(catalogue.FRESHNESS_BUCKETS))] == 1
    assert got["+Inf"] == 1


# ---- first seen -----------------------------------------------------------------------------------------------
def test_first_seen_is_the_wall_clock_once_per_contract_version(
    metrics: RouteMetrics, reporter: FakeReporter, clock: Clock
) -> None:
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    clock.now = NOW + 30
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    metrics.routed(USERS_TOPIC, "users", 2, catalogue.AUDITED, 0.0001)
    metrics.flush()
    clock.now = NOW + 60
    metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    metrics.routed(USERS_TOPIC, "users", 2, catalogue.AUDITED, 0.0001)
    metrics.flush()
    assert reporter.values(catalogue.FIRST_SEEN) == {
        frozenset({("contract", "users"), ("schema_version", "1")}): int(NOW),
        frozenset({("contract", "users"), ("schema_version", "2")}): int(NOW + 30),
    }
    counters = [c for (_, name), c in reporter.counters.items() if name == "first_seen_timestamp_seconds"]
    assert [c.calls for c in counters] == [1, 1]
    assert clock.calls == 2  # read once per new version, never per record


def test_no_first_seen_without_a_schema_version(metrics: RouteMetrics, reporter: FakeReporter, clock: Clock) -> None:
    metrics.routed(TICKETS_TOPIC, None, None, catalogue.QUARANTINED_OUTCOME, 0.0001)
    metrics.routed(TICKETS_TOPIC, "tickets", None, catalogue.QUARANTINED_OUTCOME, 0.0001)
    metrics.flush()
    assert reporter.values(catalogue.FIRST_SEEN) == {}
    assert clock.calls == 0


# ---- flushing twice -----------------------------------------------------------------------------------------
def test_a_second_flush_adds_only_the_new_increments(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    for _ in range(3):
        metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    metrics.quarantined("users", "duplicate_event_id", None)
    metrics.fresh("users", 0.2)
    metrics.flush()
    for _ in range(2):
        metrics.routed(USERS_TOPIC, "users", 1, catalogue.AUDITED, 0.0001)
    metrics.fresh("users", 0.2)
    metrics.flush()
    metrics.flush()  # nothing new
    assert reporter.value(catalogue.RECORDS, contract="users", outcome=catalogue.AUDITED) == 5
    assert reporter.value(catalogue.QUARANTINED, contract="users") == 1
    assert buckets(reporter, catalogue.DECODE_SECONDS, "users")["+Inf"] == 5
    assert buckets(reporter, catalogue.FRESHNESS_SECONDS, "users")["0.25"] == 2
    assert buckets(reporter, catalogue.FRESHNESS_SECONDS, "users")["0.1"] == 0


def test_counters_are_created_once_per_label_combination(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    exercise(metrics)
    metrics.flush()
    groups, counters = reporter.add_group_calls, reporter.counter_calls
    assert counters == len(reporter.counters)
    exercise(metrics)
    metrics.flush()
    assert (reporter.add_group_calls, reporter.counter_calls) == (groups, counters)


# ---- names as the Prometheus reporter builds them -----------------------------------------------------------------
def test_series_names_and_labels_are_the_catalogues(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    exercise(metrics)
    metrics.flush()
    exported: dict[str, set[str]] = {}
    for name, labels in reporter.series():
        exported.setdefault(name, set()).update(key for key, _ in labels)
    # Only the JVM's read_models operator counts changes (ChangeCounters.java); RouteMetrics exports the rest.
    assert exported == {m.name: set(m.labels) for m in catalogue.JOB if m.name != catalogue.READ_MODEL_CHANGES}


def test_every_series_starts_with_the_job_prefix(metrics: RouteMetrics, reporter: FakeReporter) -> None:
    exercise(metrics)
    metrics.flush()
    assert all(name.startswith(catalogue.JOB_PREFIX) for name, _ in reporter.series())


# ---- building blocks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bound", "label"),
    [
        (float("inf"), "+Inf"),
        (60, "60.0"),  # what the alert rules select: bound="60.0"
        (60.0, "60.0"),
        (0.25, "0.25"),
    ],
)
def test_bucket_label(bound: float, label: str) -> None:
    assert bucket_label(bound) == label


def test_bucket_labels_are_distinct_and_parse_back_to_their_bounds() -> None:
    for buckets_ in (catalogue.DECODE_BUCKETS, catalogue.FRESHNESS_BUCKETS):
        labels = [bucket_label(b) for b in buckets_]
        assert len(set(labels)) == len(labels)
        assert [float(label) for label in labels] == [float(b) for b in buckets_]


def test_local_histogram_sorts_its_bounds_and_adds_inf() -> None:
    assert LocalHistogram([5.0, 1.0, 2.5]).bounds == (1.0, 2.5, 5.0, float("inf"))


def test_local_histogram_drain_is_cumulative_and_resets() -> None:
    histogram = LocalHistogram([1.0, 2.5, 5.0])
    for value in (0.0, 1.0, 1.1, 7.0, float("inf")):
        histogram.observe(value)
    assert histogram.drain() == [2, 3, 3, 5]
    assert histogram.drain() == [0, 0, 0, 0]
