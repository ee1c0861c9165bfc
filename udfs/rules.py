"""Field rules from a contract's ``[[rules]]`` tables: parsed and validated at load, checked per record.

Avro already guarantees types; rules state what a team promises beyond types (ranges, allowed values,
patterns, lengths). They run on every valid record inside the Flink workers, so each rule is compiled once
into a small closure and the happy path is one dict lookup and one comparison per rule. A failing rule's
message names the rule and the broken promise, never the value (payloads may hold PII).

Null values pass every check except ``not_null``, like SQL constraints: combine ``not_null`` with another
rule to forbid nulls as well. A rule with ``expr`` relates several fields in CEL (:mod:`udfs.expressions`);
there null is a value the expression must handle.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from udfs.columns import Column, ColumnKind
from udfs.errors import ContractError
from udfs.expressions import Expression, compile_expression, violation
from udfs.naming import check_field, check_keys

# check -> the rule keys that express it; a rule holds exactly one group
_GROUPS: dict[str, tuple[str, ...]] = {
    "not_null": ("not_null",),
    "not_blank": ("not_blank",),
    "range": ("min", "max"),
    "allowed": ("allowed",),
    "pattern": ("pattern",),
    "length": ("min_length", "max_length"),
}
_KEYS = frozenset({"name", "field"} | {k for keys in _GROUPS.values() for k in keys})
_EXPR_KEYS = frozenset({"name", "expr"})
_NUMERIC = frozenset({ColumnKind.int, ColumnKind.long, ColumnKind.float, ColumnKind.double, ColumnKind.timestamp_ms})
_ALLOWED_KINDS: dict[ColumnKind, type] = {
    ColumnKind.string: str,
    ColumnKind.int: int,
    ColumnKind.long: int,
    ColumnKind.boolean: bool,
}

Check = Callable[[Mapping[str, object]], str | None]  # payload -> problem (no values), or None if it holds


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule. ``check`` is one of ``not_null``, ``not_blank``, ``min``, ``max``, ``range``,
    ``allowed``, ``pattern``, ``min_length``, ``max_length``, ``length`` (one field each) or ``expr``."""

    name: str
    field: str  # an expression rule: the fields it reads, comma-separated
    check: str
    expression: Expression | None = None  # check "expr": a CEL rule (udfs/expressions.py)
    minimum: int | float | None = None  # epoch millis for timestamp fields
    maximum: int | float | None = None
    allowed: frozenset[object] = frozenset()
    pattern: re.Pattern[str] | None = None
    min_length: int | None = None
    max_length: int | None = None


def parse_rules(
    raw: object, path: Path, columns: Sequence[Column], enums: Mapping[str, Sequence[str]]
) -> tuple[Rule, ...]:
    """Validate the ``[[rules]]`` array of tables against the reader schema's columns (and enum symbols)."""
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ContractError(path, "rules", "must be an array of tables", 'write each rule as [[rules]] field = "..."')
    by_name = {c.name: c for c in columns}
    rules: list[Rule] = []
    for index, table in enumerate(raw):
        rule = _parse_rule(table, f"rules[{index}]", path, by_name, enums)
        if any(r.name == rule.name for r in rules):
            raise ContractError(
                path, f"rules[{index}].name", f"rule name {rule.name!r} is used twice", "give each rule its own name"
            )
        rules.append(rule)
    return tuple(rules)


def _parse_rule(
    table: dict[str, Any], where: str, path: Path, columns: Mapping[str, Column], enums: Mapping[str, Sequence[str]]
) -> Rule:
    if "expr" in table:
        return _parse_expression_rule(table, where, path, columns)
    check_keys(table, _KEYS, path=path, where=where, problem="unknown rule key")
    field = table.get("field")
    if not isinstance(field, str) or not field:
        raise ContractError(path, f"{where}.field", "is required and must be a field name", 'add field = "..."')
    check_field(field, columns, path=path, where=f"{where}.field")
    groups = [g for g, keys in _GROUPS.items() if any(k in table for k in keys)]
    if len(groups) != 1:
        raise ContractError(
            path,
            where,
            f"rule on '{field}' has {len(groups)} checks ({', '.join(groups) or 'none'})",
            "give each [[rules]] table exactly one check: not_null, not_blank, min/max, allowed, "
            "pattern or min_length/max_length",
        )
    column = columns[field]
    check, params = _GROUP_PARSERS[groups[0]](table, f"{where}", path, column, enums.get(field))
    name = table.get("name", f"{field}.{check}")
    if not isinstance(name, str) or not name.strip():
        raise ContractError(path, f"{where}.name", "must be a non-empty string", f'e.g. name = "{field}.{check}"')
    return Rule(name=name, field=field, check=check, **params)


