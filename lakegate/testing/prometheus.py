"""A real Prometheus server for tests: scrapes a job's endpoints, loads lakegate's rules, answers queries.

The binary comes from the Debian package ``prometheus`` (``make setup`` installs it). Everything it writes
stays in the given folder; it listens on loopback only and is killed on exit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lakegate.errors import LakegateError
from lakegate.testing.ports import free_port

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"


class PrometheusError(LakegateError, RuntimeError):
    """Prometheus is missing, did not start, or answered a query with an error. Still a RuntimeError, as the
    test kit's users have caught it so far."""


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422: a bad query; the body says why
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) ``expr`` evaluates to now."""
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets")["activeTargets"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (alerting and recording) with its health and last error."""
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def wait_for(self, expr: str, timeout_s: float = 120) -> list[dict[str, Any]]:
        """Poll until ``expr`` returns at least one series."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise PrometheusError(f"no series for {expr!r} after {timeout_s:.0f} s")
            time.sleep(1)


def config(scrape: Mapping[str, Sequence[str]], rule_files: Sequence[Path], interval_s: int = 1) -> dict[str, Any]:
    """A configuration scraping ``scrape`` (job name → host:port targets) every ``interval_s``."""
    return {
        "global": {
            "scrape_interval": f"{interval_s}s",
            "evaluation_interval": f"{interval_s}s",
            "scrape_timeout": f"{interval_s}s",
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(targets)}]} for job, targets in scrape.items()
        ],
    }


@contextmanager
def running_prometheus(
    workdir: Path, scrape: Mapping[str, Sequence[str]], rule_files: Sequence[Path] | None = None
) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusError("prometheus is not installed: run `make setup` (Debian package `prometheus`)")
    rule_files = sorted(RULES_DIR.glob("*.yml")) if rule_files is None else rule_files
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config(scrape, rule_files), indent=2))  # JSON is YAML
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        _wait_ready(server, process, workdir)
        yield server
    finally:
        process.kill()
        process.wait(timeout=30)
        log.close()


def _wait_ready(server: Prometheus, process: subprocess.Popen[bytes], workdir: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusError(f"prometheus exited with {process.returncode}; see {workdir / 'prometheus.log'}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2):  # noqa: S310
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise PrometheusError(f"prometheus not ready after {timeout_s:.0f} s; see {workdir / 'prometheus.log'}")
