"""The plain consumer's own virtualenv, built from bench/requirements-plain.txt (pinned) when missing or stale.

PyFlink holds lakegate's environment at pyarrow 16; pyiceberg needs pyarrow >= 18 to write, so the plain
consumer (and the pre-loader, for kafka-python's crc32c extension) run in this one instead.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent / "requirements-plain.txt"
_STAMP = ".lakegate-requirements-sha256"


def ensure_plain_venv(target: Path) -> Path:
    """The virtualenv's python; (re)built when the requirements file changed since it was built."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = target / "bin" / "python"
    stamp = target / _STAMP
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return python
    print(f"building the plain consumer's virtualenv in {target} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off", "--no-deps", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(digest + "\n")
    return python


if __name__ == "__main__":  # `make bench-setup`: build it ahead of the benchmark and its test
    from lakegate.settings import Settings

    print(ensure_plain_venv(Settings.load(env={}).paths.home / "bench-venv"))
