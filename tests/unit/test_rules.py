"""Contract rules and event-time skew, end to end through Router.route, plus every load-time rejection."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest

from lakegate.events import EventFactory
from udfs.columns import Column, ColumnKind
from udfs.contract import DEFAULT_MAX_EVENT_TIME_SKEW_MS, Contract, Contracts, load_contract
from udfs.errors import ContractError
from udfs.reasons import Reason
from udfs.registry import InMemorySchemas
from udfs.router import Quarantined, RawRecord, Router, Valid, quarantine_headers
from udfs.rules import compile_rules, first_violation, parse_rules
from udfs.wire import frame

from .support import SCHEMAS, avro_body, ticket_event

CLOCK_MS = 1_800_000_000_000


def tickets_with(tmp_path: Path, extra: str) -> Path:
    """A copy of the tickets contract with its own [[rules]] replaced by ``extra`` (TOML)."""
    folder = tmp_path / "tickets"
    shutil.copytree(SCHEMAS / "tickets", folder)
    toml = folder / "contract.toml"
    head = toml.read_text().split("[[rules]]", 1)[0]
    toml.write_text(head + "\n" + extra)
    return folder


def route(contract: Contract, event: dict[str, object]) -> Valid | Quarantined:
    schemas = InMemorySchemas()
    schema_id = schemas.add(contract.schema_texts[-1])
    value = frame(schema_id, avro_body(json.loads(contract.schema_texts[-1]), event))
    raw = RawRecord(contract.topic, 0, 7, 0, str(event["ticket_id"]).encode(), value)
    return Router(Contracts((contract,)), schemas, clock=lambda: CLOCK_MS).route(raw)


RULE_CASES = [
    # (rule TOML, rule name, field, failing value, passing value)
    ("not_null = true", "assignee_id.not_null", "assignee_id", None, "agent-07"),
    ("not_blank = true", "subject.not_blank", "subject", " \t ", "Printer"),
    ("min = 0", "reply_count.min", "reply_count", -1, 0),
    ("max = 10", "reply_count.max", "reply_count", 11, 10),
    ("min = 1\nmax = 5", "csat_score.range", "csat_score", 6, 5),
    ("min = 1\nmax = 5", "csat_score.range", "csat_score", 0, 1),
    ("min = 2020-01-01T00:00:00Z", "event_time.min", "event_time", 1_000_000, 1_577_836_800_000),
    ("max = 1700000000000", "first_response_seconds.max", "first_response_seconds", 1_700_000_000_001, None),
    ('allowed = ["LOW", "NORMAL"]', "priority.allowed", "priority", "URGENT", "LOW"),
    ('allowed = ["C-77", "C-78"]', "customer_id.allowed", "customer_id", "C-79", "C-78"),
    ("allowed = [0, 1, 2]", "reply_count.allowed", "reply_count", 7, 2),
    (r"pattern = 'C-\d+'", "customer_id.pattern", "customer_id", "C-77x", "C-77"),  # full match
    ("max_length = 5", "subject.max_length", "subject", "abcdef", "abcde"),
    ("max_length = 5", "subject.max_length", "subject", "ééééééé", "ééééé"),  # characters, not bytes
    ("min_length = 2", "subject.min_length", "subject", "q", "ab"),
    ("min_length = 2\nmax_length = 3", "subject.length", "subject", "abcd", "abc"),
]


@pytest.mark.parametrize(("check", "name", "field", "bad", "fine"), RULE_CASES)
def test_each_rule_kind_fails_and_passes_through_the_router(
    tmp_path: Path, check: str, name: str, field: str, bad: object, fine: object
) -> None:
    contract = load_contract(tickets_with(tmp_path, f'[[rules]]\nfield = "{field}"\n{check}\n'))
    assert [r.name for r in contract.rules] == [name]

    assert isinstance(route(contract, ticket_event(**{field: fine})), Valid)
    result = route(contract, ticket_event(**{field: bad}))
    assert isinstance(result, Quarantined), result
    assert (result.reason, result.field, result.rule) == (Reason.rule_violation, field, name)
    assert result.message.startswith(f"rule {name} failed: ")
    if bad is not None:
        assert str(bad) not in result.message  # never the value (PII)
    headers = dict(quarantine_headers(result, "job"))
    assert headers["lg.rule"] == name.encode()
    assert headers["lg.reason"] == b"rule_violation"


def test_null_passes_every_check_but_not_null(tmp_path: Path) -> None:
    contract = load_contract(tickets_with(tmp_path, '[[rules]]\nfield = "csat_score"\nmin = 1\n'))
    assert isinstance(route(contract, ticket_event(csat_score=None)), Valid)


def test_first_failing_rule_in_contract_order_is_reported_with_its_custom_name(tmp_path: Path) -> None:
    rules = '[[rules]]\nname = "csat"\nfield = "csat_score"\nmax = 5\n[[rules]]\nfield = "reply_count"\nmin = 0\n'
    contract = load_contract(tickets_with(tmp_path, rules))
    result = route(contract, ticket_event(csat_score=9, reply_count=-1))
    assert isinstance(result, Quarantined)
    assert (result.rule, result.field) == ("csat", "csat_score")
    assert result.message == "rule csat failed: value is above the maximum 5"


def test_nan_fails_a_range_and_bytes_length_counts_bytes(tmp_path: Path) -> None:
    contract = load_contract(tickets_with(tmp_path, ""))
    columns = [Column("x", ColumnKind.double, False), Column("b", ColumnKind.bytes, True)]
    rules = parse_rules([{"field": "x", "min": 0}, {"field": "b", "max_length": 2}], contract.directory, columns, {})
    checks = compile_rules(rules)
    assert first_violation(checks, {"x": 0.0, "b": b"ab"}) is None
    assert first_violation(checks, {"x": math.nan, "b": None}) is not None
    violation = first_violation(checks, {"x": 1.0, "b": b"abc"})
    assert violation is not None and violation[0].name == "b.max_length"


def test_real_contracts_accept_what_the_generator_makes(contracts: Contracts) -> None:
    for contract in contracts:
        checks = compile_rules(contract.rules)
        assert checks, f"{contract.name} should declare rules"
        factory = EventFactory(contract, random.Random(3))
        for _ in range(2000):
            assert first_violation(checks, factory.next(now_ms=CLOCK_MS)) is None


# -- event-time skew ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew_line", "ahead_ms", "ok"),
    [
        ("", DEFAULT_MAX_EVENT_TIME_SKEW_MS, True),
        ("", DEFAULT_MAX_EVENT_TIME_SKEW_MS + 1, False),
        ("max_event_time_skew_ms = 0", 0, True),
        ("max_event_time_skew_ms = 0", 1, False),
        ("", -86_400_000, True),  # late events are fine; only the future is suspicious
    ],
)
def test_event_time_skew_uses_the_router_clock(tmp_path: Path, skew_line: str, ahead_ms: int, ok: bool) -> None:
    folder = tickets_with(tmp_path, "")
    toml = folder / "contract.toml"
    toml.write_text(toml.read_text().replace("max_event_time_skew_ms = 300000", skew_line))
    contract = load_contract(folder)
    result = route(contract, ticket_event(event_time=CLOCK_MS + ahead_ms))
    if ok:
        assert isinstance(result, Valid)
        assert result.envelope.ingest_time_ms == CLOCK_MS
        return
    assert isinstance(result, Quarantined)
    assert (result.reason, result.field, result.rule) == (Reason.event_time_skew, "event_time", None)
    assert str(CLOCK_MS + ahead_ms) not in result.message


# -- load-time validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "needle"),
    [
        ('[[rules]]\nfield = "subject"\nmaxlength = 3\n', "rules[0].maxlength", "did you mean 'max_length'"),
        ('[[rules]]\nfield = "subjct"\nnot_null = true\n', "rules[0].field", "did you mean 'subject'"),
        ("[[rules]]\nnot_null = true\n", "rules[0].field", "is required"),
        ('[[rules]]\nfield = "subject"\n', "rules[0]", "0 checks"),
        ('[[rules]]\nfield = "subject"\nnot_null = true\nmax_length = 3\n', "rules[0]", "2 checks"),
        ('[[rules]]\nfield = "subject"\nnot_null = false\n', "rules[0].not_null", "must be true"),
        ('[[rules]]\nfield = "subject"\nmin = 3\n', "rules[0].min", "does not fit field 'subject'"),
        ('[[rules]]\nfield = "reply_count"\npattern = "1+"\n', "rules[0].pattern", "does not fit"),
        ('[[rules]]\nfield = "reply_count"\nmax_length = 3\n', "rules[0].max_length", "does not fit"),
        ('[[rules]]\nfield = "reply_count"\nnot_blank = true\n', "rules[0].not_blank", "does not fit"),
        ('[[rules]]\nfield = "event_time"\nallowed = [1]\n', "rules[0].allowed", "does not fit"),
        ('[[rules]]\nfield = "priority"\nallowed = ["LOW", "LOUD"]\n', "rules[0].allowed", "not symbols of the enum"),
        ('[[rules]]\nfield = "reply_count"\nallowed = ["1"]\n', "rules[0].allowed", "list of int"),
        ('[[rules]]\nfield = "reply_count"\nallowed = []\n', "rules[0].allowed", "non-empty list"),
        ("[[rules]]\nfield = \"subject\"\npattern = '(unclosed'\n", "rules[0].pattern", "regular expression"),
        ('[[rules]]\nfield = "reply_count"\nmin = 5\nmax = 1\n', "rules[0]", "min is greater than max"),
        ('[[rules]]\nfield = "reply_count"\nmin = "0"\n', "rules[0].min", "must be a number"),
        ('[[rules]]\nfield = "event_time"\nmin = 2020-01-01T00:00:00\n', "rules[0].min", "UTC offset"),
        ('[[rules]]\nfield = "subject"\nmax_length = -1\n', "rules[0].max_length", "integer >= 0"),
        ('[[rules]]\nfield = "subject"\nmin_length = 3\nmax_length = 2\n', "rules[0]", "greater than max_length"),
        ('[[rules]]\nname = ""\nfield = "subject"\nnot_null = true\n', "rules[0].name", "non-empty"),
        (
            '[[rules]]\nfield = "subject"\nnot_null = true\n[[rules]]\nfield = "subject"\nnot_null = true\n',
            "rules[1].name",
            "used twice",
        ),
        ('[pii]\nsubjekt = "mask"\n', "pii.subjekt", "did you mean 'subject'"),
        ('[pii]\nsubject = "encrypt"\n', "pii.subject", "unknown treatment"),
        ('[pii]\nreply_count = "hash"\n', "pii.reply_count", "does not fit"),
        ('[pii]\npriority = "mask"\n', None, None),  # enums are strings: mask is fine
        ('[pii]\nreply_count = "drop"\n', None, None),
    ],
)
def test_rule_and_pii_validation_errors(tmp_path: Path, extra: str, field: str | None, needle: str | None) -> None:
    folder = tickets_with(tmp_path, extra)
    if field is None:
        load_contract(folder)
        return
    with pytest.raises(ContractError) as info:
        load_contract(folder)
    assert info.value.field == field
    assert needle is not None and needle in str(info.value)
    assert str(info.value).startswith(str(folder / "contract.toml"))
    assert ". Fix: " in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ('compatibility = "BACKWARD"', 'compatibility = "SIDEWAYS"', "compatibility", "FULL_TRANSITIVE"),
        ('compatibility = "BACKWARD"', "compatibility = 1", "compatibility", "unknown mode"),
        ("max_event_time_skew_ms = 300000", "max_event_time_skew_ms = -1", "max_event_time_skew_ms", "between"),
        ("max_event_time_skew_ms = 300000", "max_event_time_skew_ms = true", "max_event_time_skew_ms", "between"),
        ("max_event_time_skew_ms = 300000", "rules = 5", "rules", "array of tables"),
        ("max_event_time_skew_ms = 300000", "pii = 5", "pii", "must be a table"),
    ],
)
def test_top_level_key_errors(tmp_path: Path, old: str, new: str, field: str, needle: str) -> None:
    folder = tickets_with(tmp_path, "")
    toml = folder / "contract.toml"
    assert old in toml.read_text()
    toml.write_text(toml.read_text().replace(old, new))
    with pytest.raises(ContractError) as info:
        load_contract(folder)
    assert (info.value.field, needle in str(info.value)) == (field, True)


def test_defaults_and_modes(tmp_path: Path) -> None:
    folder = tickets_with(tmp_path, "")
    toml = folder / "contract.toml"
    text = toml.read_text().replace('compatibility = "BACKWARD"\n', "").replace("max_event_time_skew_ms = 300000", "")
    toml.write_text(text)
    contract = load_contract(folder)
    assert (contract.compatibility, contract.max_event_time_skew_ms) == ("BACKWARD", DEFAULT_MAX_EVENT_TIME_SKEW_MS)
    assert (contract.rules, dict(contract.pii)) == ((), {})
    toml.write_text('compatibility = "FULL_TRANSITIVE"\n' + text)
    assert load_contract(folder).compatibility == "FULL_TRANSITIVE"
