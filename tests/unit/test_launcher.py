"""Starting jobs by name (lakegate/launcher.py), the CLI forwarding what the user typed to them, and the one
entry-point wrapper every main() runs through (lakegate/entrypoint.py). No job runs here: a stand-in child
process shows what a job would receive."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from lakegate import cli, launcher
from lakegate.entrypoint import ERROR_EXIT, INTERRUPTED_EXIT, entry_point
from lakegate.errors import SettingsError, UnknownJobError
from lakegate.job_options import add_ingest_options, add_maintain_options, add_rebuild_options, add_replay_options
from lakegate.settings import Settings
from udfs.errors import ContractError

from .support import REPO


@pytest.fixture
def no_lakegate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("LAKEGATE_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    """entry_point installs a SIGTERM handler in this (test) process: put the previous one back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_the_jobs_are_the_modules_of_jobs_with_a_main() -> None:
    with_main = {
        path.stem for path in (REPO / "jobs").glob("*.py") if re.search(r"^def main\(", path.read_text(), re.M)
    }
    assert set(launcher.JOBS) == with_main


def test_an_unknown_job_is_an_error_that_names_the_jobs() -> None:
    with pytest.raises(UnknownJobError, match="no job named 'ingset'; lakegate's jobs are ingest, maintain"):
        launcher.command("ingset")
    assert launcher.command("replay", ["--dry-run"]) == [sys.executable, "-m", "jobs.replay", "--dry-run"]


ECHO = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)})); sys.exit(3)"


def test_a_job_gets_its_settings_in_its_environment_and_only_its_arguments_on_its_command_line(
    monkeypatch: pytest.MonkeyPatch, no_lakegate_env: None
) -> None:
    monkeypatch.setattr(launcher, "command", lambda name, args=(): [sys.executable, "-c", ECHO, *args])
    settings = Settings.load(env={}, job_name="from-the-settings")
    done = launcher.run("ingest", settings, ["--drain"], stdout=subprocess.PIPE)
    assert done.returncode == 3
    seen = json.loads(done.stdout)
    assert seen["argv"] == ["--drain"]
    assert seen["env"]["LAKEGATE_JOB_NAME"] == "from-the-settings"
    assert all("from-the-settings" not in arg for arg in seen["argv"])


# A stand-in job: says it is ready, then records the signal that ends it.
STAND_IN = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
def record(signum, frame):
    (folder / "received").write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, record)
signal.signal(signal.SIGINT, record)
(folder / "ready").write_text("")
time.sleep(60)
"""
# What `lakegate run ingest` does, with the stand-in as the job. Ctrl-C as in a terminal: a shell that starts
# the tests in the background (a CI script under `&`) hands them SIGINT ignored, which Python then keeps.
DRIVER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from lakegate import launcher
from lakegate.entrypoint import entry_point
from lakegate.settings import Settings
launcher.command = lambda name, args=(): [sys.executable, "-c", {stand_in!r}, {folder!r}]
@entry_point
def main() -> int:
    return launcher.run("ingest", Settings.load(env={{}})).returncode
sys.exit(main())
"""


# The same, with the interrupt arriving while run() is still starting the job (the job is up, run() is not
# waiting on it yet): it must still be handed on, not leave the job running with the terminal's pipe.
DRIVER_INTERRUPTED_WHILE_STARTING = DRIVER.replace(
    "@entry_point",
    """import pathlib, signal, time
started = launcher.start
def start_then_interrupted(*args, **kwargs):
    process = started(*args, **kwargs)
    while not pathlib.Path({folder!r}, "ready").exists():
        time.sleep(0.01)
    signal.raise_signal({signum})
    return process
launcher.start = start_then_interrupted
@entry_point""",
)


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
@pytest.mark.parametrize("driver_text", [DRIVER, DRIVER_INTERRUPTED_WHILE_STARTING], ids=["running", "starting"])
def test_an_interrupt_reaches_the_job_which_ends_before_the_launcher(
    tmp_path: Path, signum: signal.Signals, exit_code: int, driver_text: str
) -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", driver_text.format(stand_in=STAND_IN, folder=str(tmp_path), signum=int(signum))],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists():
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            pytest.fail(f"the stand-in job never started: {driver.communicate()[1]}")
        time.sleep(0.05)
    if driver_text is DRIVER:
        driver.send_signal(signum)
    try:
        _, stderr = driver.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.communicate()
        pytest.fail("the launcher did not end within 30 s of the interrupt")
    assert driver.returncode == exit_code, stderr
    assert (tmp_path / "received").read_text() == signum.name  # the job's own handler ran: handed on, not killed


