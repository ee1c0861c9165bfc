"""Typed errors of the control plane. Each message says what went wrong and what to do.

They subclass the one root, :class:`LakegateError`, which lives in udfs/errors.py (the bottom room, so that
udfs and the control plane share it) and is re-exported here.
"""

from __future__ import annotations

from udfs.errors import LakegateError

__all__ = [
    "CatalogUnavailableError",
    "JobFailedError",
    "LakegateError",
    "SettingsError",
    "SetupError",
    "StackError",
    "UnknownJobError",
]


class SettingsError(LakegateError):
    """A setting is unknown, malformed or inconsistent."""


class SetupError(LakegateError):
    """Installing or locating a dependency (Maven artifacts, Java) failed."""


class StackError(LakegateError):
    """A local-stack service (broker, registry) did not start, or is not reachable."""


class JobFailedError(LakegateError):
    """A Flink job ended in failure; the message points at its log."""


class UnknownJobError(LakegateError):
    """A job was asked for by a name that is not one of lakegate's jobs (lakegate/launcher.py)."""


class CatalogUnavailableError(LakegateError):
    """The Iceberg catalog's database refused or did not answer a connection (catalog_uri)."""
