"""The common subset of CEL compiled to Python closures, for the rules a contract writes most.

Rule expressions are mostly field references and literals joined by comparisons, ``in``, ``!``, ``&&`` and
``||``. For those, :func:`compile_subset` builds a tree of small Python closures that reads the record's
mapping directly; anything else (calls, arithmetic, member access, escapes in strings, ternaries) returns
None and the rule runs on the Rust evaluator (:mod:`udfs.expressions`).

Invariant: a compiled closure returns what the Rust evaluator returns, or raises :class:`EvaluationError`
(a TypeError, as the binding raises) where it fails: ``&&``/``||`` absorb an error or non-boolean operand when
the other side decides; ``==`` is false across types except int/double, which compare as doubles; ordering
needs two values of one type (or int/double) and fails on NaN; ``!`` needs a boolean.
``tests/unit/test_cel_subset.py`` checks this against the Rust evaluator on generated expressions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Node = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<double>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    | (?P<int>\d+)(?![\w.])
    | "(?P<dq>[^"\\\n]*)"(?!")
    | '(?P<sq>[^'\\\n]*)'(?!')
    | (?P<ident>[A-Za-z_]\w*)(?!\s*[("'])
    | (?P<op>\|\||&&|==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|-)
    )""",
    re.VERBOSE,
)
_RELATIONS = ("==", "!=", "<", "<=", ">", ">=", "in")
_RESERVED = frozenset({"true", "false", "null", "in"})
_NUMBERS = (int, float)


class EvaluationError(TypeError):
    """The expression does not apply to the record's values (a null or mistyped operand)."""


class _UnsupportedError(Exception):
    """The expression leaves the subset: the Rust evaluator runs it."""


class _Literal:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def compile_subset(source: str) -> tuple[Node, tuple[str, ...]] | None:
    """The closure for ``source`` and the fields it reads in order of first use, or None outside the subset."""
    try:
        tokens = _tokenize(source)
        parser = _Parser(tokens)
        node = parser.expression()
        if parser.position != len(tokens):
            raise _UnsupportedError
    except _UnsupportedError:
        return None
    return _as_node(node), tuple(dict.fromkeys(parser.fields))