def test_kill_stops_the_jobs_whole_process_group(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A job's JVM and workers are its children: killing the job kills them too."""
    grandchild = tmp_path / "grandchild.pid"
    spawner = textwrap.dedent(f"""
        import pathlib, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        pathlib.Path({str(grandchild)!r}).write_text(str(child.pid))
        time.sleep(60)
    """)
    monkeypatch.setattr(launcher, "command", lambda name, args=(): [sys.executable, "-c", spawner])
    job = launcher.start("ingest", Settings.load(env={}))
    deadline = time.monotonic() + 30
    while not grandchild.exists() or not grandchild.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(grandchild.read_text())
    launcher.kill(job)
    assert job.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _alive(pid):  # killed; reaped by init once its parent is gone
        assert time.monotonic() < deadline, f"process {pid} outlived its job"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


# ---- the CLI forwards the user's arguments --------------------------------------------------------------
FORWARDED = [
    (["run", "ingest", "--drain"], "ingest", ["--drain"], add_ingest_options),
    (
        ["quarantine", "replay", "--reason", "bad_magic_byte", "--contract=tickets", "--dry-run"],
        "replay",
        ["--reason", "bad_magic_byte", "--contract=tickets", "--dry-run"],
        add_replay_options,
    ),
    (
        ["maintain", "--model", "open_tickets", "--retain-last", "3", "--every-s=60"],
        "maintain",
        ["--model", "open_tickets", "--retain-last", "3", "--every-s=60"],
        add_maintain_options,
    ),
    (
        ["readmodels", "rebuild", "--swap", "open_tickets"],
        "rebuild_model",
        ["--swap", "open_tickets"],
        add_rebuild_options,
    ),
]


@pytest.mark.parametrize(("words", "job", "job_args", "declare"), FORWARDED)
@pytest.mark.usefixtures("no_lakegate_env", "sigterm_restored")
def test_the_cli_forwards_what_the_user_typed_to_the_job(
    monkeypatch: pytest.MonkeyPatch,
    words: list[str],
    job: str,
    job_args: list[str],
    declare: Callable[[argparse.ArgumentParser], None],
) -> None:
    started: list[tuple[str, list[str]]] = []

    def run(name: str, settings: Settings, args: Sequence[str] = ()) -> subprocess.CompletedProcess[bytes]:
        started.append((name, list(args)))
        return subprocess.CompletedProcess([], 1)

    monkeypatch.setattr(launcher, "run", run)
    assert cli.main(words) == 1  # the job's exit code
    assert started == [(job, job_args)]
    # The job's parser, declared by the same function, reads them as the CLI did.
    job_parser = argparse.ArgumentParser()
    declare(job_parser)
    as_the_cli_read_them = vars(cli._parser().parse_args(words))
    for name, value in vars(job_parser.parse_args(job_args)).items():
        assert as_the_cli_read_them[name] == value, name


# ---- one entry-point wrapper ---------------------------------------------------------------------------
@pytest.mark.usefixtures("sigterm_restored")
def test_the_entry_point_turns_domain_errors_and_ctrl_c_into_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    def failing(error: BaseException) -> Callable[[], int]:
        @entry_point
        def main() -> int:
            raise error

        return main

    assert entry_point(lambda: 7)() == 7
    contract_error = ContractError("schemas/x/contract.toml", "topic", "missing", "add it")
    assert failing(contract_error)() == ERROR_EXIT  # an error of the bottom room, under the one root
    assert capsys.readouterr().err == f"lakegate: error: {contract_error}\n"
    assert failing(SettingsError("bad setting"))() == ERROR_EXIT
    assert capsys.readouterr().err == "lakegate: error: bad setting\n"
    assert failing(KeyboardInterrupt())() == INTERRUPTED_EXIT
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)  # SIGTERM → SystemExit
    with pytest.raises(ValueError, match="a bug"):  # anything else keeps its traceback
        failing(ValueError("a bug"))()
