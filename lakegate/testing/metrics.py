"""Scrape a running job's Prometheus endpoints (one per MiniCluster component, within the port range)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import Counter

from lakegate.settings import Settings

RECORDS = "flink_taskmanager_job_task_operator_lakegate_contract_outcome_reason_records"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def ports(settings: Settings) -> range:
    first, _, last = settings.metrics_port.partition("-")
    return range(int(first), int(last or first) + 1)


def scrape(settings: Settings) -> str:
    """The concatenated exposition text of every endpoint in the port range that answers."""
    out = []
    for port in ports(settings):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                out.append(response.read().decode())
        except (urllib.error.URLError, OSError):
            continue
    return "\n".join(out)


def record_counts(text: str) -> Counter[tuple[str, str, str]]:
    """(contract, outcome, reason) → records, summed over subtasks."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != RECORDS:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        counts[(labels["contract"], labels["outcome"], labels["reason"])] += int(float(match["value"]))
    return counts
