"""Bad-record makers for tests, under the test kit's name: the makers themselves live in lakegate/corrupt.py,
which the event generator uses too (product code never imports lakegate.testing)."""

from __future__ import annotations

from lakegate.corrupt import (
    CONTRACT_KINDS,
    KEY_KINDS,
    VALUE_KINDS,
    VALUE_ONLY_KINDS,
    corrupt,
    corrupt_key,
    zigzag_varint,
)

__all__ = ["CONTRACT_KINDS", "KEY_KINDS", "VALUE_KINDS", "VALUE_ONLY_KINDS", "corrupt", "corrupt_key", "zigzag_varint"]
