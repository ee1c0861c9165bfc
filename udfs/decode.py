"""Avro body decoding with a precise reason for every failure.

:func:`decode` is plain ``fastavro.schemaless_reader`` (compiled) plus a trailing-bytes check. fastavro
reports most malformed bodies as a bare ``EOFError``/``IndexError``, so on the error path a small validating
walker re-reads the body against the writer schema and names the problem and the field: truncated body vs.
bogus length, enum/union index out of range, invalid UTF-8. For writer schemas that could hang or crash
fastavro the walker runs first (:func:`_dangerous`); :func:`check_indexes` catches the negative indexes
fastavro accepts (docs/guarantees.md#avro-bodies-are-read-strictly).

Invariant: bad bytes raise :class:`~udfs.errors.BadRecord`, never anything else. Logical types are not
converted: payloads hold Avro base values (uuid as ``str``, timestamp-millis as ``int`` epoch millis).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from udfs.errors import BadRecord
from udfs.reasons import Reason
from udfs.registry import WriterSchema

DEFAULT_MAX_LENGTH = 1_048_576
MAX_DEPTH = 100  # nested records/arrays/maps/unions; fastavro needs ~1 KB of C stack per level
_PRIMITIVE_SIZES = {
    "null": 0,
    "boolean": 1,
    "int": 1,
    "long": 1,
    "float": 4,
    "double": 8,
    "string": 1,
    "bytes": 1,
}
_NAMED = ("record", "error", "enum", "fixed")


@dataclass(frozen=True, slots=True)
class Span:
    """Where one value lies in a body: ``body[start:data_start]`` is its varint/prefix, then its data."""

    kind: str
    path: str
    start: int
    data_start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Plan:
    writer_source: object  # keeps the ids used as cache key alive
    reader_source: object
    writer: object  # logical types stripped, parsed
    reader: object  # None when equal to the writer
    named: Mapping[str, Any]
    prewalk: bool


_plans: dict[tuple[int, int], _Plan] = {}


def decode(
    body: bytes, writer: WriterSchema, reader_schema: object, *, max_length: int = DEFAULT_MAX_LENGTH
) -> dict[str, object]:
    """Decode ``body`` written with ``writer`` as ``reader_schema``; raise BadRecord on any bad input.

    ``max_length`` is the largest plausible length prefix (the contract's max_record_bytes): a length above
    it is ``bogus_length``; a plausible length running past the end of the body is ``truncated_body``.
    """
    plan = _plan(writer.parsed, reader_schema)
    if plan.prewalk:
        _Walker(plan.named, body, max_length).check_whole(plan.writer)
    fo = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(fo, plan.writer, plan.reader)  # type: ignore[arg-type]
    except SchemaResolutionError as exc:
        raise BadRecord(Reason.incompatible_schema, f"writer schema {writer.schema_id}: {str(exc)[:300]}") from exc
    except Exception as exc:
        raise _classify(exc, plan, body, max_length) from exc
    if fo.tell() != len(body):
        raise BadRecord(Reason.trailing_bytes, f"{len(body) - fo.tell()} bytes left after the body")
    if not isinstance(record, dict):
        raise BadRecord(Reason.schema_mismatch, "the writer schema is not a record")
    return record


def check_indexes(body: bytes, writer: WriterSchema, *, max_length: int = DEFAULT_MAX_LENGTH) -> None:
    """Raise BadRecord(schema_mismatch) naming the field if an enum or union index of ``body`` is outside the
    writer schema, negative ones included: what :func:`decode` lets through, because fastavro (every version)
    reads a negative index by Python indexing, from the end of the symbols or branches.

    Meant for bodies :func:`decode` accepted. A flat record's indexes are checked by a quick scan; when the
    scan finds a bad index, or cannot vouch for the body (nested arrays or maps, a malformed body), the
    validating walker decides and names the problem.
    """
    check = _index_check(writer.parsed)
    if check.ops is not None and _scan_indexes(body, check.ops):
        return
    _Walker(check.named, body, max_length).check_whole(check.writer)


def plain_schema(schema: object) -> object:
    """``schema`` without logical types, parsed: the schema :func:`decode` reads with, and the one that
    writes its payloads (base values: uuid as ``str``, timestamp-millis as ``int``) back unchanged."""
    return fastavro.parse_schema(_strip_logical(schema))


def value_spans(body: bytes, schema: object, *, max_length: int = DEFAULT_MAX_LENGTH) -> list[Span]:
    """Positions of every value of a well-formed body (for diagnostics and the test corrupter)."""
    parsed = fastavro.parse_schema(_strip_logical(schema))
    walker = _Walker(_named(parsed), body, max_length, spans=[])
    walker.check_whole(parsed)
    assert walker.spans is not None
    return walker.spans


def _classify(exc: Exception, plan: _Plan, body: bytes, max_length: int) -> BadRecord:
    walker = _Walker(plan.named, body, max_length)
    try:
        walker.walk(plan.writer, "", 0)
    except BadRecord as found:
        return found
    except Exception:  # noqa: S110 - the walker is best effort; fall back to the exception type
        pass
    name = type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return BadRecord(Reason.invalid_utf8, "a string is not valid UTF-8")
    if isinstance(exc, EOFError):
        return BadRecord(Reason.truncated_body, "the body ends before the writer schema is complete")
    return BadRecord(Reason.schema_mismatch, f"the body does not match the writer schema ({name})")


# -- schema preparation (once per writer/reader pair) --------------------------------------------------


def _plan(writer: object, reader: object) -> _Plan:
    key = (id(writer), id(reader))
    plan = _plans.get(key)
    if plan is None:
        plain_writer = fastavro.parse_schema(_strip_logical(writer))
        plain_reader = fastavro.parse_schema(_strip_logical(reader))
        named = _named(plain_writer)
        plan = _Plan(
            writer_source=writer,
            reader_source=reader,
            writer=plain_writer,
            reader=None if plain_writer == plain_reader else plain_reader,
            named=named,
            prewalk=_dangerous(plain_writer, named),
        )
        if len(_plans) > 1024:
            _plans.clear()
        _plans[key] = plan
    return plan


def _strip_logical(schema: Any) -> Any:
    """A copy without logicalType annotations and fastavro's private keys. Reading base values is what the
    audit columns store, cannot fail on an out-of-range timestamp, and skips building UUID/datetime objects."""
    if isinstance(schema, list):
        return [_strip_logical(s) for s in schema]
    if isinstance(schema, dict):
        return {
            k: _strip_logical(v) if k in ("type", "items", "values", "fields") else v
            for k, v in schema.items()
            if k != "logicalType" and not k.startswith("__")
        }
    return schema


def _named(schema: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Full name -> definition for every named type (parsed schemas use full names in references)."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for s in schema:
            _named(s, out)
    elif isinstance(schema, dict):
        if schema.get("type") in _NAMED and "name" in schema:
            out[schema["name"]] = schema
        for key in ("type", "items", "values"):
            if isinstance(schema.get(key), dict | list):
                _named(schema[key], out)
        for field in schema.get("fields", ()):
            _named(field["type"], out)
    return out


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(schema, str):
        return named.get(schema, schema)
    if isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
        return schema["type"]
    if isinstance(schema, dict) and schema.get("type") in _PRIMITIVE_SIZES:
        return schema["type"]
    return schema


def _min_size(schema: Any, named: Mapping[str, Any], visiting: frozenset[str] = frozenset()) -> int:
    """Fewest bytes a value can take; recursion counts as 0 (conservative)."""
    schema = _resolve(schema, named)
    if isinstance(schema, str):
        return _PRIMITIVE_SIZES.get(schema, 0)
    if isinstance(schema, list):
        return 1
    kind = schema.get("type")
    if kind in ("record", "error"):
        if schema["name"] in visiting:
            return 0
        inner = visiting | {schema["name"]}
        return sum(_min_size(f["type"], named, inner) for f in schema["fields"])
    if kind == "fixed":
        return int(schema["size"])
    return 1  # enum index, array/map block count


def _dangerous(schema: Any, named: Mapping[str, Any]) -> bool:
    """True if the schema is recursive or has arrays of zero-size items: the walker must check such bodies
    before fastavro reads them. fastavro never allocates from a length prefix when reading from
    ``io.BytesIO`` (reads are capped by what remains), but an array of zero-size items (e.g. ``null``) with
    a count of 2**60 makes it append forever, and a deeply nested value of a recursive schema overflows the
    C stack (a segfault; about 1 KB of stack per level)."""
    stack: list[tuple[Any, frozenset[str]]] = [(schema, frozenset())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if node in path:
                return True
            if node in named:
                stack.append((named[node], path))
        elif isinstance(node, list):
            stack.extend((s, path) for s in node)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error"):
                inner = path | {node["name"]}
                stack.extend((f["type"], inner) for f in node["fields"])
            elif kind == "array":
                if _min_size(node["items"], named) == 0:
                    return True
                stack.append((node["items"], path))
            elif kind == "map":
                stack.append((node["values"], path))
            elif isinstance(kind, dict | list):
                stack.append((kind, path))
    return False


# -- the index scan (check_indexes) ----------------------------------------------------------------------

# Scan operations: what to do with the next value of a flat record.
_NOTHING, _SKIP, _VARINT, _LENGTH, _ENUM, _UNION = range(6)
_ScanOp = tuple[int, Any]  # (operation, argument): a size, a symbol count, or a union's branch operations
_ScanOps = tuple[_ScanOp, ...]


@dataclass(frozen=True, slots=True)
class _IndexCheck:
    writer_source: object  # keeps the id used as cache key alive
    writer: object  # logical types stripped, parsed
    named: Mapping[str, Any]
    ops: _ScanOps | None  # None: not a flat record, always walk


_index_checks: dict[int, _IndexCheck] = {}


def _index_check(writer: object) -> _IndexCheck:
    check = _index_checks.get(id(writer))
    if check is None:
        plain = fastavro.parse_schema(_strip_logical(writer))
        named = _named(plain)
        check = _IndexCheck(writer, plain, named, _scan_ops(plain, named))
        if len(_index_checks) > 1024:
            _index_checks.clear()
        _index_checks[id(writer)] = check
    return check


def _scan_ops(schema: Any, named: Mapping[str, Any]) -> _ScanOps | None:
    """One operation per field of a record of primitive, enum, fixed and union-of-those fields, up to the
    last field holding an index (the rest was read by fastavro and holds none); None for other schemas."""
    schema = _resolve(schema, named)
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        return None
    ops: list[_ScanOp] = []
    for field in schema["fields"]:
        op = _scan_op(field["type"], named, in_union=False)
        if op is None:
            return None
        ops.append(op)
    while ops and ops[-1][0] not in (_ENUM, _UNION):
        ops.pop()
    return tuple(ops)


_PRIMITIVE_OPS: dict[str, _ScanOp] = {
    "null": (_NOTHING, None),
    "int": (_VARINT, None),
    "long": (_VARINT, None),
    "string": (_LENGTH, None),
    "bytes": (_LENGTH, None),
    "boolean": (_SKIP, 1),
    "float": (_SKIP, 4),
    "double": (_SKIP, 8),
}


def _scan_op(schema: Any, named: Mapping[str, Any], *, in_union: bool) -> _ScanOp | None:
    schema = _resolve(schema, named)
    if isinstance(schema, str):
        return _PRIMITIVE_OPS.get(schema)
    if isinstance(schema, list):
        branches = [_scan_op(branch, named, in_union=True) for branch in schema]
        if in_union or any(b is None for b in branches):
            return None
        return (_UNION, tuple(branches))
    kind = schema.get("type")
    if kind == "enum":
        return (_ENUM, len(schema["symbols"]))
    if kind == "fixed":
        return (_SKIP, int(schema["size"]))
    return None  # nested records, arrays, maps: the walker's job


def _scan_indexes(body: bytes, ops: _ScanOps) -> bool:
    """True if every enum and union index of ``body`` is within range; False if one is not, or the body
    does not follow ``ops`` (the walker then decides)."""
    pos = 0
    try:
        for field_op, field_arg in ops:
            op, arg = field_op, field_arg
            while True:  # once, or twice for a union: its index, then the branch's value
                if op == _SKIP:
                    pos += arg
                elif op == _VARINT:
                    while body[pos] & 0x80:
                        pos += 1
                    pos += 1
                elif op != _NOTHING:  # a length or an index: read the varint
                    byte = body[pos]
                    pos += 1
                    raw, shift = byte & 0x7F, 7
                    while byte & 0x80:
                        byte = body[pos]
                        pos += 1
                        raw |= (byte & 0x7F) << shift
                        shift += 7
                    if op == _LENGTH:
                        if raw & 1:  # zigzag: a negative length
                            return False
                        pos += raw >> 1
                    elif raw & 1 or raw >> 1 >= (arg if op == _ENUM else len(arg)):  # negative or past the end
                        return False
                    elif op == _UNION:
                        op, arg = arg[raw >> 1]
                        continue
                break
    except IndexError:
        return False
    return pos <= len(body)


# -- the validating walker ------------------------------------------------------------------------------


class _Walker:
    """Reads a body against a (logical-free) writer schema and raises BadRecord at the first problem."""

    def __init__(self, named: Mapping[str, Any], body: bytes, max_length: int, spans: list[Span] | None = None):
        self.named = named
        self.buf = body
        self.pos = 0
        self.max_length = max_length
        self.zero_size_items = 0
        self.spans = spans

    def check_whole(self, schema: object) -> None:
        self.walk(schema, "", 0)
        if self.pos != len(self.buf):
            raise BadRecord(Reason.trailing_bytes, f"{len(self.buf) - self.pos} bytes left after the body")

    def _span(self, kind: str, path: str, start: int, data_start: int) -> None:
        if self.spans is not None:
            self.spans.append(Span(kind, path, start, data_start, self.pos))

    def _take(self, size: int, path: str, what: str) -> int:
        start = self.pos
        if size > len(self.buf) - start:
            raise BadRecord(Reason.truncated_body, f"the body ends inside {what}", path or None)
        self.pos += size
        return start

    def varint(self, path: str, what: str) -> int:
        result = shift = 0
        buf = self.buf
        while True:
            if self.pos >= len(buf):
                raise BadRecord(Reason.truncated_body, f"the body ends inside {what}", path or None)
            byte = buf[self.pos]
            self.pos += 1
            if shift < 64:
                result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)

    def length(self, path: str, what: str) -> int:
        size = self.varint(path, f"the length of {what}")
        if size < 0:
            raise BadRecord(Reason.bogus_length, f"negative length {size} for {what}", path or None)
        if size > len(self.buf) - self.pos:
            if size > self.max_length:
                raise BadRecord(
                    Reason.bogus_length,
                    f"length {size} of {what} exceeds the record size limit",
                    path or None,
                )
            raise BadRecord(Reason.truncated_body, f"the body ends inside {what}", path or None)
        return size

    def walk(self, schema: Any, path: str, depth: int) -> None:  # noqa: PLR0912 - one branch per Avro type
        schema = _resolve(schema, self.named)
        start = self.pos
        if isinstance(schema, str):
            if schema == "null":
                pass
            elif schema in ("int", "long"):
                self.varint(path, f"an {schema}")
            elif schema == "boolean":
                at = self._take(1, path, "a boolean")
                if self.buf[at] > 1:
                    raise BadRecord(Reason.schema_mismatch, "boolean byte is not 0 or 1", path or None)
            elif schema in ("float", "double"):
                self._take(_PRIMITIVE_SIZES[schema], path, f"a {schema}")
            elif schema in ("string", "bytes"):
                size = self.length(path, f"a {schema}")
                data_start = self.pos
                self.pos += size
                if schema == "string":
                    try:
                        self.buf[data_start : self.pos].decode("utf-8")
                    except UnicodeDecodeError:
                        raise BadRecord(Reason.invalid_utf8, "the string is not valid UTF-8", path or None) from None
                self._span(schema, path, start, data_start)
                return
            else:
                raise BadRecord(Reason.schema_mismatch, f"unknown type {schema!r} in writer schema", path or None)
            self._span(schema, path, start, self.pos)
            return
        if depth >= MAX_DEPTH:
            raise BadRecord(Reason.schema_mismatch, f"values nested deeper than {MAX_DEPTH} levels", path or None)
        if isinstance(schema, list):
            index = self.varint(path, "a union index")
            if not 0 <= index < len(schema):
                raise BadRecord(
                    Reason.schema_mismatch,
                    f"union index {index} out of range ({len(schema)} branches)",
                    path or None,
                )
            self._span("union", path, start, self.pos)
            self.walk(schema[index], path, depth + 1)
            return
        kind = schema.get("type")
        if kind in ("record", "error"):
            for field in schema["fields"]:
                self.walk(field["type"], f"{path}.{field['name']}" if path else field["name"], depth + 1)
        elif kind == "enum":
            index = self.varint(path, "an enum index")
            if not 0 <= index < len(schema["symbols"]):
                raise BadRecord(
                    Reason.schema_mismatch,
                    f"enum index {index} out of range ({len(schema['symbols'])} symbols)",
                    path or None,
                )
            self._span("enum", path, start, self.pos)
        elif kind == "fixed":
            self._take(int(schema["size"]), path, "a fixed")
            self._span("fixed", path, start, start)
        elif kind in ("array", "map"):
            self._blocks(schema, kind, path, depth)
        else:
            raise BadRecord(Reason.schema_mismatch, f"unknown type {kind!r} in writer schema", path or None)

    def _blocks(self, schema: Mapping[str, Any], kind: str, path: str, depth: int) -> None:
        item = schema["items"] if kind == "array" else schema["values"]
        item_size = _min_size(item, self.named) + (1 if kind == "map" else 0)
        item_path = f"{path}[]" if kind == "array" else f"{path}{{}}"
        while True:
            count = self.varint(path, f"an {kind} block count")
            if count == 0:
                return
            if count < 0:
                count = -count
                self.varint(path, f"an {kind} block size")
            if count > self.max_length:
                raise BadRecord(
                    Reason.bogus_length, f"{kind} count {count} exceeds the record size limit", path or None
                )
            if item_size == 0:
                self.zero_size_items += count
                if self.zero_size_items > self.max_length:
                    raise BadRecord(Reason.bogus_length, f"too many zero-size {kind} items", path or None)
            elif count * item_size > len(self.buf) - self.pos:
                raise BadRecord(Reason.truncated_body, f"the body ends inside an {kind}", path or None)
            for _ in range(count):
                if kind == "map":
                    self.walk("string", f"{item_path}key", depth + 1)
                self.walk(item, item_path, depth + 1)
