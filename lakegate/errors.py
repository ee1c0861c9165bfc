"""Typed errors of the control plane. Each message says what went wrong and what to do."""

from __future__ import annotations


class LakegateError(Exception):
    """Base class: the CLI prints these without a traceback and exits non-zero."""


class SettingsError(LakegateError):
    """A setting is unknown, malformed or inconsistent."""


class SetupError(LakegateError):
    """Installing or locating a dependency (Maven artifacts, Java) failed."""


class StackError(LakegateError):
    """A local-stack service (broker, registry) did not start, or is not reachable."""


class JobFailedError(LakegateError):
    """A Flink job ended in failure; the message points at its log."""
