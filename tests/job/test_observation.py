"""The observation plane against a real job and a real Prometheus.

One running ingest job (bad records and producer retries in its input) is observed three ways:
the no-loss ledger from the exporter must balance exactly; both endpoints must pass
`promtool check metrics`; and a real Prometheus scraping them must answer every dashboard panel's query
with at least one series and evaluate every rule without error. A job started mid-topic from its group's
offsets balances too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from lakegate import kafka_clients
from lakegate.catalog import open_catalog, quarantine_table_name
from lakegate.observe import catalogue, dashboards
from lakegate.observe.exporter import Observer
from lakegate.observe.ledger import read_origins
from lakegate.observe.scrape import exporter_endpoint, job_endpoints, scrape, summed
from lakegate.produce import produce
from lakegate.settings import Settings, port_range
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun, RunningJob
from lakegate.testing.prometheus import RULES_DIR, Prometheus, PrometheusError, running_prometheus
from lakegate.testing.readers import topic_coordinates
from udfs.contract import Contracts

pytestmark = pytest.mark.job

# Grafana's interval variables, as a dashboard would expand them for a short time range.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}


def _ledger(settings: Settings) -> dict[tuple[str, ...], float]:
    return summed(scrape([exporter_endpoint(settings)]), catalogue.LEDGER_RECORDS, ("topic", "stage"))


def _wait_for_ledger(settings: Settings, job: RunningJob, expected: dict[str, int]) -> dict[tuple[str, ...], float]:
    """Until the settled ledger has read every record in the topics (the job drains them)."""
    deadline = time.monotonic() + 240
    ledger: dict[tuple[str, ...], float] = {}
    while time.monotonic() < deadline:
        assert job.alive, f"the job died; see {job.log}"
        ledger = _ledger(settings)
        if all(ledger.get((topic, catalogue.READ)) == n for topic, n in expected.items()):
            return ledger
        time.sleep(2)
    pytest.fail(f"the ledger never read every record: {ledger} vs {expected}")


def _promtool_check_metrics(text: str) -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-3000:]


def _expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _rule_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [(rule.get("alert") or rule["record"], rule["expr"]) for rule in group["rules"]]
    return out


def test_ledger_balances_and_every_panel_and_rule_works_on_a_real_prometheus(
    lakegate_stack: Settings,
    start_job: Callable[[str, Settings], RunningJob],
    tmp_path: Path,
) -> None:
    # The exporter refreshes every 2 s here (10 s by default), so the ledger it serves settles sooner.
    settings, contracts = own_lake(lakegate_stack, tmp_path, "observe", drain=False, exporter_interval_s=2)
    report = produce(settings, contracts, 1500, bad_fraction=0.2, duplicate_fraction=0.05, all_versions=True, seed=4242)
    assert any(r.expected == "duplicate_event_id" for r in report.records)
    topics = sorted({c.topic for c in contracts})
    scrape_targets = {
        "flink": [f"127.0.0.1:{p}" for p in port_range(settings.observation.metrics_port)],
        "lakegate-exporter": [f"127.0.0.1:{settings.observation.exporter_port}"],
    }
    with running_prometheus(tmp_path / "prometheus", scrape_targets) as prometheus:
        job = start_job("ingest", settings)
        # Every record in the lake's topics.
        in_topics = topic_coordinates(settings, topics)
        expected = {t: sum(1 for c in in_topics if c[0] == t) for t in topics}
        ledger = _wait_for_ledger(settings, job, expected)

        # 1. The ledger balances, with bad records and duplicates in the input.
        for topic in topics:
            stages = {stage: int(ledger[(topic, stage)]) for stage in catalogue.LEDGER_STAGES}
            assert (
                stages[catalogue.READ]
                == stages[catalogue.AUDITED] + stages[catalogue.QUARANTINED_OUTCOME] + stages[catalogue.DEDUPLICATED]
            ), (topic, stages)
            assert stages[catalogue.QUARANTINED_OUTCOME] > 0, (topic, stages)
        assert sum(int(ledger[(t, catalogue.DEDUPLICATED)]) for t in topics) > 0
        unaccounted = summed(scrape([exporter_endpoint(settings)]), catalogue.LEDGER_UNACCOUNTED, ("topic",))
        assert unaccounted == {(t,): 0.0 for t in topics}

        # 2. Both endpoints are clean by promtool's lint.
        job_text = scrape(job_endpoints(settings))
        assert catalogue.RECORDS in job_text
        _promtool_check_metrics(job_text)
        _promtool_check_metrics(scrape([exporter_endpoint(settings)]))

        # 3. A real Prometheus: every panel query returns data; every rule evaluates without error.
        _assert_panels_return_data(prometheus, settings, contracts)
        _assert_rules_evaluate(prometheus)


def _assert_panels_return_data(prometheus: Prometheus, settings: Settings, contracts: Contracts) -> None:
    prometheus.wait_for(f"sum(rate({catalogue.RECORDS}[30s]))")
    prometheus.wait_for(catalogue.LEDGER_CHECKED)
    panels = dashboards.queries(dashboards.build(contracts, settings))
    assert panels, "the dashboards have no queries"
    empty = []
    deadline = time.monotonic() + 60
    for uid, title, expr in panels:
        while not prometheus.query(_expand(expr)):
            if time.monotonic() > deadline:
                empty.append(f"{uid} / {title}: {expr}")
                break
            time.sleep(1)
    assert not empty, "panels without data:\n" + "\n".join(empty)


def _assert_rules_evaluate(prometheus: Prometheus) -> None:
    exprs = _rule_exprs()
    assert exprs, f"no rules in {RULES_DIR}"
    failures = []
    for name, expr in exprs:
        try:
            prometheus.query(expr)
        except PrometheusError as exc:  # Prometheus' own words on a bad expression
            failures.append(f"{name}: {exc}")
    assert not failures, failures
    time.sleep(3)  # a few evaluation rounds (every second)
    rules = prometheus.rules()
    assert {r["name"] for r in rules} == {name for name, _ in exprs}
    unhealthy = [(r["name"], r.get("health"), r.get("lastError")) for r in rules if r.get("health") != "ok"]
    assert not unhealthy, unhealthy


def test_a_job_started_mid_topic_from_the_groups_offsets_owns_nothing_before_its_start(
    lakegate_stack: Settings, run_job: Callable[..., JobRun], tmp_path: Path
) -> None:
    """The group's committed offsets sit mid-topic; the job starts there: the ledger balances with records
    before the start neither read nor lost (the origins the start recorded)."""
    settings, contracts = own_lake(lakegate_stack, tmp_path, "midtopic", start_from="group-offsets")
    produce(settings, contracts, 200, bad_fraction=0.1, seed=5151)
    topics = sorted({c.topic for c in contracts})
    committed = _commit_group_offsets_mid_topic(settings, topics)
    produce(settings, contracts, 200, bad_fraction=0.1, seed=5152)
    run_job("ingest", settings)

    table = open_catalog(settings).load_table(quarantine_table_name(settings))
    assert read_origins(table) == committed
    observer = Observer(settings, contracts)
    try:
        observer.refresh()  # settles the offsets the second refresh counts up to
        rows = {row.topic: row for row in observer.refresh().ledger}
    finally:
        observer.close()
    in_topics = topic_coordinates(settings, topics)
    for topic in topics:
        after_start = sum(1 for t, p, o in in_topics if t == topic and o >= committed[(t, p)])
        assert rows[topic].read == after_start, (topic, rows[topic])
        assert rows[topic].unaccounted == 0, (topic, rows[topic])


def _commit_group_offsets_mid_topic(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """Commit, for the settings' consumer group, half of each partition's end offset; return the offsets."""
    consumer = KafkaConsumer(
        **kafka_clients.python_config(settings), group_id=settings.kafka.consumer_group, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(partitions)
        middle = {tp: OffsetAndMetadata(ends[tp] // 2, "", -1) for tp in partitions}
        assert all(m.offset > 0 for m in middle.values()), "every partition has records before the middle"
        consumer.commit(middle)
        return {(tp.topic, tp.partition): m.offset for tp, m in middle.items()}
    finally:
        consumer.close()
