"""Bring the whole local stack up or down, in dependency order: the broker, the registry, and the optional
services ``lakegate stack up --with`` names (``rest-catalog``: lakegate/stack/restcatalog.py;
``object-store``: lakegate/stack/objectstore.py)."""

from __future__ import annotations

from collections.abc import Sequence

from lakegate.settings import Settings
from lakegate.stack import kafka, objectstore, registry, restcatalog


def up(settings: Settings, extras: Sequence[str] = ()) -> None:
    # Clear errors before anything starts.
    if "rest-catalog" in extras:
        restcatalog.port(settings)
    if "object-store" in extras:
        objectstore.port(settings)
    kafka.start(settings)
    registry.start(settings)
    if "object-store" in extras:
        objectstore.start(settings)
    if "rest-catalog" in extras:
        restcatalog.start(settings)


def down(settings: Settings) -> None:
    restcatalog.stop(settings)
    objectstore.stop(settings)
    registry.stop(settings)
    kafka.stop(settings)


def status(settings: Settings) -> dict[str, int | None]:
    return {
        "kafka": kafka.service(settings).pid(),
        "registry": registry.service(settings).pid(),
        "rest-catalog": restcatalog.service(settings).pid(),
        "object-store": objectstore.service(settings).pid(),
    }
