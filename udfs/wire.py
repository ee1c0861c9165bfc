"""Confluent wire format: ``0x00`` magic byte, 4-byte big-endian schema id, then the Avro body."""

from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import BadRecord
from udfs.reasons import Reason

MAGIC_BYTE = 0
HEADER_SIZE = 5


@dataclass(frozen=True, slots=True)
class Frame:
    schema_id: int
    body: bytes


def parse_frame(value: bytes | None) -> Frame:
    """Split a Kafka value into schema id and body, or raise BadRecord."""
    if value is None or len(value) < HEADER_SIZE:
        size = "null" if value is None else f"{len(value)} bytes"
        raise BadRecord(Reason.frame_too_short, f"value is {size}, the wire-format header needs 5")
    if value[0] != MAGIC_BYTE:
        raise BadRecord(Reason.bad_magic_byte, f"first byte is 0x{value[0]:02x}, expected 0x00")
    schema_id = int.from_bytes(value[1:HEADER_SIZE], "big", signed=True)
    if schema_id < 0:
        # Confluent ids are Java ints: with the top bit set the id is negative, which no registry issues.
        # Rejected here so an out-of-range id never reaches the registry or an INT column downstream.
        raise BadRecord(Reason.unknown_schema_id, f"schema id {schema_id} is negative; registry ids are positive")
    return Frame(schema_id, bytes(value[HEADER_SIZE:]))


def frame(schema_id: int, body: bytes) -> bytes:
    """Build a wire-format value (the inverse of :func:`parse_frame`)."""
    if not 0 <= schema_id < 2**32:
        raise ValueError(f"schema id {schema_id} does not fit in 4 unsigned bytes")
    return bytes((MAGIC_BYTE,)) + schema_id.to_bytes(4, "big") + body
