"""CEL's common subset compiled to Python (udfs/cel_subset.py) returns what the Rust evaluator returns: on
generated expressions and records of every value kind, on the shipped rules, and it leaves the rest to Rust."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from functools import partial

import cel
import pytest

from udfs.cel_subset import EvaluationError, compile_subset
from udfs.contract import load_contract

from .support import SCHEMAS

VALUES: tuple[object, ...] = (None, True, False, 0, 1, -1, 1.0, 1.5, -2.5, math.nan, "", "a", "b", b"a", 2**62 + 1)
LITERALS = ("null", "true", "false", "0", "1", "-1", "1.0", "1.5", "-2.5", '"a"', "'b'", '""', "4611686018427387904.0")
FIELDS = ("x", "y", "z")


def outcome(run: Callable[[], object]) -> object:
    """The value, or which kind of failure: the Rust binding raises TypeError where an operand does not apply."""
    try:
        value = run()
    except TypeError:
        return "TypeError"
    except Exception as exc:
        return type(exc).__name__
    return "NaN" if isinstance(value, float) and math.isnan(value) else (type(value).__name__, value)


def random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(FIELDS) if rng.random() < 0.6 else rng.choice(LITERALS)
    shape = rng.randrange(6)
    if shape == 0:
        return f"!{random_expression(rng, depth - 1)}"
    if shape == 1:
        items = ", ".join(rng.choice((*LITERALS, *FIELDS)) for _ in range(rng.randrange(4)))
        return f"{random_expression(rng, depth - 1)} in [{items}]"
    if shape == 2:
        operator = rng.choice(("==", "!=", "<", "<=", ">", ">="))
        return f"{random_expression(rng, depth - 1)} {operator} {random_expression(rng, depth - 1)}"
    operator = rng.choice(("&&", "||"))
    text = f"{random_expression(rng, depth - 1)} {operator} {random_expression(rng, depth - 1)}"
    return f"({text})" if shape == 3 else text


def test_generated_expressions_evaluate_as_the_rust_evaluator_does() -> None:
    rng = random.Random(20261207)
    compared = 0
    for _ in range(400):
        source = random_expression(rng, 3)
        try:
            program = cel.compile(source)
        except ValueError:
            continue
        compiled = compile_subset(source)
        assert compiled is not None, f"{source!r} is in the subset"
        node, fields = compiled
        assert set(fields) == set(program.variables()), source
        for _ in range(12):
            record: Mapping[str, object] = {name: rng.choice(VALUES) for name in FIELDS}
            expected = outcome(partial(program.execute, dict(record)))
            assert outcome(partial(node, record)) == expected, f"{source!r} on {record!r}"
            compared += 1
    assert compared > 3000


@pytest.mark.parametrize(
    ("source", "record", "expected"),
    [
        ("x == 1", {"x": 1.0}, True),
        ("x == 1", {"x": True}, False),
        ("x in [1, 'a']", {"x": 1.0}, True),
        ("x in [true]", {"x": 1}, False),
        ("x == null", {}, True),
        ("x < y", {"x": 1, "y": 1.5}, True),
        ("x != null || y > 0", {"x": None, "y": None}, EvaluationError),
        ("x == null || y > 0", {"x": None, "y": None}, True),
        ("y > 0 || x == null", {"x": None, "y": None}, True),
        ("y > 0 && x != null", {"x": None, "y": None}, False),
        ("x < 1", {"x": math.nan}, EvaluationError),
        ("!x", {"x": "a"}, EvaluationError),
        ("x >= -2.5 && x <= 10", {"x": -2}, True),
        ('x in ["it\'s"]', {"x": "it's"}, True),
    ],
)
def test_the_subset_keeps_cel_semantics(source: str, record: Mapping[str, object], expected: object) -> None:
    compiled = compile_subset(source)
    assert compiled is not None
    node, _ = compiled
    if expected is EvaluationError:
        with pytest.raises(EvaluationError):
            node(record)
    else:
        assert node(record) is expected


@pytest.mark.parametrize(
    "source",
    [
        "size(x) > 0",
        "x + 1 > 2",
        "x.startsWith('a')",
        "x == 'a\\'b'",
        "x == b'a'",
        "x == r'a'",
        "x == 1u",
        "x == 0x10",
        "x ? y : z",
        "x == [1]",
        "x in y",
        '"""a""" == x',
        "-x < 0",
        "x matches 'a'",
    ],
)
def test_expressions_outside_the_subset_are_left_to_the_rust_evaluator(source: str) -> None:
    assert compile_subset(source) is None


def test_the_shipped_rules_run_in_python() -> None:
    for contract_dir in sorted(p for p in SCHEMAS.iterdir() if (p / "contract.toml").exists()):
        contract = load_contract(contract_dir)
        expressions = [rule.expression for rule in contract.rules if rule.expression is not None]
        assert expressions, f"{contract_dir.name} ships a CEL rule"
        assert all(e.native for e in expressions), [e.source for e in expressions if not e.native]
