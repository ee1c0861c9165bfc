"""udfs.decode.check_indexes: the enum and union indexes decode() lets through, caught and named."""

from __future__ import annotations

import json
import random

import pytest

from lakegate.events import EventFactory
from lakegate.testing.corrupt import zigzag_varint
from udfs.contract import Contracts
from udfs.decode import check_indexes, decode, value_spans
from udfs.errors import BadRecord
from udfs.reasons import Reason
from udfs.registry import parse_writer_schema

from .support import avro_body

NESTED = {
    "type": "record",
    "name": "Outer",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": {"type": "enum", "name": "Tag", "symbols": ["A", "B"]}}},
        {
            "name": "inner",
            "type": {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": ["null", "Tag"]}]},
        },
        {"name": "size", "type": {"type": "fixed", "name": "Four", "size": 4}},
    ],
}


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_good_bodies_pass(name: str, contracts: Contracts) -> None:
    contract = contracts.by_name(name)
    factory = EventFactory(contract, random.Random(3))
    for version, text in enumerate(contract.schema_texts):
        writer = parse_writer_schema(version + 1, text)
        for _ in range(200):
            body = avro_body(json.loads(text), factory.next())
            check_indexes(body, writer)  # no exception


@pytest.mark.parametrize("name", ["tickets", "users"])
def test_every_negative_or_past_the_end_index_is_named(name: str, contracts: Contracts) -> None:
    contract = contracts.by_name(name)
    text = contract.schema_texts[-1]
    writer = parse_writer_schema(1, text)
    body = avro_body(json.loads(text), EventFactory(contract, random.Random(4)).next())
    spans = [s for s in value_spans(body, json.loads(text)) if s.kind in ("enum", "union")]
    assert spans
    for span in spans:
        for index in (-1, -2, 7, 2**40):
            bad = body[: span.start] + zigzag_varint(index) + body[span.data_start :]
            with pytest.raises(BadRecord) as caught:
                check_indexes(bad, writer)
            assert (caught.value.reason, caught.value.field) == (Reason.schema_mismatch, span.path)
            assert f"index {index} out of range" in caught.value.message


def test_nested_schemas_are_walked() -> None:
    writer = parse_writer_schema(9, json.dumps(NESTED))
    body = avro_body(NESTED, {"id": "i", "tags": ["A", "B", "B"], "inner": {"x": "B"}, "size": b"abcd"})
    check_indexes(body, writer)
    assert decode(body, writer, writer.parsed)["tags"] == ["A", "B", "B"]
    spans = value_spans(body, NESTED)
    for span in (s for s in spans if s.kind in ("enum", "union")):
        bad = body[: span.start] + zigzag_varint(-1) + body[span.data_start :]
        with pytest.raises(BadRecord) as caught:
            check_indexes(bad, writer)
        assert caught.value.field == span.path


def test_a_body_the_scan_cannot_follow_is_left_to_the_walker() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}}],
    }
    writer = parse_writer_schema(3, json.dumps(schema))
    with pytest.raises(BadRecord) as caught:
        check_indexes(b"", writer)  # ends before the index
    assert caught.value.reason is Reason.truncated_body


def test_schemas_without_indexes_need_no_scan() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "long"}]}
    writer = parse_writer_schema(4, json.dumps(schema))
    check_indexes(avro_body(schema, {"s": "x", "n": 5}), writer)
