"""Decoding: happy path, schema evolution and the exact reason for every malformed body."""

from __future__ import annotations

import json
import time

import fastavro
import pytest

from lakegate.testing.corrupt import zigzag_varint
from udfs.contract import Contracts
from udfs.decode import MAX_DEPTH, decode, value_spans
from udfs.errors import BadRecord
from udfs.reasons import Reason
from udfs.registry import WriterSchema, parse_writer_schema

from .support import avro_body, ticket_event

RECORD = {"type": "record", "name": "R", "namespace": "t", "fields": [{"name": "a", "type": "string"}]}


def writer(schema: object, schema_id: int = 1) -> WriterSchema:
    return parse_writer_schema(schema_id, json.dumps(schema))


def reason_of(body: bytes, schema: object, reader: object | None = None, **kw: int) -> BadRecord:
    w = writer(schema)
    with pytest.raises(BadRecord) as info:
        decode(body, w, w.parsed if reader is None else fastavro.parse_schema(reader), **kw)  # type: ignore[arg-type]
    return info.value


def test_happy_path_keeps_avro_base_values(contracts: Contracts) -> None:
    tickets = contracts.by_name("tickets")
    w = writer(json.loads(tickets.schema_texts[-1]))
    payload = decode(avro_body(tickets.reader_schema, ticket_event()), w, tickets.reader_schema)
    assert payload == ticket_event()
    assert isinstance(payload["event_id"], str)  # uuid logical type not converted
    assert payload["event_time"] == 1_700_000_000_123  # timestamp-millis stays epoch millis


def test_out_of_range_timestamp_is_not_an_error() -> None:
    schema = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
    }
    body = zigzag_varint(2**62)
    assert decode(body, writer(schema), fastavro.parse_schema(schema)) == {"t": 2**62}


def test_evolution_reads_old_writer_through_new_reader_with_defaults() -> None:
    v1 = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "id", "type": "string"}, {"name": "gone", "type": "int"}],
    }
    v2 = {
        "type": "record",
        "name": "E",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "tier", "type": "string", "default": "basic"},
            {"name": "score", "type": ["null", "long"], "default": None},
        ],
    }
    body = avro_body(v1, {"id": "x", "gone": 5})
    assert decode(body, writer(v1), fastavro.parse_schema(v2)) == {"id": "x", "tier": "basic", "score": None}


@pytest.mark.parametrize(
    "reader_fields",
    [
        [{"name": "a", "type": "int"}],  # type change
        [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}],  # new field without default
    ],
)
def test_unresolvable_writer_is_incompatible_schema(reader_fields: list[object]) -> None:
    reader = {**RECORD, "fields": reader_fields}
    assert reason_of(b"\x04hi", RECORD, reader).reason is Reason.incompatible_schema


def test_trailing_bytes() -> None:
    assert reason_of(b"\x04hi\x00", RECORD).reason is Reason.trailing_bytes


def test_every_cut_of_a_real_body_is_truncated_body(contracts: Contracts) -> None:
    tickets = contracts.by_name("tickets")
    body = avro_body(tickets.reader_schema, ticket_event())
    w = writer(json.loads(tickets.schema_texts[-1]))
    for cut in range(len(body)):
        with pytest.raises(BadRecord) as info:
            decode(body[:cut], w, tickets.reader_schema)
        assert info.value.reason is Reason.truncated_body, cut
        assert info.value.field is not None


@pytest.mark.parametrize("length", [2**62, 2**40, 1_048_577, -1, -(2**62)])
def test_bogus_string_length_fails_fast_without_allocating(length: int) -> None:
    start = time.perf_counter()
    error = reason_of(zigzag_varint(length) + b"abc", RECORD)
    assert error.reason is Reason.bogus_length
    assert error.field == "a"
    assert time.perf_counter() - start < 0.5


def test_plausible_length_past_the_end_is_truncated_not_bogus() -> None:
    assert reason_of(zigzag_varint(1000) + b"abc", RECORD).reason is Reason.truncated_body
    assert reason_of(zigzag_varint(1000) + b"abc", RECORD, max_length=999).reason is Reason.bogus_length


@pytest.mark.parametrize("items", ["null", {"type": "record", "name": "Empty", "fields": []}, "int"])
def test_huge_array_block_counts_do_not_allocate(items: object) -> None:
    schema = {
        "type": "record",
        "name": "A",
        "fields": [{"name": "xs", "type": {"type": "array", "items": items}}],
    }
    start = time.perf_counter()
    for count in (2**60, -(2**60)):
        error = reason_of(zigzag_varint(count) + zigzag_varint(0), schema)
        assert error.reason is Reason.bogus_length
        assert error.field == "xs"
    assert time.perf_counter() - start < 1.0


def test_moderate_zero_size_array_still_decodes() -> None:
    schema = {
        "type": "record",
        "name": "A",
        "fields": [{"name": "xs", "type": {"type": "array", "items": "null"}}],
    }
    w = writer(schema)
    assert decode(zigzag_varint(3) + zigzag_varint(0), w, w.parsed) == {"xs": [None, None, None]}


def test_huge_map_count_is_bogus_length() -> None:
    schema = {
        "type": "record",
        "name": "M",
        "fields": [{"name": "m", "type": {"type": "map", "values": "null"}}],
    }
    assert reason_of(zigzag_varint(2**60) + b"\x00", schema).reason is Reason.bogus_length


NODE = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}


def test_deeply_nested_recursive_value_is_rejected_not_a_crash() -> None:
    # 100k levels would overflow fastavro's C stack (segfault) if it reached fastavro.
    error = reason_of(b"\x02" * 100_000 + b"\x00", NODE)
    assert error.reason is Reason.schema_mismatch
    assert "nested deeper" in error.message


def test_shallow_recursive_value_decodes() -> None:
    w = writer(NODE)
    assert decode(b"\x02\x02\x00", w, w.parsed) == {"next": {"next": {"next": None}}}
    assert MAX_DEPTH >= 20


def test_enum_and_union_index_out_of_range_name_the_field(contracts: Contracts) -> None:
    schema = {
        "type": "record",
        "name": "U",
        "fields": [
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
            {"name": "u", "type": ["null", "string"]},
        ],
    }
    enum_error = reason_of(zigzag_varint(7) + b"\x00", schema)
    assert (enum_error.reason, enum_error.field) == (Reason.schema_mismatch, "e")
    union_error = reason_of(b"\x00" + zigzag_varint(5), schema)
    assert (union_error.reason, union_error.field) == (Reason.schema_mismatch, "u")


def test_invalid_utf8_names_nested_field() -> None:
    schema = {
        "type": "record",
        "name": "O",
        "fields": [
            {
                "name": "inner",
                "type": {"type": "record", "name": "I", "fields": [{"name": "s", "type": "string"}]},
            }
        ],
    }
    error = reason_of(b"\x04\xff\xfe", schema)
    assert (error.reason, error.field) == (Reason.invalid_utf8, "inner.s")
    assert "\\xff" not in error.message


def test_value_spans_locate_strings_and_enums(contracts: Contracts) -> None:
    tickets = contracts.by_name("tickets")
    body = avro_body(tickets.reader_schema, ticket_event())
    spans = {s.path: s for s in value_spans(body, tickets.reader_schema)}
    subject = spans["subject"]
    assert subject.kind == "string"
    assert body[subject.data_start : subject.end].decode() == ticket_event()["subject"]
    assert spans["event_type"].kind == "enum"
    assert max(s.end for s in spans.values()) == len(body)
