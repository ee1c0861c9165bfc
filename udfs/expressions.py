"""CEL rules: a contract rule written as an expression over several fields (``[[rules]] name, expr``).

The expression is Common Expression Language, as in Confluent's data-contract rules, so a rule moves between
a producer's serializer and a contract unchanged. Every field of the contract's reader schema is a variable
of its name, with the value the record holds as read through that schema: strings, ints, doubles, booleans,
bytes, timestamps as epoch milliseconds, null for an absent optional value.

Expressions in CEL's common subset (fields, literals, comparisons, ``in``, ``!``, ``&&``, ``||``) run as
Python closures with the Rust evaluator's semantics (:mod:`udfs.cel_subset`); the rest run on the Rust
evaluator.

Invariant: an expression is compiled once, when the contract loads, and is refused there unless it parses,
names only fields of the reader schema and returns a boolean on a record of the schema's types. At run time
a record violates the rule unless the expression returns true; an evaluation that fails (an operand null or
of a type the expression does not take) is a violation too. Messages name the rule, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cel

from udfs.cel_subset import compile_subset
from udfs.columns import Column, ColumnKind
from udfs.errors import ContractError

# A non-null value of each column kind: a record of the reader schema's types, to check an expression's type.
_SAMPLES: dict[ColumnKind, object] = {
    ColumnKind.string: "x",
    ColumnKind.boolean: True,
    ColumnKind.int: 1,
    ColumnKind.long: 1,
    ColumnKind.float: 1.0,
    ColumnKind.double: 1.0,
    ColumnKind.bytes: b"x",
    ColumnKind.timestamp_ms: 1_700_000_000_000,
}
_NULL_HINT = "guard nullable fields, e.g. x == null || x > 0"


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled CEL rule expression and the fields it reads (its free variables, in order of first use).

    ``evaluate`` takes the record's mapping and returns the expression's value or raises TypeError where the
    evaluation fails; ``native`` says whether it is the Python closure rather than the Rust program."""

    source: str
    fields: tuple[str, ...]
    evaluate: Callable[[Mapping[str, object]], object] = field(compare=False, repr=False)
    native: bool = field(default=False, compare=False)


def compile_expression(text: object, where: str, path: Path, columns: Sequence[Column]) -> Expression:
    """Parse and check ``text``; a ContractError at ``where`` says what is wrong and how to fix it."""
    if not isinstance(text, str) or not text.strip():
        raise ContractError(path, where, "must be a non-empty CEL expression", "e.g. expr = 'a == null || a > 0'")
    try:
        program = cel.compile(text)
    except ValueError as exc:
        raise ContractError(path, where, f"does not compile: {_first_line(exc)}", "fix the CEL syntax") from None
    fields = tuple(dict.fromkeys(program.variables()))
    known = {c.name for c in columns}
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ContractError(
            path,
            where,
            f"names {', '.join(repr(f) for f in unknown)}, not a field of the reader schema",
            f"use fields of the last schema version: {', '.join(sorted(known))}",
        )
    if not fields:
        raise ContractError(path, where, "reads no field: it holds for every record or for none", "name a field")
    sample = {c.name: _SAMPLES[c.kind] for c in columns if c.name in fields}
    try:
        result = program.execute(sample)
    except Exception as exc:  # the binding raises TypeError, RuntimeError or ValueError; each is a refusal here
        raise ContractError(
            path,
            where,
            f"fails on a record of the reader schema's types: {_first_line(exc)}",
            "compare values of one type; convert with int(), double() or string()",
        ) from None
    if not isinstance(result, bool):
        raise ContractError(
            path,
            where,
            f"returns {type(result).__name__}, not a boolean",
            "make the expression a condition, e.g. a comparison",
        )
    subset = compile_subset(text)
    if subset is not None and set(subset[1]) == set(fields):
        return Expression(text, fields, subset[0], native=True)
    return Expression(text, fields, partial(_execute, program, fields))


def on_rust(expression: Expression) -> Expression:
    """``expression`` evaluated by the Rust program whatever its shape (to compare the two evaluators)."""
    program = cel.compile(expression.source)
    return Expression(expression.source, expression.fields, partial(_execute, program, expression.fields))


def _execute(program: Any, fields: tuple[str, ...], payload: Mapping[str, object]) -> object:
    return program.execute({f: payload.get(f) for f in fields})


def violation(expression: Expression, payload: Mapping[str, object]) -> str | None:
    """What is wrong with ``payload`` under ``expression`` (no values), or None when it holds."""
    try:
        result = expression.evaluate(payload)
    except TypeError:
        return f"the expression does not apply: an operand is null or of another type ({_NULL_HINT})"
    except Exception as exc:  # the binding's own errors (RuntimeError, ValueError): never stop the job on data
        return f"the expression failed ({type(exc).__name__})"
    if result is True:
        return None
    return "the expression is false" if result is False else "the expression did not return a boolean"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
