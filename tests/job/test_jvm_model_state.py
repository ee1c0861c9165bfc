"""The read-model state Python rebuilds from model tables (lakegate/model_state.py) as the JVM reads it
(io.lakegate.flink.models.StateCodec), in PyFlink's gateway JVM."""

from __future__ import annotations

from typing import Any

import pytest

from lakegate.model_state import encode_aggregate, encode_current

pytestmark = pytest.mark.job


@pytest.fixture(scope="module")
def codec(jvm_gateway: Any) -> Any:
    return jvm_gateway.jvm.io.lakegate.flink.models.StateCodec


def test_a_current_state_reads_back_field_by_field(codec: Any) -> None:
    state = codec.current(encode_current(2**40 + 3, 7, 2**33 + 1, True, 12))
    assert (state.orderValue(), state.partition(), state.offset(), state.deleted(), state.version()) == (
        2**40 + 3,
        7,
        2**33 + 1,
        True,
        12,
    )


def test_an_aggregate_state_reads_back_with_every_value_kind(codec: Any) -> None:
    values = [42, None, -5, 2.5, "ünï", True, b"\x00\x01", 2**62]
    encoded = encode_aggregate(
        300,
        (1_700_000_000_000, 2, 99),
        [(42, 42), (0, None), (3, -5), (1, 2.5), (1, "ünï"), (1, True), (1, b"\x00\x01"), (1, 2**62)],
    )
    state = codec.aggregate(encoded, len(values))
    assert state.version() == 300
    assert state.hasLatest() and (state.latestValue(), state.latestPartition(), state.latestOffset()) == (
        1_700_000_000_000,
        2,
        99,
    )
    assert [state.count(i) for i in range(len(values))] == [42, 0, 3, 1, 1, 1, 1, 1]
    decoded = [state.value(i) for i in range(len(values))]
    assert decoded[:4] == [42, None, -5, 2.5]
    assert str(decoded[4]) == "ünï" and decoded[5] is True and bytes(decoded[6]) == b"\x00\x01"
    assert decoded[7] == 2**62
    without_latest = codec.aggregate(encode_aggregate(1, None, [(1, 7)]), 1)
    assert not without_latest.hasLatest() and without_latest.value(0) == 7
