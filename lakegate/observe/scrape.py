"""Read Prometheus endpoints directly (``lakegate status`` and tests, where no Prometheus server runs)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence

from prometheus_client.parser import text_string_to_metric_families

from lakegate.settings import Settings, port_range

Labels = dict[str, str]


def job_endpoints(settings: Settings) -> list[str]:
    """Where the job's Flink reporter may listen (one endpoint per MiniCluster, within the port range)."""
    return [f"http://127.0.0.1:{port}/metrics" for port in port_range(settings.observation.metrics_port)]


def exporter_endpoint(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.observation.exporter_port}/metrics"


def scrape(urls: Iterable[str], timeout_s: float = 2.0) -> str:
    """The concatenated exposition text of every endpoint that answers."""
    out = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback URLs)
                out.append(response.read().decode())
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            continue  # nobody there, not HTTP, or gone mid-answer (a MiniCluster stopping)
    return "\n".join(out)


def samples(text: str, name: str) -> list[tuple[Labels, float]]:
    """Every sample of the metric ``name`` (for counters, the ``_total`` sample)."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (name, f"{name}_total") or (family.name == name and sample.name == name):
                out.append((dict(sample.labels), float(sample.value)))
    return out


def summed(text: str, name: str, by: Sequence[str]) -> dict[tuple[str, ...], float]:
    """``sum by (by) (name)``: Flink reports one series per subtask."""
    out: dict[tuple[str, ...], float] = {}
    for labels, value in samples(text, name):
        key = tuple(labels.get(k, "") for k in by)
        out[key] = out.get(key, 0.0) + value
    return out
