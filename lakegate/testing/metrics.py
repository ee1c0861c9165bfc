"""Scrape a running job's Prometheus endpoints and sum its counters (see lakegate/observe/catalogue.py)."""

from __future__ import annotations

from collections import Counter

from lakegate.observe import catalogue
from lakegate.observe.scrape import job_endpoints, summed
from lakegate.observe.scrape import scrape as scrape_urls
from lakegate.settings import Settings


def scrape(settings: Settings) -> str:
    """The exposition text of the job's Flink reporter endpoints."""
    return scrape_urls(job_endpoints(settings))


def record_counts(text: str) -> Counter[tuple[str, str, str, str]]:
    """(topic, contract, schema_version, outcome) → records routed, summed over subtasks."""
    counts = summed(text, catalogue.RECORDS, ("topic", "contract", "schema_version", "outcome"))
    return Counter({(k[0], k[1], k[2], k[3]): int(v) for k, v in counts.items()})


def quarantine_counts(text: str) -> Counter[tuple[str, str, str]]:
    """(contract, reason, rule) → records quarantined, summed over subtasks."""
    counts = summed(text, catalogue.QUARANTINED, ("contract", "reason", "rule"))
    return Counter({(k[0], k[1], k[2]): int(v) for k, v in counts.items()})
