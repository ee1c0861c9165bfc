"""Avro compatibility by schema resolution rules: a table of reader/writer pairs, then the modes."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from udfs.compat import Compatibility, can_read, check_versions


def rec(*fields: dict[str, Any], name: str = "R", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "x", "fields": list(fields), **extra}


def f(name: str, avro: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": avro, **extra}


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "E", "symbols": list(symbols), **extra}


# (case, reader, writer, expected problem substring or None when the reader can read the writer)
CASES: list[tuple[str, Any, Any, str | None]] = [
    ("identical", rec(f("a", "int")), rec(f("a", "int")), None),
    ("int->long", rec(f("a", "long")), rec(f("a", "int")), None),
    ("int->float", rec(f("a", "float")), rec(f("a", "int")), None),
    ("int->double", rec(f("a", "double")), rec(f("a", "int")), None),
    ("long->float", rec(f("a", "float")), rec(f("a", "long")), None),
    ("long->double", rec(f("a", "double")), rec(f("a", "long")), None),
    ("float->double", rec(f("a", "double")), rec(f("a", "float")), None),
    ("string->bytes", rec(f("a", "bytes")), rec(f("a", "string")), None),
    ("bytes->string", rec(f("a", "string")), rec(f("a", "bytes")), None),
    ("long->int", rec(f("a", "int")), rec(f("a", "long")), "type changed from long to int"),
    ("double->float", rec(f("a", "float")), rec(f("a", "double")), "not a legal promotion"),
    ("int->string", rec(f("a", "string")), rec(f("a", "int")), "type changed from int to string"),
    (
        "logical types ignored",
        rec(f("a", {"type": "long", "logicalType": "timestamp-millis"})),
        rec(f("a", "long")),
        None,
    ),
    ("field added with default", rec(f("a", "int"), f("b", "string", default="")), rec(f("a", "int")), None),
    (
        "field added without default",
        rec(f("a", "int"), f("b", "string")),
        rec(f("a", "int")),
        "R.b: field is missing in the writer and has no default",
    ),
    ("field removed (writer extra)", rec(f("a", "int")), rec(f("a", "int"), f("b", "string")), None),
    ("field renamed via alias", rec(f("c", "int", aliases=["a"])), rec(f("a", "int")), None),
    ("record name changed", rec(f("a", "int"), name="S"), rec(f("a", "int")), "record name changed"),
    ("record renamed via alias", rec(f("a", "int"), name="S", aliases=["R"]), rec(f("a", "int")), None),
    ("enum symbol added", rec(f("e", enum("A", "B", "C"))), rec(f("e", enum("A", "B"))), None),
    ("enum symbol removed", rec(f("e", enum("A"))), rec(f("e", enum("A", "B"))), "enum symbols ['B'] were removed"),
    (
        "enum symbol removed, reader default",
        rec(f("e", enum("A", "Z", default="Z"))),
        rec(f("e", enum("A", "B"))),
        None,
    ),
    ("nullable widened", rec(f("a", ["null", "int"], default=None)), rec(f("a", "int")), None),
    (
        "nullable narrowed",
        rec(f("a", "int")),
        rec(f("a", ["null", "int"], default=None)),
        "R.a[null]: type changed from null to int",
    ),
    (
        "union branch missing",
        rec(f("a", ["null", "string"])),
        rec(f("a", ["null", "int"])),
        "R.a[int]: the reader's union ['null', 'string'] has no branch for the writer's int",
    ),
    ("union branch promoted", rec(f("a", ["null", "long"])), rec(f("a", ["null", "int"])), None),
    (
        "array items",
        rec(f("a", {"type": "array", "items": "int"})),
        rec(f("a", {"type": "array", "items": "long"})),
        "R.a.items: type changed from long to int",
    ),
    (
        "map values",
        rec(f("a", {"type": "map", "values": "double"})),
        rec(f("a", {"type": "map", "values": "int"})),
        None,
    ),
    (
        "fixed size",
        rec(f("a", {"type": "fixed", "name": "F", "size": 4})),
        rec(f("a", {"type": "fixed", "name": "F", "size": 8})),
        "fixed size changed from 8 to 4",
    ),
    (
        "nested record",
        rec(f("n", rec(f("x", "int"), f("y", "int"), name="N"))),
        rec(f("n", rec(f("x", "int"), name="N"))),
        "R.n.y: field is missing",
    ),
    ("named reference", rec(f("a", enum("A", "B")), f("b", "E")), rec(f("a", enum("A", "B")), f("b", "E")), None),
    (
        "recursive type",
        rec(f("v", "int"), f("next", ["null", "R"], default=None)),
        rec(f("v", "int"), f("next", ["null", "R"], default=None)),
        None,
    ),
    ("primitive roots", "long", "int", None),
    ("record vs primitive", rec(f("a", "int")), "int", "type changed from int to record"),
]


@pytest.mark.parametrize(("case", "reader", "writer", "expected"), CASES, ids=[c[0] for c in CASES])
def test_can_read(case: str, reader: Any, writer: Any, expected: str | None) -> None:
    problems = can_read(reader, writer)
    if expected is None:
        assert problems == [], [str(p) for p in problems]
    else:
        assert problems, "expected an incompatibility"
        assert any(expected in str(p) for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize(
    ("case", "reader", "writer", "expected"),
    [
        c
        for c in CASES
        if c[0].startswith(
            (
                "int->",
                "long->",
                "field added with",
                "enum symbol added",
                "nullable widened",
                "field removed",
                "union branch",
            )
        )
    ],
)
def test_compatible_verdicts_agree_with_fastavro(case: str, reader: Any, writer: Any, expected: str | None) -> None:
    """Cross-check against a real Avro implementation: write with the writer, read with the reader."""
    record = {"a": 1} if "a" in {x["name"] for x in writer["fields"]} else {}
    record |= {x["name"]: "A" for x in writer["fields"] if isinstance(x["type"], dict)}
    record |= {x["name"]: "s" for x in writer["fields"] if x["type"] == "string"}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), record)
    out.seek(0)
    read = lambda: fastavro.schemaless_reader(out, fastavro.parse_schema(writer), fastavro.parse_schema(reader))  # noqa: E731
    if expected is None:
        read()
    else:
        with pytest.raises(Exception):  # noqa: B017
            read()


V1 = rec(f("a", "int"))
V2 = rec(f("a", "int"), f("b", "string", default=""))  # adds a field with a default
V3 = rec(f("a", "int"), f("b", "string"))  # drops b's default


@pytest.mark.parametrize(
    ("versions", "mode", "pairs"),
    [
        ([V1, V2], "BACKWARD", []),
        ([V1, V2], "FORWARD", []),  # v1 ignores the extra field b
        ([V2, V1], "FORWARD", []),  # v2 reads v1's data: b gets its default
        ([V3, V1], "FORWARD", [(1, 2)]),  # v3 reads v1's data: b has no default
        ([V1, V3], "BACKWARD", [(2, 1)]),
        ([V1, V3], "FORWARD", []),
        ([V1, V3], "FULL", [(2, 1)]),
        ([V1, V3], "NONE", []),
        ([V1, V2, V3], "BACKWARD", []),  # v3 reads v2 (b present), v2 reads v1 (default)
        ([V1, V2, V3], "BACKWARD_TRANSITIVE", [(3, 1)]),  # but v3 cannot read v1
        ([V3, V2, V1], "FORWARD", []),
        ([V3, V2, V1], "FORWARD_TRANSITIVE", [(1, 3)]),  # the oldest reader (v3) cannot read v1
        ([V1, V2, V3], "FULL_TRANSITIVE", [(3, 1)]),
        ([V1], "FULL_TRANSITIVE", []),
    ],
)
def test_check_versions_modes(versions: list[Any], mode: str, pairs: list[tuple[int, int]]) -> None:
    found = check_versions(versions, Compatibility(mode))
    assert sorted({(p.reader_version, p.writer_version) for p in found}) == sorted(pairs)
    for problem in found:
        assert str(problem).startswith(f"v{problem.reader_version} reading v{problem.writer_version}: ")


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="SIDEWAYS"):
        check_versions([V1, V2], "SIDEWAYS")