def _parse_expression_rule(table: dict[str, Any], where: str, path: Path, columns: Mapping[str, Column]) -> Rule:
    check_keys(table, _EXPR_KEYS, path=path, where=where, problem="unknown key for an expression rule")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ContractError(
            path, f"{where}.name", "an expression rule needs a name", 'e.g. name = "solved.has_first_response"'
        )
    expression = compile_expression(table["expr"], f"{where}.expr", path, list(columns.values()))
    return Rule(name=name, field=",".join(expression.fields), check="expr", expression=expression)


def _fail_type(path: Path, where: str, key: str, column: Column, fits: str) -> ContractError:
    return ContractError(
        path,
        f"{where}.{key}",
        f"'{key}' does not fit field '{column.name}' of type {column.kind}",
        f"use '{key}' only on {fits} fields, or remove the rule",
    )


def _flag(table: dict[str, Any], where: str, path: Path, key: str) -> None:
    if table[key] is not True:
        raise ContractError(path, f"{where}.{key}", "must be true", f"write {key} = true or remove the rule")


def _not_null(table: dict[str, Any], where: str, path: Path, column: Column, _e: object) -> tuple[str, dict[str, Any]]:
    _flag(table, where, path, "not_null")
    return "not_null", {}


def _not_blank(table: dict[str, Any], where: str, path: Path, column: Column, _e: object) -> tuple[str, dict[str, Any]]:
    _flag(table, where, path, "not_blank")
    if column.kind is not ColumnKind.string:
        raise _fail_type(path, where, "not_blank", column, "string")
    return "not_blank", {}


def _bound(value: object, where: str, key: str, path: Path, column: Column) -> int | float:
    if column.kind is ColumnKind.timestamp_ms and isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ContractError(
                path,
                f"{where}.{key}",
                "a timestamp bound needs a UTC offset",
                f"write e.g. {key} = 2020-01-01T00:00:00Z",
            )
        return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(
            path,
            f"{where}.{key}",
            "must be a number",
            f"write {key} = <number>" + (" or an offset date-time" if column.kind is ColumnKind.timestamp_ms else ""),
        )
    return value


def _range(table: dict[str, Any], where: str, path: Path, column: Column, _e: object) -> tuple[str, dict[str, Any]]:
    if column.kind not in _NUMERIC:
        key = "min" if "min" in table else "max"
        raise _fail_type(path, where, key, column, "int, long, float, double or timestamp")
    low = _bound(table["min"], where, "min", path, column) if "min" in table else None
    high = _bound(table["max"], where, "max", path, column) if "max" in table else None
    if low is not None and high is not None and low > high:
        raise ContractError(path, where, "min is greater than max", "swap them")
    check = "range" if low is not None and high is not None else "min" if low is not None else "max"
    return check, {"minimum": low, "maximum": high}


def _allowed(
    table: dict[str, Any], where: str, path: Path, column: Column, symbols: Sequence[str] | None
) -> tuple[str, dict[str, Any]]:
    values = table["allowed"]
    kind_type = _ALLOWED_KINDS.get(column.kind)
    if kind_type is None:
        raise _fail_type(path, where, "allowed", column, "string, enum, int, long or boolean")
    if (
        not isinstance(values, list)
        or not values
        or not all(
            type(v) is kind_type
            for v in values  # exact type: True is not an int here
        )
    ):
        raise ContractError(
            path,
            f"{where}.allowed",
            f"must be a non-empty list of {kind_type.__name__} values",
            'e.g. allowed = ["A", "B"]' if kind_type is str else "e.g. allowed = [1, 2]",
        )
    unknown = [v for v in values if symbols is not None and v not in symbols]
    if unknown:
        raise ContractError(
            path,
            f"{where}.allowed",
            f"{unknown} are not symbols of the enum '{column.name}'",
            f"use symbols from {list(symbols or ())}",
        )
    return "allowed", {"allowed": frozenset(values)}


