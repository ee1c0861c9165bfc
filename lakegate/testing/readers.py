"""Readers of what a job wrote, under the test kit's name: the readers themselves live in lakegate/readers.py,
which the demo uses too (product code never imports lakegate.testing)."""

from __future__ import annotations

from lakegate.readers import (
    DeadLetter,
    quarantined_coordinates,
    read_audit,
    read_dead_letters,
    read_quarantine,
    read_records,
    topic_coordinates,
)

__all__ = [
    "DeadLetter",
    "quarantined_coordinates",
    "read_audit",
    "read_dead_letters",
    "read_quarantine",
    "read_records",
    "topic_coordinates",
]
