"""The batch byte formats (udfs/batch.py, docs/hotpath.md): round trips, edge cases, exact bytes, bad batches."""

from __future__ import annotations

import struct

import pytest

from udfs.batch import (
    BODY_AS_VALUE,
    BODY_FOLLOWS,
    DELETE,
    NO_TIMESTAMP,
    NO_WINDOW,
    UPSERT,
    InputRecord,
    ModelEventEntry,
    QuarantinedEntry,
    ResultWriter,
    ValidEntry,
    model_event,
    read_input,
    read_result,
    write_input,
)

BIG = bytes(range(256)) * 4096  # 1 MiB
RECORDS = [
    InputRecord(0, 0, 0, 1_700_000_000_000, b"k", b"\x00\x00\x00\x00\x01body"),
    InputRecord(1, 2**31 - 1, 2**63 - 1, NO_TIMESTAMP, None, None),  # null key and value
    InputRecord(65535, 7, 12, 0, b"", b""),  # empty, not null
    InputRecord(2, 3, 4, 5, "ключ-ü".encode(), BIG),
]


def test_input_round_trip() -> None:
    assert read_input(write_input(RECORDS)) == RECORDS


def test_empty_input_batch() -> None:
    assert write_input([]) == b"\x00\x00\x00\x00"
    assert read_input(b"\x00\x00\x00\x00") == []


def test_input_bytes_are_big_endian_as_documented() -> None:
    data = write_input([InputRecord(1, 2, 3, 4, None, b"v")])
    assert data == (
        struct.pack(">i", 1)
        + struct.pack(">H", 1)
        + struct.pack(">i", 2)
        + struct.pack(">q", 3)
        + struct.pack(">q", 4)
        + struct.pack(">i", -1)
        + struct.pack(">i", 1)
        + b"v"
    )


@pytest.mark.parametrize("cut", [1, 3, 5, 20, 30, 31])
def test_truncated_input_batch_is_rejected(cut: int) -> None:
    data = write_input([InputRecord(1, 2, 3, 4, b"key", b"value")])
    with pytest.raises(ValueError, match="malformed input batch"):
        read_input(data[:-cut])


def test_input_batch_with_bytes_left_over_is_rejected() -> None:
    with pytest.raises(ValueError, match="bytes after"):
        read_input(write_input(RECORDS[:1]) + b"\x00")


@pytest.mark.parametrize("length", [-2, 2**31 - 1])
def test_impossible_lengths_are_rejected(length: int) -> None:
    data = struct.pack(">iHiqqi", 1, 0, 0, 0, 0, length) + b"xx" + struct.pack(">i", -1)
    with pytest.raises(ValueError, match="key length"):
        read_input(data)


def test_negative_record_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="record count"):
        read_input(struct.pack(">i", -1))


def _valid(writer: ResultWriter, *, body: bytes | None, events: list[bytes]) -> None:
    writer.valid(
        3,
        4,
        5,
        6,
        NO_TIMESTAMP,
        77,
        -1,
        1_800_000_000_000,
        1_700_000_000_000,
        "évent-1".encode(),
        None,
        BIG,
        body,
        events,
    )


