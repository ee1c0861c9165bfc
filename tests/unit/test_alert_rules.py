"""The Prometheus rules in deploy/prometheus: promtool accepts them and their unit tests pass, and they speak
only of metrics the catalogue defines, with the labels and annotations an on-call engineer needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from lakegate.observe import catalogue

from .support import REPO

RULES = REPO / "deploy" / "prometheus" / "rules" / "lakegate.rules.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "tests" / "lakegate.rules.test.yml"

METRIC = re.compile(r"lakegate_\w+|flink_\w+")
# Recorded names (level:metric:operations) contain colons, so a whole identifier is taken before METRIC is
# applied: `contract:lakegate_freshness_slo_errors:ratio_rate5m` is one recorded name, not a metric.
IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")
# PromQL string literals hold label values (`bound="+Inf"`), never metric names.
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
BOUND = re.compile(r'\bbound\s*=\s*"([^"]*)"')
SEVERITIES = {"page", "ticket"}
ANNOTATIONS = {"summary", "description", "runbook"}


def promtool(*args: str) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not on PATH: run `make setup` (deploy/install-prometheus.sh installs the Debian "
            "package prometheus, which provides it)"
        )
    result = subprocess.run([binary, *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(path)
    assert isinstance(data, dict), path
    return data


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def test_promtool_accepts_the_rules() -> None:
    promtool("check", "rules", str(RULES.relative_to(REPO)))


def test_promtool_unit_tests_pass() -> None:
    promtool("test", "rules", str(RULE_TESTS.relative_to(REPO)))


def test_rules_use_only_catalogued_metrics_and_defined_recordings() -> None:
    known = {metric.name for metric in catalogue.ALL}
    names = recorded()
    used: set[str] = set()
    for rule in rules():
        for identifier in IDENTIFIER.findall(STRING.sub('""', rule["expr"])):
            if ":" in identifier:
                # An undefined recorded name is not an error to Prometheus: it is an empty vector, forever.
                assert identifier in names, f"{identifier} is not recorded in {RULES.name}"
            elif METRIC.fullmatch(identifier):
                used.add(identifier)
    assert used, "no metric name found in the rules: the pattern no longer matches them"
    assert used <= known, f"not in lakegate/observe/catalogue.py: {sorted(used - known)}"


def test_histogram_buckets_exist() -> None:
    """The job labels a bucket with Python's str(float) of its bound; one it does not export matches nothing."""
    buckets = {str(bound) for bound in (*catalogue.FRESHNESS_BUCKETS, *catalogue.DECODE_BUCKETS)} | {"+Inf"}
    used = {bound for rule in rules() for bound in BOUND.findall(rule["expr"])}
    assert "60.0" in used, "the freshness objective is about records routed within 60 s"
    assert used <= buckets, f"no such bucket in the catalogue: {sorted(used - buckets)}"


def test_every_alert_says_how_urgent_it_is_and_what_to_do() -> None:
    known = {metric.name for metric in catalogue.ALL}
    assert alerts()
    for alert in alerts():
        name = alert["alert"]
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = alert.get("annotations", {})
        assert annotations.keys() >= ANNOTATIONS, f"{name}: missing {sorted(ANNOTATIONS - annotations.keys())}"
        assert all(annotations[key].strip() for key in ANNOTATIONS), name
        page, _, anchor = annotations["runbook"].partition("#")
        assert page == "docs/metrics.md", name
        assert anchor in known, f"{name}: runbook anchor {anchor} is not a catalogued metric"


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    names = {alert["alert"] for alert in alerts()}
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    # A misspelt alertname with `exp_alerts: []` passes promtool without testing anything.
    assert (fires | quiet) <= names, f"tests for alerts that do not exist: {sorted((fires | quiet) - names)}"
    assert names <= fires, f"no case where these fire: {sorted(names - fires)}"
    assert names <= quiet, f"no case where these stay quiet: {sorted(names - quiet)}"


def test_alerts_the_catalogue_refers_to_exist() -> None:
    names = {alert["alert"] for alert in alerts()}
    referred = {
        match
        for metric in catalogue.ALL
        for text in (metric.help, metric.action)
        for match in re.findall(r"\balert ([A-Z]\w+)", text)
    }
    assert referred, "the catalogue names no alert: the pattern no longer matches it"
    assert referred <= names, f"the catalogue refers to alerts that do not exist: {sorted(referred - names)}"