def _tokenize(source: str) -> list[tuple[str, object]]:
    tokens: list[tuple[str, object]] = []
    position, end = 0, len(source.rstrip())
    while position < end:
        match = _TOKEN.match(source, position)
        if match is None:
            raise _UnsupportedError
        kind = match.lastgroup
        text = match.group(kind) if kind else ""
        if kind == "double":
            tokens.append(("literal", float(text)))
        elif kind == "int":
            tokens.append(("literal", int(text)))
        elif kind in ("dq", "sq"):
            tokens.append(("literal", text))
        elif kind == "ident" and text in _RESERVED:
            tokens.append(("in", text) if text == "in" else ("literal", {"true": True, "false": False}.get(text)))
        else:
            tokens.append((kind or "", text))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over CEL's grammar, precedence from ``||`` (lowest) to unary operators."""

    def __init__(self, tokens: list[tuple[str, object]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.fields: list[str] = []

    def expression(self) -> Node | _Literal:
        left = self._and()
        while self._take("||"):
            left = _junction(_as_node(left), _as_node(self._and()), decisive=True)
        return left

    def _and(self) -> Node | _Literal:
        left = self._relation()
        while self._take("&&"):
            left = _junction(_as_node(left), _as_node(self._relation()), decisive=False)
        return left

    def _relation(self) -> Node | _Literal:
        left = self._unary()
        while (operator := self._peek()) in _RELATIONS:
            self.position += 1
            if operator == "in":
                left = _membership(_as_node(left), self._list())
            else:
                left = _compare(str(operator), left, self._unary())
        return left

    def _unary(self) -> Node | _Literal:
        # CEL's parser drops an even run of ``!`` or ``-`` (``!!x`` is ``x``), so only the run's parity counts.
        for operator in ("!", "-"):
            run = 0
            while self._take(operator):
                run += 1
            if run % 2 == 0 and run:
                return self._unary()
            if run % 2:
                operand = self._unary()
                if operator == "!":
                    return _not(_as_node(operand))
                if isinstance(operand, _Literal) and type(operand.value) in _NUMBERS:
                    return _Literal(-operand.value)  # type: ignore[operator]
                raise _UnsupportedError
        return self._primary()

    def _primary(self) -> Node | _Literal:
        kind, value = self._next()
        if kind == "literal":
            return _Literal(value)
        if kind == "ident":
            name = str(value)
            self.fields.append(name)
            return lambda record: record.get(name)
        if kind == "op" and value == "(":
            inner = self.expression()
            if not self._take(")"):
                raise _UnsupportedError
            return inner
        raise _UnsupportedError

    def _list(self) -> list[Node | _Literal]:
        if not self._take("["):
            raise _UnsupportedError
        items: list[Node | _Literal] = []
        while not self._take("]"):
            if items and not self._take(","):
                raise _UnsupportedError
            items.append(self.expression())
        return items

    def _peek(self) -> object:
        if self.position >= len(self.tokens):
            return None
        kind, value = self.tokens[self.position]
        return "in" if kind == "in" else value if kind == "op" else None

    def _take(self, operator: str) -> bool:
        if self._peek() == operator:
            self.position += 1
            return True
        return False

    def _next(self) -> tuple[str, object]:
        if self.position >= len(self.tokens):
            raise _UnsupportedError
        self.position += 1
        return self.tokens[self.position - 1]


def _as_node(part: Node | _Literal) -> Node:
    if isinstance(part, _Literal):
        value = part.value
        return lambda record: value
    return part


def _junction(left: Node, right: Node, decisive: bool) -> Node:
    """``||`` (``decisive`` True) or ``&&`` (False): either side equal to ``decisive`` decides, whatever
    the other is (an error or a non-boolean included); otherwise both must be booleans."""
    other = not decisive
    verdict, other_verdict = decisive, other  # returned; compared names narrow to Any under mypy
    operator = "||" if decisive else "&&"

    def node(record: Mapping[str, Any]) -> bool:
        try:
            first = left(record)
        except EvaluationError:
            first = None
        if first is decisive:
            return verdict
        second = right(record)  # its error propagates: the left side did not decide
        if second is decisive:
            return verdict
        if first is other and second is other:
            return other_verdict
        raise EvaluationError(f"{operator} needs boolean operands")

    return node


def _not(operand: Node) -> Node:
    def node(record: Mapping[str, Any]) -> bool:
        value = operand(record)
        if value is True:
            return False
        if value is False:
            return True
        raise EvaluationError("! needs a boolean")

    return node


def _compare(operator: str, left: Node | _Literal, right: Node | _Literal) -> Node:
    if operator in ("==", "!=") and _is_null(right) and not isinstance(left, _Literal):
        field = left  # `x == null` and `x != null`, the most common guard, without the generic equality
        return (lambda record: field(record) is None) if operator == "==" else (lambda r: field(r) is not None)
    first, second = _as_node(left), _as_node(right)
    test = _ORDERINGS.get(operator)
    if test is None:
        if operator == "==":
            return lambda record: _equal(first(record), second(record))
        return lambda record: not _equal(first(record), second(record))
    return lambda record: test(_ordered(first(record), second(record)))


def _is_null(part: Node | _Literal) -> bool:
    return isinstance(part, _Literal) and part.value is None


def _equal(a: object, b: object) -> bool:
    kind = type(a)
    if kind is type(b):
        return a == b
    if kind in _NUMBERS and type(b) in _NUMBERS:
        return float(a) == float(b)  # type: ignore[arg-type]
    return False


def _ordered(a: Any, b: Any) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b``; fails across types, on null and on NaN."""
    kind = type(a)
    if kind is not type(b) or kind is float:
        if kind not in _NUMBERS or type(b) not in _NUMBERS:
            raise EvaluationError("ordering needs two values of one type")
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            raise EvaluationError("NaN has no order")
    elif kind not in (int, str, bytes, bool):
        raise EvaluationError("ordering needs numbers, strings, bytes or booleans")
    return -1 if a < b else 1 if a > b else 0


_ORDERINGS: dict[str, Callable[[int], bool]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def _membership(value: Node, items: list[Node | _Literal]) -> Node:
    if not all(isinstance(item, _Literal) for item in items):
        nodes = [_as_node(item) for item in items]
        return lambda record: any(_equal(value(record), node(record)) for node in nodes)
    literals = [item.value for item in items if isinstance(item, _Literal)]
    # One set per type, so that membership is a hash lookup with CEL's equality: 1 == 1.0, true != 1.
    same = {kind: frozenset(v for v in literals if type(v) is kind) for kind in (str, bytes, bool, int, float)}
    ints_as_doubles = frozenset(float(v) for v in same[int])
    doubles = same[float]
    has_null = any(v is None for v in literals)

    def node(record: Mapping[str, Any]) -> bool:
        candidate = value(record)
        kind = type(candidate)
        if kind is int:
            return candidate in same[int] or float(candidate) in doubles
        if kind is float:
            return candidate in doubles or candidate in ints_as_doubles
        if candidate is None:
            return has_null
        members = same.get(kind)
        return members is not None and candidate in members

    return node
