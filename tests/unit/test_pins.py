"""Every distribution installed in this environment is pinned in requirements.lock at its installed version:
`make setup` installs with the lock as constraints, so a new transitive dependency would otherwise come in
at whatever version the index offers that day."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
NOT_PINNED = {"lakegate", "pip", "setuptools"}  # this project itself, and the venv's own installers


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_installed_distribution_is_pinned_at_its_version() -> None:
    pins = dict(
        line.split("==", 1) for line in LOCK.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    pinned = {_normal(name): version for name, version in pins.items()}
    installed = {_normal(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    unpinned = {n: v for n, v in installed.items() if n not in NOT_PINNED and pinned.get(n) != v}
    assert not unpinned, f"installed but not pinned at that version in requirements.lock: {unpinned}"
