"""Fixtures for job tests that call lakegate's Java classes directly, in PyFlink's gateway JVM (no job), the
test-only Java agent that kills a job's JVM between two sinks' commits (crash_agent/), and the JIT setting every
JVM the job tests start runs with."""

from __future__ import annotations

import atexit
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyflink.java_gateway
import pytest
from pyflink.java_gateway import get_gateway
from pyflink.util.java_utils import add_jars_to_context_class_loader

from jobs.runtime import prepare_process
from lakegate import jvm
from lakegate.settings import Settings

# The job tests' JVMs (broker, registry, catalog and object-store servers, clusters, every job) work on small
# inputs: the client compiler alone (C1) starts them sooner and leaves more of two cores to the work than tiered
# compilation's C2 does (docs/testing.md, "JVM start-up"). Benchmarks never run with it.
TEST_JAVA_TOOL_OPTIONS = "-XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session", autouse=True)
def quick_starting_jvms() -> Iterator[None]:
    """Every JVM started during the job tests gets ``TEST_JAVA_TOOL_OPTIONS`` (after any the caller had set),
    except the gateway in this process (``jvm_gateway``)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JAVA_TOOL_OPTIONS", f"{os.environ.get('JAVA_TOOL_OPTIONS', '')} {TEST_JAVA_TOOL_OPTIONS}".strip())
        yield


# The gateway JVM that PyFlink starts in this process, kept referenced: PyFlink drops its Popen while the
# JVM runs, which Python reports as a ResourceWarning (an error under this project's warning filters).
_gateway_processes: list[subprocess.Popen[bytes]] = []


@pytest.fixture(scope="session")
def jvm_gateway(lakegate_settings: Settings) -> Iterator[Any]:
    """PyFlink's gateway, started as the jobs start it (Hadoop and SQLite on the system classpath), with
    lakegate's compiled Java classes loaded. It lives for the session and compares long seeded histories, where
    C2 pays for itself: it starts with the caller's ``JAVA_TOOL_OPTIONS``, not ``quick_starting_jvms``'s."""
    launch = pyflink.java_gateway.launch_gateway_server_process

    def launch_and_keep(env: Any, args: Any) -> subprocess.Popen[bytes]:
        process = launch(env, args)
        _gateway_processes.append(process)
        return process

    pyflink.java_gateway.launch_gateway_server_process = launch_and_keep  # type: ignore[assignment]
    atexit.register(_stop_gateways)  # registered before PyFlink's, so it runs after them
    try:
        prepare_process(lakegate_settings)
        with pytest.MonkeyPatch.context() as env:
            callers = os.environ.get("JAVA_TOOL_OPTIONS", "").replace(TEST_JAVA_TOOL_OPTIONS, "").strip()
            if callers:
                env.setenv("JAVA_TOOL_OPTIONS", callers)
            else:
                env.delenv("JAVA_TOOL_OPTIONS", raising=False)
            gateway = get_gateway()
        # lakegate's jar and the connectors (Kafka, Iceberg), as a job's pipeline.jars would bring them
        add_jars_to_context_class_loader([p.as_uri() for p in jvm.pipeline_jars(lakegate_settings)])
        yield gateway
    finally:
        pyflink.java_gateway.launch_gateway_server_process = launch


def _stop_gateways() -> None:
    """At exit, after PyFlink's own exit handlers (registered later, run earlier): end the gateway JVM."""
    for process in _gateway_processes:
        process.kill()
        process.wait(timeout=30)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


CRASH_AGENT_CLASS = "io.lakegate.testing.crash.CrashBetweenCommits"


@pytest.fixture(scope="session")
def crash_agent(lakegate_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The crash agent's jar: load it with ``-javaagent:<jar>=first,second,minCheckpoint,markerFile``."""
    work = tmp_path_factory.mktemp("crash-agent")
    sources = Path(__file__).parent / "crash_agent"
    built = jvm.compile_jar(lakegate_settings, sources, work / "crash-agent.jar", jvm.flink_compile_classpath())
    manifest = work / "manifest.txt"
    manifest.write_text(f"Premain-Class: {CRASH_AGENT_CLASS}\n")
    java_bin = Path(jvm.java_executable(lakegate_settings)).resolve().parent
    subprocess.run([str(java_bin / "jar"), "--update", "--file", str(built), "--manifest", str(manifest)], check=True)
    return built