def _pattern(table: dict[str, Any], where: str, path: Path, column: Column, _e: object) -> tuple[str, dict[str, Any]]:
    if column.kind is not ColumnKind.string:
        raise _fail_type(path, where, "pattern", column, "string")
    text = table["pattern"]
    if not isinstance(text, str) or not text:
        raise ContractError(path, f"{where}.pattern", "must be a non-empty string", "use a literal string '...'")
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise ContractError(
            path,
            f"{where}.pattern",
            f"not a valid Python regular expression ({exc})",
            "fix the regex; TOML literal strings '...' avoid double escaping",
        ) from None
    return "pattern", {"pattern": compiled}


def _length(table: dict[str, Any], where: str, path: Path, column: Column, _e: object) -> tuple[str, dict[str, Any]]:
    if column.kind not in (ColumnKind.string, ColumnKind.bytes):
        raise _fail_type(
            path, where, "max_length" if "max_length" in table else "min_length", column, "string or bytes"
        )
    bounds: dict[str, int | None] = {}
    for key in ("min_length", "max_length"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ContractError(path, f"{where}.{key}", "must be an integer >= 0", f"e.g. {key} = 200")
        bounds[key] = value
    low, high = bounds["min_length"], bounds["max_length"]
    if low is not None and high is not None and low > high:
        raise ContractError(path, where, "min_length is greater than max_length", "swap them")
    check = "length" if low is not None and high is not None else "min_length" if low is not None else "max_length"
    return check, bounds


_GROUP_PARSERS: dict[str, Callable[..., tuple[str, dict[str, Any]]]] = {
    "not_null": _not_null,
    "not_blank": _not_blank,
    "range": _range,
    "allowed": _allowed,
    "pattern": _pattern,
    "length": _length,
}


# -- evaluation ------------------------------------------------------------------------------------------


def compile_rules(rules: Sequence[Rule]) -> tuple[tuple[Rule, Check], ...]:
    """One small closure per rule, in contract order (the first failing rule is the one reported)."""
    return tuple((rule, _compile(rule)) for rule in rules)


def first_violation(checks: tuple[tuple[Rule, Check], ...], payload: Mapping[str, object]) -> tuple[Rule, str] | None:
    for rule, check in checks:
        problem = check(payload)
        if problem is not None:
            return rule, problem
    return None


def _compile(rule: Rule) -> Check:
    if rule.expression is not None:
        return partial(violation, rule.expression)
    return _compile_field_rule(rule)


def _compile_field_rule(rule: Rule) -> Check:
    name = rule.field
    if rule.check == "not_null":
        return lambda p: "value is null" if p.get(name) is None else None
    if rule.check == "not_blank":
        return lambda p: "value is empty or only whitespace" if _blank(p.get(name)) else None
    if rule.check == "allowed":
        allowed, count = rule.allowed, len(rule.allowed)
        return lambda p: (
            None if (v := p.get(name)) is None or v in allowed else (f"value is not one of the {count} allowed values")
        )
    if rule.check == "pattern":
        assert rule.pattern is not None
        match, shown = rule.pattern.fullmatch, rule.pattern.pattern
        return lambda p: None if (v := p.get(name)) is None or match(str(v)) else f"value does not match {shown!r}"
    if rule.check in ("min", "max", "range"):
        return _between(name, rule.minimum, rule.maximum, "value")
    return _between(name, rule.min_length, rule.max_length, "length", measure=len)


def _between(
    name: str, low: float | None, high: float | None, what: str, measure: Callable[[Any], Any] | None = None
) -> Check:
    below = f"{what} is below the minimum {low}"
    above = f"{what} is above the maximum {high}"

    def check(payload: Mapping[str, object]) -> str | None:
        value: Any = payload.get(name)
        if value is None:
            return None
        if measure is not None:
            value = measure(value)
        if low is not None and not value >= low:  # written so that NaN fails a range
            return below
        if high is not None and not value <= high:
            return above
        return None

    return check


def _blank(value: object) -> bool:
    return isinstance(value, str) and not value.strip()
