"""The observation plane's first piece: a running job's Prometheus endpoint counts every record it routes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from lakegate.produce import VALID, produce
from lakegate.settings import Settings
from lakegate.testing.metrics import record_counts, scrape
from lakegate.testing.plugin import RunningJob
from lakegate.testing.ports import free_port_range
from lakegate.testing.readers import topic_coordinates
from udfs.contract import Contracts

pytestmark = pytest.mark.job


def test_a_running_job_counts_every_record_by_contract_outcome_and_reason(
    lakegate_stack: Settings, lakegate_contracts: Contracts, start_job: Callable[[str, Settings], RunningJob]
) -> None:
    # Its own namespaces and a new consumer group: it reads every record in the topics once.
    settings = lakegate_stack.replace(audit_namespace="metrics", quarantine_namespace="metrics_q",
                                      dlq_topic="metrics.dlq", consumer_group="metrics", drain=False,
                                      metrics_port=free_port_range(4))
    report = produce(settings, lakegate_contracts, 1000, bad_fraction=0.2, seed=5150)
    job = start_job("ingest", settings)
    mine = Counter(
        (r.contract, "audited" if r.expected == VALID else "quarantined", "none" if r.expected == VALID else r.expected)
        for r in report.records
    )
    # Other job tests share the topics, and this job routes their records too: the total must equal
    # everything in the topics (each record counted once), and each of our label sets is a lower bound.
    in_topics = len(topic_coordinates(settings, [c.topic for c in lakegate_contracts]))
    deadline = time.monotonic() + 180
    counts: Counter[tuple[str, str, str]] = Counter()
    while time.monotonic() < deadline:
        assert job.alive, f"the job died; see {job.log}"
        counts = record_counts(scrape(settings))
        if sum(counts.values()) >= in_topics:
            break
        time.sleep(2)
    time.sleep(3)  # a late double count would show now
    counts = record_counts(scrape(settings))
    assert sum(counts.values()) == in_topics, f"counted {sum(counts.values())} of {in_topics} records"
    assert all(counts[key] >= n for key, n in mine.items()), f"metrics {dict(counts)} vs produced {dict(mine)}"
    assert {reason for (_, outcome, reason) in counts if outcome == "quarantined"} >= {
        reason for (_, outcome, reason) in mine if outcome == "quarantined"}
    assert all(reason == "none" for (_, outcome, reason) in counts if outcome == "audited")
