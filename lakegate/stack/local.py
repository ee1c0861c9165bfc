"""Bring the whole local stack up or down, in dependency order."""

from __future__ import annotations

from lakegate.settings import Settings
from lakegate.stack import kafka, registry


def up(settings: Settings) -> None:
    kafka.start(settings)
    registry.start(settings)


def down(settings: Settings) -> None:
    registry.stop(settings)
    kafka.stop(settings)


def status(settings: Settings) -> dict[str, int | None]:
    return {"kafka": kafka.service(settings).pid(), "registry": registry.service(settings).pid()}
