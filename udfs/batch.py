"""The byte formats that cross between the JVM and the Python route, one batch at a time (docs/hotpath.md).

:func:`read_input` parses an input batch (pack → route) into :class:`InputRecord` tuples;
:class:`ResultWriter` writes a result batch (route → unpack): kind 1 VALID entries with their model events
(each encoded by :func:`model_event`), kind 2 QUARANTINED entries. :func:`write_input` and
:func:`read_result` are the inverse directions, for tests, tools and benchmarks (the job never calls them).

Invariant: the bytes follow docs/hotpath.md#formats exactly. The readers reject a batch that ends early or
has bytes left over (:class:`ValueError`): batches come from lakegate's own writers, so a malformed one is a
bug and must fail the task rather than drop or guess records.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

VALID = 1
QUARANTINED = 2
BODY_AS_VALUE = 0  # the Avro body is value[5:] (written with the contract's reader schema)
BODY_FOLLOWS = 1  # a body re-encoded with the reader schema follows
UPSERT = 1
DELETE = 2
NO_WINDOW = -(2**63)  # Long.MIN_VALUE: the window start of a model event when the model has no window
NO_TIMESTAMP = -1  # a Kafka record without a timestamp
NULL = -1  # the length of a null nullable bytes value
MAX_U16 = 0xFFFF

_I32 = struct.Struct(">i")
_U16 = struct.Struct(">H")
_U8 = struct.Struct(">B")
# Input record up to the key's length: topic index, partition, offset, Kafka timestamp, key length.
_INPUT_HEAD = struct.Struct(">Hiqqi")
# Valid entry up to the event id's length: kind, contract, topic, partition, offset, Kafka timestamp,
# schema id, schema version, ingest time, event time, event id length.
_VALID_HEAD = struct.Struct(">BHHiqqiiqqi")
# Model event up to the key text's length: model, op, order value, window start, key text length.
_MODEL_HEAD = struct.Struct(">HBqqi")
_BODY_KIND_AND_COUNT = struct.Struct(">BH")  # body kind 0, then the model event count
_BODY_KIND_AND_LENGTH = struct.Struct(">Bi")  # body kind 1, then the body's length
_NULL = _I32.pack(NULL)
_NO_VALUES = _U16.pack(0)
_KIND_QUARANTINED = _U8.pack(QUARANTINED)


class InputRecord(NamedTuple):
    """One Kafka record of an input batch; ``timestamp_ms`` is :data:`NO_TIMESTAMP` when it has none."""

    topic_index: int
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


# -- input batches -----------------------------------------------------------------------------------------


def read_input(batch: bytes) -> list[InputRecord]:
    """The records of an input batch, in batch order; ValueError if the batch is malformed."""
    try:
        (count,) = _I32.unpack_from(batch, 0)
        records, end = _read_records(batch, count)
    except struct.error as exc:
        raise ValueError(f"malformed input batch: it ends inside a record ({exc})") from None
    if end != len(batch):
        raise ValueError(f"malformed input batch: {len(batch) - end} bytes after its {count} records")
    return records


def _read_records(batch: bytes, count: int) -> tuple[list[InputRecord], int]:
    if count < 0:
        raise ValueError(f"malformed input batch: record count {count}")
    unpack_head, unpack_i32, size = _INPUT_HEAD.unpack_from, _I32.unpack_from, len(batch)
    new = tuple.__new__  # an InputRecord without the Python-level __new__ of a NamedTuple
    records: list[InputRecord] = []
    append = records.append
    pos = 4
    for _ in range(count):
        topic, partition, offset, timestamp, length = unpack_head(batch, pos)
        pos += 26
        key: bytes | None = None
        if length != NULL:
            if not 0 <= length <= size - pos:
                raise ValueError(f"malformed input batch: key length {length} at byte {pos - 4}")
            key = batch[pos : pos + length]
            pos += length
        (length,) = unpack_i32(batch, pos)
        pos += 4
        value: bytes | None = None
        if length != NULL:
            if not 0 <= length <= size - pos:
                raise ValueError(f"malformed input batch: value length {length} at byte {pos - 4}")
            value = batch[pos : pos + length]
            pos += length
        append(new(InputRecord, (topic, partition, offset, timestamp, key, value)))
    return records, pos


def write_input(records: Iterable[InputRecord]) -> bytes:
    """An input batch of ``records`` (what the JVM's pack step writes; for tests, tools and benchmarks)."""
    chunks = [b""]
    count = 0
    for r in records:
        count += 1
        key_length = NULL if r.key is None else len(r.key)
        chunks.append(_INPUT_HEAD.pack(r.topic_index, r.partition, r.offset, r.timestamp_ms, key_length))
        if r.key is not None:
            chunks.append(r.key)
        _nullable(chunks, r.value)
    chunks[0] = _I32.pack(count)
    return b"".join(chunks)


# -- result batches ----------------------------------------------------------------------------------------


def model_event(  # noqa: PLR0917 - one argument per field of the format
    model_index: int, op: int, order: int, window_start: int, key_text: bytes, treated: Sequence[bytes | None]
) -> bytes:
    """One model event of a valid entry: ``key_text`` is the UTF-8 of :func:`udfs.readmodels.key_text` of
    the model key, ``treated`` the PII-treated values (UTF-8) of the model's treated fields, in the plan's
    order. ``op`` is UPSERT or DELETE; ``window_start`` NO_WINDOW for a model without a window."""
    head = _MODEL_HEAD.pack(model_index, op, order, window_start, len(key_text))
    if not treated:
        return head + key_text + _NO_VALUES
    chunks = [head, key_text, _U16.pack(len(treated))]
    for value in treated:
        if value is None:
            chunks.append(_NULL)
        else:
            chunks.append(_I32.pack(len(value)))
            chunks.append(value)
    return b"".join(chunks)


class ResultWriter:
    """Appends result entries to a list of byte chunks and joins them once, in :meth:`finish`."""

    __slots__ = ("_chunks", "count")

    def __init__(self) -> None:
        self._chunks: list[bytes] = [b""]  # the entry count goes first, once known
        self.count = 0

    def valid(  # noqa: PLR0917 - one argument per field of the format
        self,
        contract_index: int,
        topic_index: int,
        partition: int,
        offset: int,
        timestamp_ms: int,
        schema_id: int,
        schema_version: int,
        ingest_time_ms: int,
        event_time_ms: int,
        event_id: bytes,
        key: bytes | None,
        value: bytes | None,
        body: bytes | None,
        model_events: Sequence[bytes],
    ) -> None:
        """A kind 1 entry. ``event_id`` is UTF-8; ``schema_version`` -1 when the contract does not list the
        writer schema; ``body`` None when the Avro body is ``value[5:]`` (body kind 0), else the body
        re-encoded with the reader schema (body kind 1); ``model_events`` from :func:`model_event`."""
        if len(model_events) > MAX_U16:
            raise ValueError(f"{len(model_events)} model events do not fit a u16 count")
        chunks = self._chunks
        append = chunks.append
        append(
            _VALID_HEAD.pack(
                VALID,
                contract_index,
                topic_index,
                partition,
                offset,
                timestamp_ms,
                schema_id,
                schema_version,
                ingest_time_ms,
                event_time_ms,
                len(event_id),
            )
        )
        append(event_id)
        if key is None:
            append(_NULL)
        else:
            append(_I32.pack(len(key)))
            append(key)
        if value is None:
            append(_NULL)
        else:
            append(_I32.pack(len(value)))
            append(value)
        if body is None:
            append(_BODY_KIND_AND_COUNT.pack(BODY_AS_VALUE, len(model_events)))
        else:
            append(_BODY_KIND_AND_LENGTH.pack(BODY_FOLLOWS, len(body)))
            append(body)
            append(_U16.pack(len(model_events)))
        chunks.extend(model_events)
        self.count += 1

    def quarantined(self, row: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> None:
        """A kind 2 entry: the quarantine row (udfs.rowcodec) and the dead-letter headers, in order."""
        chunks = self._chunks
        chunks.append(_KIND_QUARANTINED)
        _nullable(chunks, row)
        chunks.append(_U16.pack(len(headers)))
        for name, value in headers:
            _string(chunks, name)
            _nullable(chunks, value)
        self.count += 1

    def finish(self) -> bytes:
        """The result batch; the writer is empty again afterwards."""
        chunks = self._chunks
        chunks[0] = _I32.pack(self.count)
        out = b"".join(chunks)
        self._chunks = [b""]
        self.count = 0
        return out


def _nullable(chunks: list[bytes], value: bytes | None) -> None:
    if value is None:
        chunks.append(_NULL)
    else:
        chunks.append(_I32.pack(len(value)))
        chunks.append(value)


def _string(chunks: list[bytes], text: str) -> None:
    data = text.encode("utf-8")
    chunks.append(_I32.pack(len(data)))
    chunks.append(data)


# -- reading result batches (tests and tools) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelEventEntry:
    model_index: int
    op: int
    order: int
    window_start: int
    key_text: str
    treated: tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True)
class ValidEntry:
    contract_index: int
    topic_index: int
    partition: int
    offset: int
    timestamp_ms: int
    schema_id: int
    schema_version: int  # -1: not listed in the contract
    ingest_time_ms: int
    event_time_ms: int
    event_id: str
    key: bytes | None
    value: bytes | None
    body_kind: int
    body: bytes | None  # only for body kind 1
    model_events: tuple[ModelEventEntry, ...]
    segment: bytes  # the entry's own bytes, from its kind to its last model event (dedupe's unit on the JVM)

    def avro_body(self) -> bytes:
        """The record's Avro body written with the contract's reader schema, whichever the body kind."""
        if self.body_kind == BODY_FOLLOWS:
            assert self.body is not None
            return self.body
        assert self.value is not None
        return self.value[5:]


@dataclass(frozen=True, slots=True)
class QuarantinedEntry:
    row: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


class _Reader:
    """A cursor over a result batch; every read checks that the bytes are there."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fixed(self, layout: struct.Struct) -> tuple[int, ...]:
        if layout.size > len(self.data) - self.pos:
            raise ValueError(f"malformed result batch: it ends at byte {len(self.data)}, inside an entry")
        values = layout.unpack_from(self.data, self.pos)
        self.pos += layout.size
        return values

    def take(self, length: int) -> bytes:
        if not 0 <= length <= len(self.data) - self.pos:
            raise ValueError(f"malformed result batch: length {length} at byte {self.pos - 4}")
        value = self.data[self.pos : self.pos + length]
        self.pos += length
        return value

    def nullable(self) -> bytes | None:
        (length,) = self.fixed(_I32)
        return None if length == NULL else self.take(length)

    def string(self) -> str:
        (length,) = self.fixed(_I32)
        return self.take(length).decode("utf-8")


def read_result(batch: bytes) -> list[ValidEntry | QuarantinedEntry]:
    """The entries of a result batch, in order; ValueError if it is malformed."""
    reader = _Reader(batch)
    (count,) = reader.fixed(_I32)
    if count < 0:
        raise ValueError(f"malformed result batch: entry count {count}")
    entries: list[ValidEntry | QuarantinedEntry] = []
    for _ in range(count):
        (kind,) = reader.fixed(_U8)
        if kind == VALID:
            reader.pos -= 1
            entries.append(_read_valid(reader))
        elif kind == QUARANTINED:
            row = reader.nullable()
            (header_count,) = reader.fixed(_U16)
            headers = tuple((reader.string(), reader.nullable()) for _ in range(header_count))
            entries.append(QuarantinedEntry(row, headers))
        else:
            raise ValueError(f"malformed result batch: entry kind {kind} at byte {reader.pos - 1}")
    if reader.pos != len(batch):
        raise ValueError(f"malformed result batch: {len(batch) - reader.pos} bytes after its {count} entries")
    return entries


def _read_valid(reader: _Reader) -> ValidEntry:
    start = reader.pos
    _, contract, topic, partition, offset, timestamp, schema_id, version, ingest, event_time, id_length = reader.fixed(
        _VALID_HEAD
    )
    event_id = reader.take(id_length).decode("utf-8")
    key, value = reader.nullable(), reader.nullable()
    (body_kind,) = reader.fixed(_U8)
    if body_kind not in (BODY_AS_VALUE, BODY_FOLLOWS):
        raise ValueError(f"malformed result batch: body kind {body_kind} at byte {reader.pos - 1}")
    body = reader.nullable() if body_kind == BODY_FOLLOWS else None
    (event_count,) = reader.fixed(_U16)
    events = []
    for _ in range(event_count):
        model_index, op, order, window_start, key_length = reader.fixed(_MODEL_HEAD)
        key_text = reader.take(key_length).decode("utf-8")
        (treated_count,) = reader.fixed(_U16)
        treated = tuple(reader.nullable() for _ in range(treated_count))
        events.append(ModelEventEntry(model_index, op, order, window_start, key_text, treated))
    return ValidEntry(
        contract,
        topic,
        partition,
        offset,
        timestamp,
        schema_id,
        version,
        ingest,
        event_time,
        event_id,
        key,
        value,
        body_kind,
        body,
        tuple(events),
        reader.data[start : reader.pos],
    )
