"""pytest plugin: a real Kafka broker, schema registry and Iceberg catalog for a test session, and a runner
that executes lakegate jobs on a Flink MiniCluster in a child process.

Fixtures: ``lakegate_settings`` (a private home, free loopback ports), ``lakegate_stack`` (the broker and
registry running, once per session), ``lakegate_contracts`` (from ``schemas/``; override
``lakegate_schemas_dir``), ``lakegate_postgres`` (a PostgreSQL server for a PostgreSQL catalog:
``settings.replace(catalog_uri=server.uri)``), ``lakegate_rest_catalog`` (the stack's settings with a home
of the test's own and an Iceberg REST catalog server behind them, with a bearer token),
``lakegate_object_store`` (the same with an S3-compatible object store behind ``s3_endpoint``), ``run_job``
(a job until its topics are drained) and ``start_job`` (a job in the background, stopped at the end of the
test); docs/testing.md shows their use.
Tests that need them are slow (a JVM or three): mark them ``@pytest.mark.job``.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakegate import jvm, launcher
from lakegate.kafka_admin import ensure_topics
from lakegate.settings import Settings
from lakegate.stack import local, objectstore, postgres, restcatalog
from lakegate.testing.ports import free_port, free_port_range
from udfs.contract import Contracts, load_contracts

JOB_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def lakegate_schemas_dir() -> Path:
    return Settings.load(env={}).paths.schemas_dir


@pytest.fixture(scope="session")
def lakegate_settings(tmp_path_factory: pytest.TempPathFactory, lakegate_schemas_dir: Path) -> Settings:
    defaults = Settings.load(env={})
    settings = Settings.load(
        env={},
        home=tmp_path_factory.mktemp("lakegate"),
        artifacts_dir=defaults.paths.jvm_dir,  # share the fetched jars; everything else is private
        schemas_dir=lakegate_schemas_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
        checkpoint_interval_ms=1000,
        metrics_port=free_port_range(4),
        flink_rest_port=free_port_range(4),
        exporter_port=free_port(),
        drain=True,
        restart_attempts=0,  # bad data must never restart a job: any failure fails the test
    )
    jvm.ensure_artifacts(settings)
    return settings


@pytest.fixture(scope="session")
def lakegate_contracts(lakegate_settings: Settings) -> Contracts:
    return load_contracts(lakegate_settings.paths.schemas_dir)


@pytest.fixture(scope="session")
def lakegate_stack(lakegate_settings: Settings, lakegate_contracts: Contracts) -> Iterator[Settings]:
    local.up(lakegate_settings)
    try:
        ensure_topics(lakegate_settings, [c.topic for c in lakegate_contracts] + [lakegate_settings.kafka.dlq_topic])
        yield lakegate_settings
    finally:
        local.down(lakegate_settings)


@pytest.fixture(scope="session")
def lakegate_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[postgres.Postgres]:
    """A PostgreSQL server on loopback (Debian's package), once per session, for a PostgreSQL catalog."""
    server = postgres.start(tmp_path_factory.mktemp("postgres"), free_port())
    try:
        yield server
    finally:
        postgres.stop(server)


@pytest.fixture
def lakegate_rest_catalog(lakegate_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """``lakegate_stack``'s settings with a home under the test's folder and ``catalog_uri`` naming an Iceberg
    REST catalog server started there on loopback (lakegate/stack/restcatalog.py), ``catalog_token`` its
    bearer token; the server stops at the end of the test."""
    settings = lakegate_stack.replace(
        home=tmp_path / "rest-home",
        catalog_uri=f"http://127.0.0.1:{free_port()}",
        catalog_token=secrets.token_urlsafe(18),
    )
    yield from _served(settings, restcatalog.start, restcatalog.stop)


@pytest.fixture
def lakegate_object_store(lakegate_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """``lakegate_stack``'s settings with a home under the test's folder and ``s3_endpoint`` naming an
    S3-compatible object store started there on loopback (lakegate/stack/objectstore.py), with keys of its
    own; the server stops at the end of the test."""
    settings = lakegate_stack.replace(
        home=tmp_path / "s3-home",
        s3_endpoint=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="lakegate-test",
        s3_secret_access_key=secrets.token_urlsafe(24),
    )
    yield from _served(settings, objectstore.start, objectstore.stop)


def _served(
    settings: Settings, start: Callable[[Settings], None], stop: Callable[[Settings], None]
) -> Iterator[Settings]:
    """A fixture's body for an optional service: started for the test, stopped after it whatever happened."""
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    returncode: int
    log: Path


@pytest.fixture(scope="session")
def run_job() -> Callable[..., JobRun]:
    """Run ``jobs.<name>`` in a child process with the given settings (passed through the environment)."""

    def run(name: str, settings: Settings, *, check: bool = True) -> JobRun:
        settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
        log = settings.paths.log_dir / f"job-{name}.out"
        with log.open("wb") as out:
            result = launcher.run(name, settings, stdout=out, stderr=subprocess.STDOUT, timeout_s=JOB_TIMEOUT_S)
        if check and result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            pytest.fail(
                f"job {name} exited {result.returncode}; log {log} (Flink logs in {settings.paths.log_dir}):\n{tail}"
            )
        return JobRun(name, result.returncode, log)

    return run


class RunningJob:
    """A job process in the background, in its own process group (its MiniCluster JVM goes with it)."""

    def __init__(self, name: str, settings: Settings) -> None:
        settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
        self.log = settings.paths.log_dir / f"job-{name}-background.out"
        with self.log.open("ab") as out:
            self._process = launcher.start(name, settings, stdout=out, stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """SIGKILL the whole group: no clean shutdown, no final checkpoint (what a crash looks like)."""
        launcher.kill(self._process)


@pytest.fixture
def start_job() -> Iterator[Callable[[str, Settings], RunningJob]]:
    started: list[RunningJob] = []

    def start(name: str, settings: Settings) -> RunningJob:
        job = RunningJob(name, settings)
        started.append(job)
        return job

    yield start
    for job in started:
        job.stop()
