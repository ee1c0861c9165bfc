"""A background service process with a pid file, a log file and a readiness probe.

The pid file lets ``lakegate stack down`` stop what ``lakegate stack up`` started from another process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lakegate.errors import StackError
from lakegate.logs import kv

log = logging.getLogger(__name__)

# The processes this one started, by pid, until reaped. A service outlives ``start()`` by design; its Popen
# object, dropped while the process runs, would warn when collected (a ResourceWarning, an error in tests).
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    run_dir: Path  # holds <name>.pid and <name>.log

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None  # no such process (any more)
        # A stale pid file (after a crash or reboot) may name an unrelated process: only trust it when the
        # process's command line mentions this service's home, as every command we start does.
        if str(self.run_dir.parent).encode() not in command:
            return None
        return pid

    def start(
        self,
        command: Sequence[str],
        ready: Callable[[], bool],
        *,
        timeout_s: float = 90.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start unless already running, then wait until ``ready()`` is true or the process died."""
        if self.pid() is not None:
            if _wait(ready, 15.0, lambda: True):
                log.info(f"{self.name} already running", extra=kv(pid=self.pid()))
                return
            raise StackError(f"{self.name} runs (pid {self.pid()}) but is not ready; see {self.log_file}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_file.open("ab") as out:
            process = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        _STARTED[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        log.info(f"starting {self.name}", extra=kv(pid=process.pid, log=self.log_file))
        if not _wait(ready, timeout_s, lambda: process.poll() is None):
            code = process.poll()
            self.stop()
            state = f"exited with code {code}" if code is not None else f"not ready after {timeout_s:.0f}s"
            raise StackError(f"{self.name} {state}; last lines of {self.log_file}:\n{self.tail()}")
        log.info(f"{self.name} ready", extra=kv(seconds=round(time.monotonic() - started, 1)))

    def stop(self, timeout_s: float = 20.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.2)
        if self.pid() is not None:
            log.warning(f"{self.name} ignored SIGTERM, killing", extra=kv(pid=pid))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        log.info(f"{self.name} stopped", extra=kv(pid=pid))

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _reap(pid: int) -> None:
    child = _STARTED.get(pid)
    if child is not None:
        if child.poll() is not None:  # reaped
            del _STARTED[pid]
        return
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)


def _wait(ready: Callable[[], bool], timeout_s: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            if ready():
                return True
        except Exception:  # noqa: S110 - a probe that throws just means "not yet"
            pass
        time.sleep(0.3)
    return False
