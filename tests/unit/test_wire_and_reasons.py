"""Confluent framing and the reason catalogue."""

from __future__ import annotations

import re

import pytest

from udfs.errors import BadRecord, ContractError
from udfs.reasons import DESCRIPTIONS, Reason
from udfs.wire import MAGIC_BYTE, Frame, frame, parse_frame


def test_frame_is_magic_then_big_endian_id_then_body() -> None:
    value = frame(0x01020304, b"body")
    assert value == b"\x00\x01\x02\x03\x04body"
    assert parse_frame(value) == Frame(0x01020304, b"body")
    assert MAGIC_BYTE == 0


def test_header_only_frame_has_empty_body() -> None:
    assert parse_frame(b"\x00\x00\x00\x00\x07") == Frame(7, b"")


@pytest.mark.parametrize("value", [None, b"", b"\x00", b"\x00\x00\x00\x01"])
def test_short_values_are_frame_too_short(value: bytes | None) -> None:
    with pytest.raises(BadRecord) as info:
        parse_frame(value)
    assert info.value.reason is Reason.frame_too_short


@pytest.mark.parametrize("first", [1, 0x7F, 0xFF])
def test_wrong_magic_byte(first: int) -> None:
    with pytest.raises(BadRecord) as info:
        parse_frame(bytes([first]) + b"\x00\x00\x00\x01abc")
    assert info.value.reason is Reason.bad_magic_byte


@pytest.mark.parametrize("schema_id", [-1, 2**32])
def test_frame_rejects_ids_that_do_not_fit(schema_id: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        frame(schema_id, b"")


def test_every_reason_is_snake_case_and_described() -> None:
    assert set(DESCRIPTIONS) == set(Reason)
    for reason in Reason:
        assert reason.value == reason.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", reason.value)
        assert reason.description.endswith(".")
        assert len(reason.description) > 20


def test_contract_error_renders_path_field_and_fix() -> None:
    error = ContractError("schemas/x/contract.toml", "topic", "is required", "add topic = ...")
    assert str(error) == "schemas/x/contract.toml: field 'topic': is required. Fix: add topic = ..."
    assert (error.field, error.fix) == ("topic", "add topic = ...")


def test_bad_record_carries_reason_message_and_field() -> None:
    error = BadRecord(Reason.wrong_key, "key differs", "ticket_id")
    assert (error.reason, error.message, error.field) == (Reason.wrong_key, "key differs", "ticket_id")


def test_a_schema_id_with_the_top_bit_set_is_unknown_without_asking_the_registry() -> None:
    # Confluent ids are signed 32-bit: 0x80000005 is negative, and would overflow INT columns downstream.
    with pytest.raises(BadRecord) as info:
        parse_frame(b"\x00\x80\x00\x00\x05" + b"body")
    assert info.value.reason is Reason.unknown_schema_id
