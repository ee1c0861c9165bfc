"""CEL rules (udfs/expressions.py): refused at load with the rule and the reason, checked per record through
Router.route, nulls handled by the expression, and the shipped contracts' expression rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lakegate.events import EventFactory
from udfs.contract import load_contract
from udfs.errors import ContractError
from udfs.reasons import Reason
from udfs.router import Quarantined, Valid
from udfs.rules import compile_rules, first_violation

from .support import SCHEMAS, ticket_event
from .test_rules import route, tickets_with

SOLVED_ANSWERED = 'name = "solved.answered"\nexpr = \'first_response_seconds != null || status != "SOLVED"\''


def _rule(expr: str, name: str = "r") -> str:
    return f"[[rules]]\nname = {name!r}\nexpr = '{expr}'\n"


@pytest.mark.parametrize(
    ("expr", "problem", "fix"),
    [
        ("reply_count >", "does not compile", "fix the CEL syntax"),
        ("closed_at >= created_at", "names 'closed_at', 'created_at', not a field of the reader schema", "use fields"),
        ('subject > 3 || status == "NEW"', "fails on a record of the reader schema's types", "compare values"),
        ("size(subject) > 0 && unknown_fn(subject)", "fails on a record of the reader schema's types", "convert"),
        ("reply_count + 1", "returns int, not a boolean", "make the expression a condition"),
        ('"a" + subject', "returns str, not a boolean", "a comparison"),
        ("1 < 2", "reads no field", "name a field"),
    ],
)
def test_an_expression_that_cannot_be_a_rule_is_refused_with_the_reason(
    tmp_path: Path, expr: str, problem: str, fix: str
) -> None:
    with pytest.raises(ContractError) as refused:
        load_contract(tickets_with(tmp_path, _rule(expr, "broken")))
    text = str(refused.value)
    assert "rules[0].expr" in text and problem in text and fix in text, text


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("expr = 'reply_count > 0'", "an expression rule needs a name"),
        ('name = "r"\nfield = "subject"\nexpr = \'reply_count > 0\'', "unknown key for an expression rule"),
        ("name = \"r\"\nexpr = 'reply_count > 0'\nmin = 1", "unknown key for an expression rule"),
        ('name = "r"\nexpr = ""', "must be a non-empty CEL expression"),
        ('name = "r"\nexpr = 3', "must be a non-empty CEL expression"),
    ],
)
def test_an_expression_rule_table_is_checked(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ContractError, match=problem):
        load_contract(tickets_with(tmp_path, f"[[rules]]\n{table}\n"))


def test_a_record_breaking_an_expression_rule_is_quarantined_naming_the_rule_and_its_fields(tmp_path: Path) -> None:
    contract = load_contract(tickets_with(tmp_path, f"[[rules]]\n{SOLVED_ANSWERED}\n"))
    (rule,) = contract.rules
    assert (rule.check, rule.field) == ("expr", "first_response_seconds,status")
    secret = "C-secret-77"
    broken = route(contract, ticket_event(status="SOLVED", first_response_seconds=None, customer_id=secret))
    assert isinstance(broken, Quarantined)
    assert (broken.reason, broken.rule, broken.field) == (
        Reason.rule_violation,
        "solved.answered",
        "first_response_seconds,status",
    )
    assert broken.message == "rule solved.answered failed: the expression is false"
    assert secret not in broken.message
    for event in (
        ticket_event(status="SOLVED", first_response_seconds=60),
        ticket_event(status="NEW", first_response_seconds=None),
    ):
        assert isinstance(route(contract, event), Valid)


def test_null_is_a_value_the_expression_handles_or_a_violation(tmp_path: Path) -> None:
    unguarded = load_contract(tickets_with(tmp_path, _rule("first_response_seconds >= reply_count", "unguarded")))
    missing = route(unguarded, ticket_event(first_response_seconds=None, reply_count=2))
    assert isinstance(missing, Quarantined) and missing.reason is Reason.rule_violation
    assert "an operand is null or of another type" in missing.message
    assert "x == null || x > 0" in missing.message  # the fix, in the quarantine reason
    assert isinstance(route(unguarded, ticket_event(first_response_seconds=5, reply_count=2)), Valid)
    guarded = load_contract(
        tickets_with(tmp_path / "g", _rule("first_response_seconds == null || first_response_seconds >= reply_count"))
    )
    assert isinstance(route(guarded, ticket_event(first_response_seconds=None, reply_count=2)), Valid)


def test_numbers_of_different_avro_types_compare_and_enums_are_strings(tmp_path: Path) -> None:
    contract = load_contract(
        tickets_with(tmp_path, _rule('csat_score == null || csat_score >= 1.5 || priority == "LOW"'))
    )
    assert isinstance(route(contract, ticket_event(csat_score=2, priority="HIGH")), Valid)
    low = route(contract, ticket_event(csat_score=1, priority="HIGH"))
    assert isinstance(low, Quarantined) and low.reason is Reason.rule_violation
    assert isinstance(route(contract, ticket_event(csat_score=1, priority="LOW")), Valid)


def test_the_shipped_expression_rules_hold_for_generated_events_and_catch_their_case() -> None:
    tickets, users = (load_contract(SCHEMAS / name) for name in ("tickets", "users"))
    assert {r.name for r in tickets.rules if r.check == "expr"} == {"resolved.has_first_response"}
    assert {r.name for r in users.rules if r.check == "expr"} == {"signed_up.not_after_event"}
    for contract in (tickets, users):
        checks, factory = compile_rules(contract.rules), EventFactory(contract, random.Random(5))
        assert all(first_violation(checks, factory.next()) is None for _ in range(2000)), contract.name
    assert isinstance(route(tickets, ticket_event(status="CLOSED", first_response_seconds=60)), Valid)
    unanswered = route(tickets, ticket_event(status="CLOSED", first_response_seconds=None))
    assert isinstance(unanswered, Quarantined) and unanswered.rule == "resolved.has_first_response"
