"""The lakegate exporter: the no-loss ledger, lag, Iceberg tables and job health as Prometheus metrics.

A process outside Flink (prometheus-client) for what only the lake, Kafka and Flink's REST API know.
:class:`Observer` refreshes an :class:`Observation` every ``exporter_interval_s`` in a background thread;
scrapes serve the latest one, so a scrape never waits on the lake. Each source fails on its own: its error
is counted (``lakegate_exporter_refresh_errors_total{source}``), logged, and the other sources still
report. ``lakegate run ingest`` serves it beside the job; ``lakegate status`` prints one observation.
A refresh reads the data files committed since the last one, table metadata, two offset requests to Kafka
and three REST calls; its cost: docs/known-limits.md#the-ledgers-cost-and-assumption.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lakegate.logs import kv
from lakegate.observe import catalogue as m
from lakegate.observe.ledger import LakeReader, TopicLedger, TopicPartition, high_water, ledger, tally
from lakegate.observe.sources import JobHealth, KafkaView, Positions, TableStats, job_health, table_names, table_stats
from lakegate.settings import Settings
from udfs.contract import Contracts

log = logging.getLogger(__name__)

FLINK, LAKE, KAFKA = "flink", "lake", "kafka"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Observation:
    at_s: float
    job: JobHealth | None = None
    tables: tuple[TableStats, ...] = ()
    ledger: tuple[TopicLedger, ...] = ()  # empty until a second refresh has settled offsets to count up to
    ledger_at_s: float | None = None
    positions: Positions = field(default_factory=lambda: Positions({}, {}))
    lake_high: dict[TopicPartition, int] = field(default_factory=dict)  # highest offset in the lake
    refresh_s: float = 0.0

    def lag(self) -> dict[TopicPartition, int]:
        """Records in Kafka not in the lake yet, per partition."""
        out = {}
        for tp, end in self.positions.end.items():
            done = self.lake_high[tp] + 1 if tp in self.lake_high else self.positions.log_start.get(tp, 0)
            out[tp] = max(end - done, 0)
        return out


class Observer:
    def __init__(self, settings: Settings, contracts: Contracts) -> None:
        self._settings = settings
        self._contracts = contracts
        self._topics = sorted({c.topic for c in contracts})
        self._kafka: KafkaView | None = None
        self._lake = LakeReader(settings, contracts)
        self._settled: dict[TopicPartition, int] | None = None
        self._ledger: tuple[TopicLedger, ...] = ()
        self._ledger_at: float | None = None
        self.errors: Counter[str] = Counter()
        self.latest = Observation(at_s=time.time())

    def close(self) -> None:
        if self._kafka is not None:
            self._kafka.close()

    def refresh(self) -> Observation:
        started = time.monotonic()
        job = self._guard(FLINK, lambda: job_health(self._settings), self.latest.job)
        tables = self._guard(
            LAKE,
            lambda: tuple(table_stats(self._settings, table_names(self._settings, self._contracts))),
            self.latest.tables,
        )
        positions = self._guard(KAFKA, lambda: self._view().positions(self._topics), self.latest.positions)
        lake_high = self._guard(LAKE, lambda: self._refresh_ledger(positions), self.latest.lake_high)
        self.latest = Observation(
            at_s=time.time(),
            job=job,
            tables=tables,
            ledger=self._ledger,
            ledger_at_s=self._ledger_at,
            positions=positions,
            lake_high=lake_high,
            refresh_s=time.monotonic() - started,
        )
        return self.latest

    def _view(self) -> KafkaView:
        if self._kafka is None:
            self._kafka = KafkaView(self._settings)
        return self._kafka

    def _refresh_ledger(self, positions: Positions) -> dict[TopicPartition, int]:
        audit, quarantine = self._lake.read()
        high = high_water(audit, quarantine)
        if self._settled is not None:
            counted = tally(audit, quarantine, self._settled, positions.log_start, self._lake.origins)
            self._ledger = tuple(ledger(counted, self._view().records_in(counted.gaps), self._topics))
            self._ledger_at = time.time()
        self._settled = high
        return high

    def _guard(self, source: str, read: Callable[[], T], stale: T) -> T:
        try:
            return read()
        except Exception as exc:  # one source down must not silence the others
            self.errors[source] += 1
            log.warning("exporter source failed", extra=kv(source=source, error=f"{type(exc).__name__}: {exc}"))
            return stale


class ObservationCollector(Collector):
    """Serves :attr:`Observer.latest` in the names of lakegate/observe/catalogue.py."""

    def __init__(self, observer: Observer) -> None:
        self._observer = observer

    def collect(self) -> Iterator[Metric]:
        o = self._observer.latest
        yield from self._job(o.job)
        yield from self._tables(o.tables)
        records = GaugeMetricFamily(m.LEDGER_RECORDS, _help(m.LEDGER_RECORDS), labels=["topic", "stage"])
        unaccounted = GaugeMetricFamily(m.LEDGER_UNACCOUNTED, _help(m.LEDGER_UNACCOUNTED), labels=["topic"])
        for row in o.ledger:
            for stage, n in (
                (m.READ, row.read),
                (m.AUDITED, row.audited),
                (m.QUARANTINED_OUTCOME, row.quarantined),
                (m.DEDUPLICATED, row.deduplicated),
            ):
                records.add_metric([row.topic, stage], n)
            unaccounted.add_metric([row.topic], row.unaccounted)
        yield records
        yield unaccounted
        if o.ledger_at_s is not None:
            yield GaugeMetricFamily(m.LEDGER_CHECKED, _help(m.LEDGER_CHECKED), value=o.ledger_at_s)
        lag = GaugeMetricFamily(m.LAG, _help(m.LAG), labels=["topic", "partition"])
        for (topic, partition), n in sorted(o.lag().items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
        end = GaugeMetricFamily(m.TOPIC_END_OFFSET, _help(m.TOPIC_END_OFFSET), labels=["topic", "partition"])
        for (topic, partition), n in sorted(o.positions.end.items()):
            end.add_metric([topic, str(partition)], n)
        yield end
        yield GaugeMetricFamily(m.EXPORTER_REFRESH_SECONDS, _help(m.EXPORTER_REFRESH_SECONDS), value=o.refresh_s)
        errors = CounterMetricFamily(m.EXPORTER_ERRORS, _help(m.EXPORTER_ERRORS), labels=["source"])
        for source in (FLINK, LAKE, KAFKA):
            errors.add_metric([source], self._observer.errors[source])
        yield errors

    @staticmethod
    def _job(job: JobHealth | None) -> Iterator[Metric]:
        if job is None:
            return
        labels = [job.job]

        def family(kind: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str, value: float) -> Metric:
            metric = kind(name, _help(name), labels=["job_name"])
            metric.add_metric(labels, value)
            return metric

        yield family(GaugeMetricFamily, m.JOB_RUNNING, 1 if job.running else 0)
        yield family(CounterMetricFamily, m.JOB_RESTARTS, job.restarts)
        yield family(CounterMetricFamily, m.CHECKPOINTS_COMPLETED, job.checkpoints_completed)
        yield family(CounterMetricFamily, m.CHECKPOINTS_FAILED, job.checkpoints_failed)
        if job.last_checkpoint_s is not None:
            yield family(GaugeMetricFamily, m.CHECKPOINT_LAST_COMPLETED, job.last_checkpoint_s)
        if job.last_checkpoint_duration_s is not None:
            yield family(GaugeMetricFamily, m.CHECKPOINT_LAST_DURATION, job.last_checkpoint_duration_s)

    @staticmethod
    def _tables(tables: tuple[TableStats, ...]) -> Iterator[Metric]:
        columns: tuple[
            tuple[str, type[GaugeMetricFamily] | type[CounterMetricFamily], Callable[[TableStats], float | None]], ...
        ] = (
            (m.ICEBERG_COMMITS, CounterMetricFamily, lambda t: t.commits),
            (m.ICEBERG_SNAPSHOTS, GaugeMetricFamily, lambda t: t.snapshots),
            (m.ICEBERG_DATA_FILES, GaugeMetricFamily, lambda t: t.data_files),
            (m.ICEBERG_DATA_BYTES, GaugeMetricFamily, lambda t: t.data_bytes),
            (m.ICEBERG_RECORDS, GaugeMetricFamily, lambda t: t.records),
            (m.ICEBERG_LAST_COMMIT, GaugeMetricFamily, lambda t: t.last_commit_s),
        )
        for name, kind, value_of in columns:
            family = kind(name, _help(name), labels=["table"])
            for t in tables:
                value = value_of(t)
                if value is not None:
                    family.add_metric([t.table], value)
            yield family


def _help(name: str) -> str:
    return m.by_name(name).help


class Exporter:
    """An :class:`Observer` refreshed in a daemon thread and served over HTTP on loopback."""

    def __init__(self, settings: Settings, contracts: Contracts) -> None:
        self.observer = Observer(settings, contracts)
        self._interval_s = settings.observation.exporter_interval_s
        self._stop = threading.Event()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ObservationCollector(self.observer))
        self._server, self._server_thread = start_http_server(
            settings.observation.exporter_port, addr="127.0.0.1", registry=registry
        )
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._loop, name="lakegate-exporter", daemon=True)
        self._thread.start()
        log.info("exporter serving", extra=kv(url=f"http://127.0.0.1:{self.port}/metrics", interval_s=self._interval_s))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.observer.refresh()
            self._stop.wait(self._interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._server.shutdown()
        self._server.server_close()
        self.observer.close()


@contextlib.contextmanager
def serving(settings: Settings, contracts: Contracts) -> Iterator[Exporter | None]:
    """The exporter for the duration of a job (nothing when ``exporter_port`` is 0 or already taken)."""
    if settings.observation.exporter_port == 0:
        yield None
        return
    try:
        exporter = Exporter(settings, contracts)
    except OSError as exc:
        log.error(
            "exporter not started: the job runs unobserved by it",
            extra=kv(port=settings.observation.exporter_port, error=str(exc)),
        )
        yield None
        return
    try:
        yield exporter
    finally:
        exporter.stop()
