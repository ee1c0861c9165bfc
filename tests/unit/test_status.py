"""`lakegate status`: quantiles like PromQL's, and a readable rendering of one observation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lakegate.observe import catalogue
from lakegate.observe.exporter import Observation
from lakegate.observe.ledger import TopicLedger
from lakegate.observe.sources import JobHealth, Positions, TableStats
from lakegate.observe.status import JobSample, quantile, render


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile() -> None:
    # 10 observations <= 1 s, 10 more <= 2 s: the median is the top of the first bucket, p75 halfway up.
    buckets = [(1.0, 10.0), (2.0, 20.0), (math.inf, 20.0)]
    assert quantile(0.5, buckets) == pytest.approx(1.0)
    assert quantile(0.75, buckets) == pytest.approx(1.5)
    assert quantile(0.25, buckets) == pytest.approx(0.5)  # from 0 up to the first bound


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.99, [(1.0, 1.0), (60.0, 2.0), (math.inf, 100.0)]) == 60.0


def test_quantile_of_no_observations_is_unknown() -> None:
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def _job_text(audited: int, quarantined: int) -> str:
    records = catalogue.RECORDS
    fresh = catalogue.FRESHNESS_SECONDS
    return "\n".join(
        [
            f'{records}{{topic="t.v1",contract="users",schema_version="1",outcome="audited",'
            f'subtask_index="0"}} {audited}',
            f'{records}{{topic="t.v1",contract="users",schema_version="unknown",outcome="quarantined",'
            f'subtask_index="0"}} {quarantined}',
            f'{catalogue.QUARANTINED}{{contract="users",reason="rule_violation",rule="email.shape"}} {quarantined}',
            f'{fresh}{{contract="users",bound="1.0"}} {audited}',
            f'{fresh}{{contract="users",bound="3600.0"}} {audited}',
            f'{fresh}{{contract="users",bound="+Inf"}} {audited}',
            "",
        ]
    )


def test_render_shows_rates_quarantine_freshness_lag_tables_and_an_unbalanced_ledger() -> None:
    observation = Observation(
        at_s=1000.0,
        job=JobHealth("lakegate-ingest", "abc", "RUNNING", 2, 10, 1, 998.0, 0.05),
        tables=(TableStats("audit.users", 7, 7, 3, 1234, 50, 990.0),),
        ledger=(TopicLedger("t.v1", read=60, audited=50, quarantined=8, deduplicated=0),),
        positions=Positions({("t.v1", 0): 0}, {("t.v1", 0): 70}),
        lake_high={("t.v1", 0): 59},
    )
    text = render(JobSample(_job_text(30, 4), 0.0), JobSample(_job_text(50, 8), 2.0), observation)
    assert "lakegate-ingest RUNNING" in text and "2 restarts" in text and "last 2 s ago" in text
    assert "10.0" in text  # (50 - 30) audited over 2 s
    assert "email.shape" in text
    assert "500.0 ms" in text  # p50 freshness: halfway up the first bucket (all 50 observations <= 1 s)
    assert "t.v1" in text and " 10" in text  # lag: 70 - (59 + 1)
    assert "audit.users" in text and "10 s ago" in text
    assert "records lost" in text  # 60 read, 58 accounted for


def test_render_without_a_job_still_shows_the_lake() -> None:
    observation = Observation(at_s=0.0, tables=(TableStats("audit.users", 1, 1, 1, 10, 5, None),))
    text = render(JobSample("", 0.0), JobSample("", 2.0), observation)
    assert "not found" in text and "does not answer" in text and "audit.users" in text and "never" in text


def test_docs_metrics_md_is_the_rendered_catalogue() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    assert docs.read_text() == catalogue.render_markdown(), "run: lakegate metrics catalogue > docs/metrics.md"
