"""Structured logging: one line per event, ``key=value`` pairs after the message.

Usage: ``log.info("topic created", extra={"fields": {"topic": name, "partitions": 3}})``.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping

_CONFIGURED = False


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and fields:
            line += " " + " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        return line


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is now: test runners swap it (and close the old one)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure(level: int = logging.INFO) -> None:
    """Idempotent: configure the root logger once per process."""
    global _CONFIGURED  # noqa: PLW0603 - process-wide, configured once
    if _CONFIGURED:
        return
    handler = _StderrHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # PyFlink resets the root level when it builds an environment, and Beam replaces the root handlers with
    # its own (which ships records to the JVM log) when a Python worker runs in this process. Our loggers
    # therefore carry their own handler and level and do not depend on the root's.
    for ours in ("lakegate", "jobs", "udfs", "bench"):
        logger = logging.getLogger(ours)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
    # kafka-python logs every refused connection at ERROR; lakegate raises its own errors with a fix.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    for noisy in ("py4j", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _CONFIGURED = True


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks run (e.g. the demo stops the stack it started)."""

    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


def kv(**fields: object) -> dict[str, object]:
    """Shorthand for ``extra=kv(a=1)``."""
    return {"fields": fields}
