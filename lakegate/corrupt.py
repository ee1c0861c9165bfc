"""Make bad records on purpose, each classified by the Router as exactly one :class:`Reason`.

Used by the event generator (lakegate/produce.py) and, as ``lakegate.testing.corrupt``, by the tests.
:func:`corrupt` damages a value (:data:`VALUE_KINDS`; its docstring says which kinds need a contract),
:func:`corrupt_key` a key (:data:`KEY_KINDS`).

Invariant: pure and deterministic given ``rng``; a damaged record is quarantined for the kind asked for.
"""

from __future__ import annotations

import io
import itertools
import random
from typing import Any

import fastavro

from udfs.columns import as_epoch_millis
from udfs.contract import Contract
from udfs.decode import Span, value_spans
from udfs.expressions import Expression, violation
from udfs.reasons import Reason
from udfs.rules import Rule
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
        Reason.rule_violation,
        Reason.event_time_skew,
    }
)
YEAR_2100_MS = 4_102_444_800_000
VALUE_KINDS = VALUE_ONLY_KINDS | CONTRACT_KINDS
KEY_KINDS = frozenset({Reason.missing_key, Reason.wrong_key})
# Not producible by changing a record: no_contract (send to a topic without a contract), incompatible_schema
# (needs an incompatible writer schema in the registry), missing_event_time (contract loading requires a
# non-null event-time field) and duplicate_event_id (needs a second record with the same event id).


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
    rule_turn: int | None = None,
) -> bytes:
    """Return ``good_value`` (a wire-format record) damaged so that the Router reports ``kind``.

    The kinds of :data:`VALUE_ONLY_KINDS` need the value only (``unknown_schema_id``: pass an id the
    registry does not have). Those of :data:`CONTRACT_KINDS` also need ``contract``, whose reader schema must
    be the one ``good_value`` was written with unless ``writer_schema`` is given: ``oversized`` uses
    ``contract.max_record_bytes``; ``rule_violation`` breaks one of the contract's ``[[rules]]`` that a value
    can break, chosen by ``rng``, or the ``rule_turn``-th rule (modulo their number; the next one it can break)
    so that a series of turns breaks every rule (not on the key, event id or event time fields; a CEL rule
    through values of the fields it reads that make it false or fail); ``event_time_skew`` moves
    the event time to the year 2100.
    """
    if kind not in VALUE_KINDS:
        raise ValueError(f"{kind} is not producible from the value; see lakegate.corrupt.VALUE_KINDS")
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
        return good_value + bytes(max(0, contract.max_record_bytes + 1 - len(good_value)) + rng.randint(0, 16))
    schema = contract.reader_schema if writer_schema is None else writer_schema
    if kind in (Reason.rule_violation, Reason.event_time_skew):
        return frame(good.schema_id, _rewrite(kind, body, schema, contract, rng, rule_turn))
    spans = value_spans(body, schema)
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


def _rewrite(  # noqa: PLR0917
    kind: Reason, body: bytes, schema: Any, contract: Contract, rng: random.Random, rule_turn: int | None
) -> bytes:
    """Decode, change one field so that the record breaks a rule or the skew limit, encode again."""
    record: Any = fastavro.schemaless_reader(io.BytesIO(body), schema, None)
    if kind is Reason.event_time_skew:
        record[contract.event_time_field] = YEAR_2100_MS + rng.randrange(86_400_000)
    else:
        protected = {contract.key_field, contract.event_id_field, contract.event_time_field}
        # Rules name fields as the reader schema does: look at the writer's fields under those names.
        renames = contract.renames
        read_as = {**schema, "fields": [{**f, "name": renames.get(f["name"], f["name"])} for f in schema["fields"]]}
        as_read = {renames.get(name, name): value for name, value in record.items()}
        options: list[tuple[int, list[dict[str, object]]]] = []  # (rule index, the changes that break it)
        for index, rule in enumerate(contract.rules):
            if rule.expression is not None:
                options.append((index, _breaking_changes(rule.expression, read_as, as_read, protected)))
            elif rule.field not in protected and (value := _breaking_value(rule, read_as)) is not _NONE:
                options.append((index, [{rule.field: value}]))
        options = [(index, changes) for index, changes in options if changes]
        if not options:
            raise ValueError(f"rule_violation needs a rule in {contract.name} that a value can break")
        if rule_turn is None:
            _, changes = rng.choice(options)
        else:
            wanted = rule_turn % len(contract.rules)
            _, changes = next((o for o in options if o[0] >= wanted), options[0])
        written_as = {new: old for old, new in renames.items() if old in record}
        record.update({written_as.get(name, name): value for name, value in rng.choice(changes).items()})
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