def test_result_round_trip() -> None:
    writer = ResultWriter()
    events = [
        model_event(0, UPSERT, 42, NO_WINDOW, b'["T-1"]', [b"a", None, "ü".encode()]),
        model_event(65535, DELETE, -(2**63), 2**63 - 1, '["ключ",1700000000000]'.encode(), []),
    ]
    _valid(writer, body=None, events=events)
    writer.quarantined(b"row", [("lg.reason", b"oversized"), ("lg.nothing", None), ("lg.ünï", b"")])
    _valid(writer, body=b"", events=[])
    writer.quarantined(None, [])
    assert writer.count == 4
    entries = read_result(writer.finish())
    assert len(entries) == 4
    first, second, third, fourth = entries
    assert isinstance(first, ValidEntry) and isinstance(third, ValidEntry)
    assert (first.contract_index, first.topic_index, first.partition, first.offset) == (3, 4, 5, 6)
    assert (first.timestamp_ms, first.schema_id, first.schema_version) == (NO_TIMESTAMP, 77, -1)
    assert (first.ingest_time_ms, first.event_time_ms, first.event_id) == (
        1_800_000_000_000,
        1_700_000_000_000,
        "évent-1",
    )
    assert (first.key, first.value, first.body_kind, first.body) == (None, BIG, BODY_AS_VALUE, None)
    assert first.avro_body() == BIG[5:]
    assert first.model_events == (
        ModelEventEntry(0, UPSERT, 42, NO_WINDOW, '["T-1"]', (b"a", None, "ü".encode())),
        ModelEventEntry(65535, DELETE, -(2**63), 2**63 - 1, '["ключ",1700000000000]', ()),
    )
    assert second == QuarantinedEntry(b"row", (("lg.reason", b"oversized"), ("lg.nothing", None), ("lg.ünï", b"")))
    assert (third.body_kind, third.body, third.model_events) == (BODY_FOLLOWS, b"", ())
    assert third.avro_body() == b""
    assert fourth == QuarantinedEntry(None, ())


def test_segments_are_the_entries_own_bytes() -> None:
    writer = ResultWriter()
    _valid(writer, body=b"\x02", events=[model_event(1, UPSERT, 1, NO_WINDOW, b"[1]", [None])])
    data = writer.finish()
    (entry,) = read_result(data)
    assert isinstance(entry, ValidEntry)
    assert entry.segment == data[4:]  # everything after the count
    assert entry.segment[0] == 1


def test_quarantined_entry_bytes_are_as_documented() -> None:
    writer = ResultWriter()
    writer.quarantined(b"r", [("n", None)])
    assert writer.finish() == (
        struct.pack(">i", 1) + b"\x02" + struct.pack(">i", 1) + b"r" + struct.pack(">H", 1)
    ) + struct.pack(">i", 1) + b"n" + struct.pack(">i", -1)


def test_empty_result_batch_and_writer_reuse() -> None:
    writer = ResultWriter()
    assert writer.finish() == b"\x00\x00\x00\x00"
    writer.quarantined(b"x", [])
    assert len(read_result(writer.finish())) == 1
    assert writer.finish() == b"\x00\x00\x00\x00"  # finish empties the writer


def test_malformed_result_batches_are_rejected() -> None:
    writer = ResultWriter()
    _valid(writer, body=None, events=[model_event(1, UPSERT, 1, NO_WINDOW, b"[1]", [b"x"])])
    data = writer.finish()
    for cut in (1, 2, 5, 9, 100):
        with pytest.raises(ValueError, match="malformed result batch"):
            read_result(data[:-cut])
    with pytest.raises(ValueError, match="bytes after"):
        read_result(data + b"\x00")
    with pytest.raises(ValueError, match="entry kind 3"):
        read_result(struct.pack(">i", 1) + b"\x03")


def test_too_many_model_events_are_refused() -> None:
    event = model_event(0, UPSERT, 0, NO_WINDOW, b"[]", [])
    with pytest.raises(ValueError, match="u16"):
        _valid(ResultWriter(), body=None, events=[event] * 65536)


def test_model_event_bytes_are_as_documented() -> None:
    assert model_event(7, DELETE, -1, NO_WINDOW, b'["k"]', [None, b"ab"]) == (
        struct.pack(">HBqqi", 7, 2, -1, -(2**63), 5)
        + b'["k"]'
        + struct.pack(">H", 2)
        + struct.pack(">i", -1)
        + struct.pack(">i", 2)
        + b"ab"
    )
    assert model_event(1, UPSERT, 2, 3, b"[]", []) == struct.pack(">HBqqi", 1, 1, 2, 3, 2) + b"[]" + b"\x00\x00"
