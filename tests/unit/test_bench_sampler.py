"""The benchmarks' process-tree sampler: a forked copy that has not exec'd yet shares its parent's memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bench.modes import _forked_copies, tree_pids

# A parent that forks one child which keeps running the parent's program (no exec), and starts one
# child that runs a program of its own.
PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    open(sys.argv[1], "w").write(str(other.pid))
    time.sleep(60)
""")


def test_a_fork_without_exec_is_told_from_a_started_program(tmp_path: Path) -> None:
    ready = tmp_path / "other.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(ready)], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text()):
            assert time.monotonic() < deadline, "the parent never started its children"
            time.sleep(0.05)
        other = int(ready.read_text())
        deadline = time.monotonic() + 30
        while len(pids := tree_pids(parent.pid)) < 3:
            assert time.monotonic() < deadline, pids
            time.sleep(0.05)
        copies = _forked_copies(pids)
        assert len(copies) == 1 and parent.pid not in copies and other not in copies
        assert copies <= set(pids)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the parent and both children: one process group
        parent.wait(timeout=30)
