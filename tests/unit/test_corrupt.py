"""The corrupter itself: deterministic, complete and honest about what it cannot make."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from lakegate.testing.corrupt import (
    CONTRACT_KINDS,
    KEY_KINDS,
    VALUE_KINDS,
    corrupt,
    corrupt_key,
    zigzag_varint,
)
from udfs.contract import Contract, Contracts
from udfs.reasons import Reason

from .support import ticket_event

Encode = Callable[[Contract, dict[str, object]], bytes]


def test_kinds_cover_every_reason_but_the_documented_ones() -> None:
    not_from_bytes = {
        Reason.no_contract,
        Reason.incompatible_schema,
        Reason.missing_event_time,
        Reason.duplicate_event_id,
    }
    assert VALUE_KINDS | KEY_KINDS | not_from_bytes == set(Reason)
    assert not VALUE_KINDS & KEY_KINDS


@pytest.mark.parametrize("kind", sorted(VALUE_KINDS))
def test_deterministic_with_rng_and_changes_the_value(kind: Reason, contracts: Contracts, encode: Encode) -> None:
    tickets = contracts.by_name("tickets")
    value = encode(tickets, ticket_event())
    a = corrupt(kind, value, rng=random.Random(5), unknown_schema_id=77, contract=tickets)
    b = corrupt(kind, value, rng=random.Random(5), unknown_schema_id=77, contract=tickets)
    assert a == b
    assert a != value


@pytest.mark.parametrize("kind", sorted(CONTRACT_KINDS))
def test_contract_kinds_need_the_contract(kind: Reason, contracts: Contracts, encode: Encode) -> None:
    value = encode(contracts.by_name("tickets"), ticket_event())
    with pytest.raises(ValueError, match="needs the contract"):
        corrupt(kind, value, rng=random.Random(1))


@pytest.mark.parametrize("kind", [Reason.no_contract, Reason.missing_key, Reason.incompatible_schema])
def test_kinds_not_made_from_the_value_are_refused(kind: Reason, contracts: Contracts, encode: Encode) -> None:
    value = encode(contracts.by_name("tickets"), ticket_event())
    with pytest.raises(ValueError, match="not producible"):
        corrupt(kind, value, rng=random.Random(1))


def test_corrupt_key() -> None:
    assert corrupt_key(Reason.missing_key, b"T-1") is None
    wrong = corrupt_key(Reason.wrong_key, b"T-1")
    assert wrong and wrong != b"T-1"
    with pytest.raises(ValueError, match="key-side"):
        corrupt_key(Reason.oversized, b"T-1")


@pytest.mark.parametrize(
    ("n", "encoded"), [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (64, b"\x80\x01"), (-65, b"\x81\x01")]
)
def test_zigzag_varint(n: int, encoded: bytes) -> None:
    assert zigzag_varint(n) == encoded
