"""Make bad records on purpose, each classified by the Router as exactly one :class:`Reason`.

Used by unit tests, the Flink job tests and the event generator. Pure and deterministic given ``rng``.

Which kinds need what:

* value only: ``bad_magic_byte``, ``frame_too_short``, ``truncated_body``, ``trailing_bytes``,
  ``unknown_schema_id`` (pass an id the registry does not have).
* value + ``contract`` (its reader schema must be the schema ``good_value`` was written with, unless
  ``writer_schema`` is given): ``bogus_length``, ``invalid_utf8``, ``schema_mismatch``, ``missing_event_id``,
  ``oversized`` (uses ``contract.max_record_bytes``).
* key side (:func:`corrupt_key`): ``missing_key``, ``wrong_key``.
* not producible by changing the value: ``no_contract`` (send to a topic without a contract),
  ``incompatible_schema`` (needs an incompatible writer schema in the registry) and ``missing_event_time``
  (contract loading requires a non-null event-time field, so it cannot happen with a valid contract).
"""

from __future__ import annotations

import random

from udfs.contract import Contract
from udfs.decode import Span, value_spans
from udfs.reasons import Reason
from udfs.wire import HEADER_SIZE, MAGIC_BYTE, frame, parse_frame

VALUE_ONLY_KINDS = frozenset(
    {
        Reason.bad_magic_byte,
        Reason.frame_too_short,
        Reason.truncated_body,
        Reason.trailing_bytes,
        Reason.unknown_schema_id,
    }
)
CONTRACT_KINDS = frozenset(
    {
        Reason.bogus_length,
        Reason.invalid_utf8,
        Reason.schema_mismatch,
        Reason.missing_event_id,
        Reason.oversized,
    }
)
VALUE_KINDS = VALUE_ONLY_KINDS | CONTRACT_KINDS
KEY_KINDS = frozenset({Reason.missing_key, Reason.wrong_key})


def zigzag_varint(n: int) -> bytes:
    """Avro's zigzag varint encoding of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def corrupt(  # noqa: PLR0911, PLR0912 - one branch per kind
    kind: Reason,
    good_value: bytes,
    *,
    rng: random.Random,
    unknown_schema_id: int = 2**31 - 1,
    contract: Contract | None = None,
    writer_schema: object | None = None,
) -> bytes:
    """Return ``good_value`` (a wire-format record) damaged so that the Router reports ``kind``."""
    if kind not in VALUE_KINDS:
        raise ValueError(f"{kind} is not producible from the value; see the module docstring")
    good = parse_frame(good_value)
    body = good.body
    if kind is Reason.bad_magic_byte:
        return bytes((rng.choice([b for b in range(256) if b != MAGIC_BYTE]),)) + good_value[1:]
    if kind is Reason.frame_too_short:
        return good_value[: rng.randrange(HEADER_SIZE)]
    if kind is Reason.unknown_schema_id:
        return frame(unknown_schema_id, body)
    if kind is Reason.trailing_bytes:
        return good_value + rng.randbytes(rng.randint(1, 8))
    if kind is Reason.truncated_body:
        if not body:
            raise ValueError("cannot truncate an empty body")
        return good_value[: HEADER_SIZE + rng.randrange(len(body))]
    if contract is None:
        raise ValueError(f"{kind} needs the contract")
    if kind is Reason.oversized:
        return good_value + bytes(
            max(0, contract.max_record_bytes + 1 - len(good_value)) + rng.randint(0, 16)
        )
    spans = value_spans(body, contract.reader_schema if writer_schema is None else writer_schema)
    if kind is Reason.bogus_length:
        span = _first(spans, ("string", "bytes"), kind)
        huge = rng.choice([2**62, 2**40 + rng.randrange(2**20), -rng.randint(1, 2**30)])
        return frame(good.schema_id, body[: span.start] + zigzag_varint(huge) + body[span.data_start :])
    if kind is Reason.invalid_utf8:
        text = next((s for s in spans if s.kind == "string" and s.end > s.data_start), None)
        if text is None:
            raise ValueError("invalid_utf8 needs a non-empty string field")
        size = text.end - text.data_start
        bad = bytes((0xFF, 0xFE) * size)[:size]
        return frame(good.schema_id, body[: text.data_start] + bad + body[text.end :])
    if kind is Reason.schema_mismatch:
        span = _first(spans, ("enum", "union"), kind)
        index = rng.randint(2**20, 2**31 - 1)
        return frame(good.schema_id, body[: span.start] + zigzag_varint(index) + body[span.data_start :])
    # missing_event_id: replace the event id string by the empty string
    event_id = next((s for s in spans if s.path == contract.event_id_field and s.kind == "string"), None)
    if event_id is None:
        raise ValueError(f"event id field {contract.event_id_field!r} is not a string in the body")
    return frame(good.schema_id, body[: event_id.start] + zigzag_varint(0) + body[event_id.end :])


def corrupt_key(kind: Reason, good_key: bytes) -> bytes | None:
    """Damage a Kafka key: ``missing_key`` gives None, ``wrong_key`` a different non-empty key."""
    if kind is Reason.missing_key:
        return None
    if kind is Reason.wrong_key:
        return b"wrong-" + good_key
    raise ValueError(f"{kind} is not a key-side corruption")


def _first(spans: list[Span], kinds: tuple[str, ...], reason: Reason) -> Span:
    for span in spans:
        if span.kind in kinds:
            return span
    raise ValueError(f"{reason} needs a field of kind {' or '.join(kinds)} in the schema")
