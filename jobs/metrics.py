"""The job's metrics, through Flink's metric groups (exported by the Prometheus reporter).

Key/value groups become Prometheus labels: ``contract``, ``outcome`` (audited | quarantined) and
``reason`` ("none" when audited). Counters are created on first use, one per label combination.
"""

from __future__ import annotations

from typing import Any

AUDITED = "audited"
QUARANTINED = "quarantined"


class RouteMetrics:
    def __init__(self, metric_group: Any) -> None:
        self._group = metric_group.add_group("lakegate")
        self._counters: dict[tuple[str, str, str], Any] = {}

    def count(self, contract: str | None, outcome: str, reason: str) -> None:
        key = (contract or "none", outcome, reason)
        counter = self._counters.get(key)
        if counter is None:
            counter = (
                self._group.add_group("contract", key[0]).add_group("outcome", outcome).add_group("reason", reason)
                .counter("records")
            )
            self._counters[key] = counter
        counter.inc(1)
