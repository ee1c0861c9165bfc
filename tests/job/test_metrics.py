"""A running job's Flink reporter counts every record it routes, by topic, contract, version and outcome."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate.produce import DUPLICATE, VALID, produce
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.metrics import quarantine_counts, record_counts, scrape
from lakegate.testing.plugin import RunningJob
from lakegate.testing.readers import topic_coordinates

pytestmark = pytest.mark.job


def _outcome(expected: str) -> str:
    return {VALID: "audited", DUPLICATE: "deduplicated"}.get(expected, "quarantined")


def test_a_running_job_counts_every_record_by_topic_contract_version_and_outcome(
    lakegate_stack: Settings, tmp_path: Path, start_job: Callable[[str, Settings], RunningJob]
) -> None:
    # A lake of its own: it reads every record of its topics once, and nothing else.
    settings, contracts = own_lake(
        lakegate_stack,
        tmp_path,
        "metrics",
        drain=False,
    )
    report = produce(settings, contracts, 1000, bad_fraction=0.2, seed=5150)
    job = start_job("ingest", settings)
    mine = Counter((r.topic, r.contract, _outcome(r.expected)) for r in report.records)
    mine_valid_versions = Counter((r.contract, str(r.version)) for r in report.records if r.expected == VALID)
    mine_reasons = Counter((r.contract, r.expected) for r in report.records if r.expected != VALID)
    # The total must equal everything in the lake's topics (each record counted once).
    in_topics = len(topic_coordinates(settings, [c.topic for c in contracts]))
    deadline = time.monotonic() + 180
    counts: Counter[tuple[str, str, str, str]] = Counter()
    while time.monotonic() < deadline:
        assert job.alive, f"the job died; see {job.log}"
        counts = record_counts(scrape(settings))
        if sum(counts.values()) >= in_topics:
            break
        time.sleep(2)
    time.sleep(3)  # a late double count would show now
    text = scrape(settings)
    counts = record_counts(text)
    assert sum(counts.values()) == in_topics, f"counted {sum(counts.values())} of {in_topics} records"
    by_outcome = Counter[tuple[str, str, str]]()
    by_version = Counter[tuple[str, str]]()
    for (topic, contract, version, outcome), n in counts.items():
        by_outcome[(topic, contract, outcome)] += n
        if outcome == "audited":
            by_version[(contract, version)] += n
    assert by_outcome == mine, f"{dict(by_outcome)} vs produced {dict(mine)}"
    assert by_version == mine_valid_versions, dict(by_version)
    assert "unknown" not in {version for (_, version) in by_version}, "an audited record always has a version"
    # Quarantine by reason (and rule) adds up to the quarantined and deduplicated records.
    reasons = quarantine_counts(text)
    assert sum(reasons.values()) == sum(n for key, n in counts.items() if key[3] != "audited")
    by_reason = Counter[tuple[str, str]]()
    for (contract, reason, rule), n in reasons.items():
        by_reason[(contract, reason)] += n
        assert (rule != "none") == (reason == "rule_violation"), (contract, reason, rule)
    assert by_reason == mine_reasons, f"{dict(by_reason)} vs {dict(mine_reasons)}"
