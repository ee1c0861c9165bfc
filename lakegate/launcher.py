"""Start lakegate's jobs by name, each in a child process: ``python -m jobs.<name> [its arguments]``.

The control plane never imports ``jobs`` (an import contract in pyproject.toml enforces it): the CLI, the
demo, ``lakegate submit``, the pytest plugin and the benchmarks start every job here. The settings travel
in the child's environment (:meth:`Settings.child_env`), never on its command line.

A job runs in a session of its own, so its JVM and Python workers share its process group: :func:`kill`
stops them all. A terminal's Ctrl-C therefore reaches the launcher only; :func:`run` hands it on to the
job, as it does a SIGTERM, and waits for the job to end the way it would on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from lakegate.errors import UnknownJobError
from lakegate.settings import Settings

# The modules of jobs/ that are jobs (a main() started here); the others are the jobs' shared code.
JOBS = ("ingest", "maintain", "rebuild_model", "replay")
# How long a job may take to end after an interrupt was handed on to it, before it is killed.
STOP_GRACE_S = 30.0

Output = int | IO[Any] | None  # subprocess.PIPE, subprocess.STDOUT, an open file, or None: inherited


def command(name: str, args: Sequence[str] = ()) -> list[str]:
    """The command line of job ``name`` with its own ``args``; an unknown name is an error."""
    if name not in JOBS:
        raise UnknownJobError(f"no job named {name!r}; lakegate's jobs are {', '.join(JOBS)}")
    return [sys.executable, "-m", f"jobs.{name}", *args]


def start(
    name: str, settings: Settings, args: Sequence[str] = (), *, stdout: Output = None, stderr: Output = None
) -> subprocess.Popen[bytes]:
    """Start job ``name`` in the background; stop it with :func:`kill` (or let it end, for a bounded job)."""
    return subprocess.Popen(
        command(name, args),
        env=settings.child_env(),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def run(
    name: str,
    settings: Settings,
    args: Sequence[str] = (),
    *,
    stdout: Output = None,
    stderr: Output = None,
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run job ``name`` to its end; its output goes where ``stdout`` and ``stderr`` say (default: this
    process's, e.g. the terminal). Ctrl-C and SIGTERM (as ``SystemExit``, see lakegate/logs.py) are handed on
    to the job, which is awaited before they go on here; a job past ``timeout_s`` is killed. One that
    arrives while the job is being started waits until it can be handed on."""
    received: list[int] = []
    previous = _defer_interrupts(received)
    try:
        process = start(name, settings, args, stdout=stdout, stderr=stderr)
    except BaseException:
        if previous is not None:
            _restore(previous)
        raise
    with process:  # closes its pipes on the way out
        try:
            if previous is not None:
                _restore(previous)
                if received:
                    signal.raise_signal(received[0])  # now, where it is handed on
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(process)
            raise
        except KeyboardInterrupt:
            _hand_on(process, signal.SIGINT)
            raise
        except SystemExit:
            _hand_on(process, signal.SIGTERM)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_Handlers = dict[int, Any]


def _defer_interrupts(received: list[int]) -> _Handlers | None:
    """Note SIGINT and SIGTERM in ``received`` instead of acting on them, and return the handlers to put
    back: raised in the middle of starting a job, an interrupt would leave it running with nobody to hand the
    interrupt on to. None outside the main thread, where Python never runs a signal handler anyway."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {s: signal.signal(s, lambda signum, _frame: received.append(signum)) for s in _INTERRUPTS}


def _restore(handlers: _Handlers) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def kill(process: subprocess.Popen[Any]) -> None:
    """SIGKILL a started job's whole process group (no clean shutdown, no final checkpoint: what a lost
    machine looks like) and reap it. A job that has already ended and been reaped is left alone."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _hand_on(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send the job the interrupt this process received and wait for it to end; kill it after
    ``STOP_GRACE_S``, or at a second interrupt."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt, SystemExit):
        kill(process)
