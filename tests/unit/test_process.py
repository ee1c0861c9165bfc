"""Service pid files: trusted only when the process is really the service."""

from __future__ import annotations

import os
from pathlib import Path

from lakegate.stack.process import Service


def test_a_stale_pid_file_naming_an_unrelated_process_is_ignored(tmp_path: Path) -> None:
    service = Service("kafka", tmp_path / "home" / "run")
    service.run_dir.mkdir(parents=True)
    service.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a process started for this home
    assert service.pid() is None
    service.stop()  # must neither signal the unrelated process nor fail
    assert not service.pid_file.exists()


def test_a_pid_file_of_a_dead_process_is_ignored(tmp_path: Path) -> None:
    service = Service("registry", tmp_path / "run")
    service.run_dir.mkdir(parents=True)
    service.pid_file.write_text("999999999\n")
    assert service.pid() is None
