"""Structured logging: one line per event, ``key=value`` pairs after the message.

Usage: ``log.info("topic created", extra={"fields": {"topic": name, "partitions": 3}})``.
"""

from __future__ import annotations

import logging
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


def configure(level: int = logging.INFO) -> None:
    """Idempotent: configure the root logger once per process."""
    global _CONFIGURED  # noqa: PLW0603 - process-wide, configured once
    if _CONFIGURED:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("kafka", "py4j", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _CONFIGURED = True


def kv(**fields: object) -> dict[str, object]:
    """Shorthand for ``extra=kv(a=1)``."""
    return {"fields": fields}
