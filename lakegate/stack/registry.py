"""Apicurio Registry 3.0 serving the Confluent Schema Registry API, on loopback, storing in an H2 file.

Apicurio was chosen because it is a real, maintained registry that installs from Maven Central and runs
on Java 17; lakegate itself only speaks the Confluent REST API, so Confluent SR, Karapace or Redpanda work
the same in production. Its default storage is in memory; the local stack points it at an H2 file under
``<home>/registry`` instead, so schema ids survive a restart like the broker's topics do (records in Kafka
refer to them).
"""

from __future__ import annotations

import json
import urllib.request

from lakegate import jvm
from lakegate.settings import Settings
from lakegate.stack.process import Service


def service(settings: Settings) -> Service:
    return Service("registry", settings.paths.home / "run")


def start(settings: Settings) -> None:
    java = jvm.java_executable(settings)
    runner = jvm.registry_runner(settings)
    data = settings.paths.home / "registry"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        java,
        f"-Xmx{settings.registry.heap_mb}m",
        "-XX:+UseSerialGC",
        "-Dquarkus.http.host=127.0.0.1",
        f"-Dquarkus.http.port={settings.registry.port}",
        "-Dquarkus.log.level=WARN",
        "-Dquarkus.banner.enabled=false",
        # No telemetry, no outbound calls: this machine may have no network.
        "-Dquarkus.otel.enabled=false",
        "-Dquarkus.otel.sdk.disabled=true",
        f"-Dapicurio.datasource.url=jdbc:h2:file:{data / 'registry'}",
        "-jar",
        str(runner),
    ]
    service(settings).start(command, lambda: ready(settings), timeout_s=120.0, cwd=runner.parent)


def ready(settings: Settings) -> bool:
    with urllib.request.urlopen(settings.registry.url.reveal().rstrip("/") + "/subjects", timeout=3) as response:  # noqa: S310
        return response.status == 200 and isinstance(json.loads(response.read()), list)


def stop(settings: Settings) -> None:
    service(settings).stop()
