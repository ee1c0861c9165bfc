"""pytest plugin: a real Kafka broker, schema registry and Iceberg catalog for a test session, and a runner
that executes lakegate jobs on a Flink MiniCluster in a child process.

Fixtures (session-scoped unless noted):

``lakegate_settings``   settings pointing at a private home and free loopback ports
``lakegate_stack``      the broker and registry running (started once, stopped at the end)
``lakegate_contracts``  the contracts from ``schemas/`` (override ``lakegate_schemas_dir`` to use yours)
``run_job``             call ``run_job("ingest", settings)`` to run a job until its topics are drained
``start_job``           call ``start_job("ingest", settings)`` for a job in the background (unbounded);
                        ``.stop()`` kills it like a lost machine would; stopped at the end of the test
``lakegate_gateway``    PyFlink's gateway JVM in the test process (``.jvm``), started as the jobs start it,
                        with lakegate's jar and the connectors loaded: for Java classes tested without a job

Tests that need these are slow (a JVM or three): mark them ``@pytest.mark.job``.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lakegate import jvm
from lakegate.settings import Settings
from lakegate.stack import kafka, local
from lakegate.testing.ports import free_port, free_port_range
from udfs.contract import Contracts, load_contracts

JOB_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def lakegate_schemas_dir() -> Path:
    return Settings.load(env={}).schemas_dir


@pytest.fixture(scope="session")
def lakegate_settings(tmp_path_factory: pytest.TempPathFactory, lakegate_schemas_dir: Path) -> Settings:
    defaults = Settings.load(env={})
    settings = Settings.load(
        env={},
        home=tmp_path_factory.mktemp("lakegate"),
        artifacts_dir=defaults.jvm_dir,  # share the fetched jars; everything else is private
        schemas_dir=lakegate_schemas_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        registry_url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7",
        checkpoint_interval_ms=1000,
        metrics_port=free_port_range(4),
        flink_rest_port=free_port_range(4),
        exporter_port=free_port(),
        exporter_interval_s=2,
        drain=True,
        restart_attempts=0,  # bad data must never restart a job: any failure fails the test
    )
    jvm.ensure_artifacts(settings)
    return settings


@pytest.fixture(scope="session")
def lakegate_contracts(lakegate_settings: Settings) -> Contracts:
    return load_contracts(lakegate_settings.schemas_dir)


@pytest.fixture(scope="session")
def lakegate_stack(lakegate_settings: Settings, lakegate_contracts: Contracts) -> Iterator[Settings]:
    local.up(lakegate_settings)
    try:
        kafka.ensure_topics(lakegate_settings, [c.topic for c in lakegate_contracts] + [lakegate_settings.dlq_topic])
        yield lakegate_settings
    finally:
        local.down(lakegate_settings)


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    returncode: int
    log: Path


@pytest.fixture(scope="session")
def run_job() -> Callable[..., JobRun]:
    """Run ``jobs.<name>`` in a child process with the given settings (passed through the environment)."""

    def run(name: str, settings: Settings, *, check: bool = True) -> JobRun:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        log = settings.log_dir / f"job-{name}.out"
        env = settings.child_env()
        with log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", f"jobs.{name}"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=JOB_TIMEOUT_S,
                check=False,
            )
        if check and result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            pytest.fail(f"job {name} exited {result.returncode}; log {log} (Flink logs in {settings.log_dir}):\n{tail}")
        return JobRun(name, result.returncode, log)

    return run


class RunningJob:
    """A job process in the background, in its own process group (its MiniCluster JVM goes with it)."""

    def __init__(self, name: str, settings: Settings) -> None:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.log = settings.log_dir / f"job-{name}-background.out"
        env = settings.child_env()
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", f"jobs.{name}"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """SIGKILL the whole group: no clean shutdown, no final checkpoint (what a crash looks like)."""
        if self.alive:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)


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


_GATEWAY_PROCESSES: list[subprocess.Popen[bytes]] = []


@pytest.fixture(scope="session")
def lakegate_gateway(lakegate_settings: Settings) -> object:
    """PyFlink's Java gateway, started with Hadoop on its classpath (as the jobs start it, so tests that build
    jobs in this process later work), with ``pipeline.jars`` (lakegate's jar, the connectors) loaded.

    PyFlink drops its handle on the gateway process; collected, it warns that the process still runs, which
    ``-W error`` turns into a test error. The handle is kept here instead, and the gateway stopped when this
    process exits (after py4j stops talking to it, so its objects' finalizers stay quiet).
    """
    from pyflink import java_gateway
    from pyflink.util.java_utils import add_jars_to_context_class_loader

    from jobs.runtime import prepare_process

    launch = java_gateway.launch_gateway_server_process

    def keep(env: dict[str, str], args: list[str]) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = launch(env, args)
        _GATEWAY_PROCESSES.append(process)
        return process

    prepare_process(lakegate_settings)
    java_gateway.launch_gateway_server_process = keep
    try:
        gateway = java_gateway.get_gateway()
    finally:
        java_gateway.launch_gateway_server_process = launch
    atexit.register(_stop_gateway, gateway)
    add_jars_to_context_class_loader([p.as_uri() for p in jvm.pipeline_jars(lakegate_settings)])
    return gateway


def _stop_gateway(gateway: Any) -> None:
    gateway.shutdown()
    for process in _GATEWAY_PROCESSES:
        process.kill()
        process.wait(timeout=30)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    _GATEWAY_PROCESSES.clear()