_NONE = object()
_PATTERN_MISSES = ("", " ", "\x00", "~~~", "A" * 300, "0")


def _breaking_value(rule: Rule, schema: Any) -> object:  # noqa: PLR0911 - one branch per check
    """A value of the field's type that fails ``rule``, or ``_NONE`` when there is none to make."""
    avro = next((f["type"] for f in schema["fields"] if f["name"] == rule.field), _NONE)
    if avro is _NONE:  # the writer's version lacks the field (added later): no value of it to break
        return _NONE
    nullable = isinstance(avro, list) and "null" in avro
    base = next((t for t in avro if t != "null"), None) if isinstance(avro, list) else avro
    is_bytes = base == "bytes" or (isinstance(base, dict) and base.get("type") == "bytes")
    if rule.check == "not_null":
        return None if nullable else _NONE
    if rule.check == "not_blank":
        return "   "
    if rule.check in ("min", "max", "range"):
        if rule.maximum is not None:
            return type(rule.maximum)(rule.maximum + 1)
        assert rule.minimum is not None
        return type(rule.minimum)(rule.minimum - 1)
    if rule.check in ("max_length", "length", "min_length"):
        if rule.max_length is not None:
            return b"x" * (rule.max_length + 1) if is_bytes else "x" * (rule.max_length + 1)
        return b"" if is_bytes else "" if rule.min_length else _NONE
    if rule.check == "pattern":
        assert rule.pattern is not None
        return next((c for c in _PATTERN_MISSES if not rule.pattern.fullmatch(c)), _NONE)
    symbols = base.get("symbols", ()) if isinstance(base, dict) else ()
    if symbols:  # allowed on an enum field
        return next((s for s in symbols if s not in rule.allowed), _NONE)
    sample = next(iter(rule.allowed))
    if isinstance(sample, bool):
        return _NONE if len(rule.allowed) == 2 else not sample
    if isinstance(sample, int):
        return max(v for v in rule.allowed if isinstance(v, int)) + 1
    return "\x00not-allowed"


def _breaking_changes(
    expression: Expression, schema: Any, record: dict[str, object], protected: set[str]
) -> list[dict[str, object]]:
    """Changes of the fields a CEL rule reads (a few values of each field's type, null included) that make
    ``record`` break it; the protected fields and those the writer's version lacks keep their values."""
    types = {f["name"]: f["type"] for f in schema["fields"]}
    names = [f for f in expression.fields if f in types and f not in protected]
    # The router reads timestamps as epoch millis; fastavro's reader gave datetimes.
    plain = {k: as_epoch_millis(v) for k, v in record.items()}
    found = []
    for values in itertools.islice(itertools.product(*(_candidates(types[f]) for f in names)), 2000):
        changes = dict(zip(names, values, strict=True))
        if violation(expression, {**plain, **changes}) is not None:
            found.append(changes)
    return found


def _candidates(avro: Any) -> list[object]:
    """A few values of an Avro type for :func:`_breaking_changes` (null for a nullable one)."""
    branches = avro if isinstance(avro, list) else [avro]
    out: list[object] = [None] if "null" in branches else []
    for branch in (b for b in branches if b != "null"):
        kind = branch.get("type") if isinstance(branch, dict) else branch
        if kind == "enum":
            out += list(branch["symbols"])
        elif kind == "int":
            out += [-1, 0, 2**30]
        elif kind == "long":
            out += [-1, 0, 2**42]  # 2**42 ms: the year 2109 for a timestamp
        elif kind in ("float", "double"):
            out += [-1.0, 0.0]
        elif kind == "string":
            out += ["", "x"]
        elif kind == "boolean":
            out += [False, True]
        elif kind == "bytes":
            out += [b""]
    return out


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
