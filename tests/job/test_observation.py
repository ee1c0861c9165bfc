"""The observation plane against a real job and a real Prometheus.

One running ingest job (bad records and producer retries in its input) is observed three ways:
the no-loss ledger from the exporter must balance exactly; both endpoints must pass
`promtool check metrics`; and a real Prometheus scraping them must answer every dashboard panel's query
with at least one series and evaluate every rule without error.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lakegate.observe import catalogue, dashboards
from lakegate.observe.scrape import exporter_endpoint, job_endpoints, scrape, summed
from lakegate.produce import produce
from lakegate.settings import Settings, port_range
from lakegate.testing.plugin import RunningJob
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
    lakegate_contracts: Contracts,
    start_job: Callable[[str, Settings], RunningJob],
    tmp_path: Path,
) -> None:
    settings = lakegate_stack.replace(
        audit_namespace="observe",
        quarantine_namespace="observe_q",
        dlq_topic="observe.dlq",
        consumer_group="observe",
        drain=False,
    )
    report = produce(
        settings, lakegate_contracts, 1500, bad_fraction=0.2, duplicate_fraction=0.05, all_versions=True, seed=4242
    )
    assert any(r.expected == "duplicate_event_id" for r in report.records)
    topics = sorted({c.topic for c in lakegate_contracts})
    scrape_targets = {
        "flink": [f"127.0.0.1:{p}" for p in port_range(settings.observation.metrics_port)],
        "lakegate-exporter": [f"127.0.0.1:{settings.observation.exporter_port}"],
    }
    with running_prometheus(tmp_path / "prometheus", scrape_targets) as prometheus:
        job = start_job("ingest", settings)
        # Every record in the topics (other tests' too: this job has its own tables and reads them all).
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
        _assert_panels_return_data(prometheus, settings, lakegate_contracts)
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
