"""docs/hotpath.md's byte formats in plain Python, written independently of the route, for the JVM half's tests.

The tests of ``io.lakegate.flink.ingest`` state byte for byte what the route hands the JVM (result batches)
and what the JVM hands on (input batches, model events), so a disagreement between the two halves of the job
shows up as a failing test on whichever side departs from the document.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

VALID = 1
QUARANTINED = 2
BODY_IN_VALUE = 0
BODY_REENCODED = 1
NO_WINDOW = -(2**63)


def _nullable(value: bytes | None) -> bytes:
    return struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value


def _string(value: str) -> bytes:
    return _nullable(value.encode("utf-8"))


class Reader:
    """Big-endian reads of the formats' fields; IndexError/ValueError on bytes that do not follow them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def _take(self, size: int) -> bytes:
        if size > len(self.data) - self.position:
            raise ValueError(f"needs {size} bytes at byte {self.position}, the data has {len(self.data)}")
        chunk = self.data[self.position : self.position + size]
        self.position += size
        return chunk

    def u8(self) -> int:
        value: int = self._take(1)[0]
        return value

    def u16(self) -> int:
        value: int = struct.unpack(">H", self._take(2))[0]
        return value

    def i32(self) -> int:
        value: int = struct.unpack(">i", self._take(4))[0]
        return value

    def i64(self) -> int:
        value: int = struct.unpack(">q", self._take(8))[0]
        return value

    def nullable(self) -> bytes | None:
        length = self.i32()
        return None if length == -1 else self._take(length)

    def string(self) -> str:
        value = self.nullable()
        if value is None:
            raise ValueError("a null string")
        return value.decode("utf-8")

    @property
    def at_end(self) -> bool:
        return self.position == len(self.data)


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record of an input batch (pack → route)."""

    topic: int
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def read_input_batch(data: bytes) -> list[InputRecord]:
    reader = Reader(data)
    records = [
        InputRecord(reader.u16(), reader.i32(), reader.i64(), reader.i64(), reader.nullable(), reader.nullable())
        for _ in range(reader.i32())
    ]
    if not reader.at_end:
        raise ValueError(f"{len(data) - reader.position} bytes after the last record")
    return records


def input_batch(records: Sequence[InputRecord]) -> bytes:
    parts = [struct.pack(">i", len(records))]
    for r in records:
        parts.append(struct.pack(">Hiqq", r.topic, r.partition, r.offset, r.timestamp_ms))
        parts.append(_nullable(r.key) + _nullable(r.value))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class RouteModelEvent:
    """A model event as the route writes it into a VALID entry."""

    model: int
    op: int
    order: int
    window_start: int
    key_text: str
    treated: tuple[bytes | None, ...] = ()

    def encode(self) -> bytes:
        head = struct.pack(">HBqq", self.model, self.op, self.order, self.window_start) + _string(self.key_text)
        return head + struct.pack(">H", len(self.treated)) + b"".join(_nullable(v) for v in self.treated)


@dataclass(frozen=True, slots=True)
class ValidEntry:
    """A VALID entry of a result batch; ``body`` None is body kind 0 (the body is ``value[5:]``)."""

    contract: int
    topic: int
    partition: int
    offset: int
    timestamp_ms: int
    schema_id: int
    schema_version: int
    ingest_time_ms: int
    event_time_ms: int
    event_id: str
    key: bytes | None
    value: bytes | None
    body: bytes | None = None
    model_events: tuple[RouteModelEvent, ...] = ()

    def encode(self) -> bytes:
        """The entry's bytes: the segment unpack passes on."""
        parts = [
            struct.pack(
                ">BHHiqqiiqq",
                VALID,
                self.contract,
                self.topic,
                self.partition,
                self.offset,
                self.timestamp_ms,
                self.schema_id,
                self.schema_version,
                self.ingest_time_ms,
                self.event_time_ms,
            ),
            _string(self.event_id),
            _nullable(self.key),
            _nullable(self.value),
            bytes([BODY_IN_VALUE]) if self.body is None else bytes([BODY_REENCODED]) + _nullable(self.body),
            struct.pack(">H", len(self.model_events)),
            *(e.encode() for e in self.model_events),
        ]
        return b"".join(parts)


def quarantined_entry(row: bytes, headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A QUARANTINED entry: the Avro row of plan.quarantine.encoded_columns and the dead-letter headers."""
    return bytes([QUARANTINED]) + _nullable(row) + encoded_headers(headers)


def encoded_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    return struct.pack(">H", len(headers)) + b"".join(_string(n) + _nullable(v) for n, v in headers)


def result_batch(entries: Sequence[bytes]) -> bytes:
    """A result batch of already encoded entries (:meth:`ValidEntry.encode`, :func:`quarantined_entry`)."""
    return struct.pack(">i", len(entries)) + b"".join(entries)


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """A model event as dedupe hands it to the read models."""

    model: int
    op: int
    order: int
    window_start: int
    partition: int
    offset: int
    event_time_ms: int
    topic: int
    key_text: str
    treated: tuple[bytes | None, ...]
    body: bytes | None


def read_model_event(data: bytes) -> ModelEvent:
    r = Reader(data)
    event = ModelEvent(
        model=r.u16(),
        op=r.u8(),
        order=r.i64(),
        window_start=r.i64(),
        partition=r.i32(),
        offset=r.i64(),
        event_time_ms=r.i64(),
        topic=r.u16(),
        key_text=r.string(),
        treated=tuple(r.nullable() for _ in range(r.u16())),
        body=r.nullable(),
    )
    if not r.at_end:
        raise ValueError(f"{len(data) - r.position} bytes after the model event")
    return event
