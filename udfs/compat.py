"""Avro schema compatibility, by Avro's schema resolution rules, on schema JSON (no registry needed).

``schemas/`` is the source of truth, so CI must be able to tell, before anything is registered or deployed,
whether a new schema version can read the old records (BACKWARD) and/or the old readers can read the new
records (FORWARD). The registry runs the same kind of check on registration; doing it here gives a readable
report per field and works offline. Logical types are ignored, as in Avro's own resolution rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
# writer type -> reader types that may read it (Avro spec, "Schema Resolution")
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class Compatibility(enum.StrEnum):
    """Confluent's compatibility modes; a contract's ``compatibility`` key takes one of these."""

    BACKWARD = "BACKWARD"  # the new version reads data written with the previous one
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"  # ... with every earlier one
    FORWARD = "FORWARD"  # the previous version reads data written with the new one
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"  # every earlier version reads the new one
    FULL = "FULL"  # BACKWARD and FORWARD
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a reader cannot read a writer. ``path`` is dotted from the root, e.g. ``Ticket.subject``."""

    path: str
    message: str
    reader_version: int | None = None  # 1-based, set by check_versions
    writer_version: int | None = None

    def __str__(self) -> str:
        versions = (
            f"v{self.reader_version} reading v{self.writer_version}: "
            if self.reader_version is not None and self.writer_version is not None
            else ""
        )
        return f"{versions}{self.path}: {self.message}"


def check_versions(versions: Sequence[Any], mode: Compatibility | str) -> list[Incompatibility]:
    """Check schema versions (parsed JSON, oldest first) pairwise under ``mode``; empty list = compatible.

    Every version is checked against its predecessor (or, for *_TRANSITIVE, against all earlier ones), so
    the whole history is verified, not only the newest step.
    """
    mode = Compatibility(mode)
    if mode is Compatibility.NONE:
        return []
    backward = mode.value.startswith(("BACKWARD", "FULL"))
    forward = mode.value.startswith(("FORWARD", "FULL"))
    transitive = mode.value.endswith("_TRANSITIVE")
    found: list[Incompatibility] = []
    for new in range(1, len(versions)):
        for old in range(new - 1, -1, -1) if transitive else (new - 1,):
            pairs = ([(new, old)] if backward else []) + ([(old, new)] if forward else [])
            for reader, writer in pairs:
                found.extend(
                    Incompatibility(i.path, i.message, reader + 1, writer + 1)
                    for i in can_read(versions[reader], versions[writer])
                )
    return found


def can_read(reader: Any, writer: Any) -> list[Incompatibility]:
    """Why ``reader`` cannot read data written with ``writer`` (parsed schema JSON); empty list = it can."""
    checker = _Checker(_names(reader), _names(writer))
    checker.check(reader, writer, _label(reader), "", "")
    return checker.found


def _names(schema: Any) -> dict[str, Mapping[str, Any]]:
    """Every named type in the schema by full name (and short name, for lenient lookups)."""
    found: dict[str, Mapping[str, Any]] = {}

    def walk(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
        elif isinstance(node, Mapping):
            kind = node.get("type")
            if kind in _NAMED:
                full = _fullname(node, namespace)
                found[full] = node
                found.setdefault(full.rsplit(".", 1)[-1], node)
                namespace = full.rpartition(".")[0]
            for field in node.get("fields", ()) if kind in ("record", "error") else ():
                walk(field.get("type"), namespace)
            if kind == "array":
                walk(node.get("items"), namespace)
            elif kind == "map":
                walk(node.get("values"), namespace)
            elif isinstance(kind, Mapping | list):
                walk(kind, namespace)

    walk(schema, "")
    return found


def _fullname(node: Mapping[str, Any], namespace: str) -> str:
    name = str(node.get("name", ""))
    if "." in name:
        return name
    space = node.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _label(schema: Any) -> str:
    if isinstance(schema, Mapping) and schema.get("type") in _NAMED:
        return _short(str(schema.get("name", "")))
    return "<root>"


class _Checker:
    def __init__(self, reader_names: dict[str, Mapping[str, Any]], writer_names: dict[str, Mapping[str, Any]]):
        self.reader_names = reader_names
        self.writer_names = writer_names
        self.found: list[Incompatibility] = []
        self._seen: set[tuple[int, int]] = set()  # (reader node, writer node) pairs, for recursive types

    def fail(self, path: str, message: str) -> None:
        self.found.append(Incompatibility(path, message))

    def resolve(self, schema: Any, names: dict[str, Mapping[str, Any]], namespace: str) -> Any:
        """Inline a reference to a named type; unwrap ``{"type": "int"}`` into ``"int"``."""
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            return names.get(full) or names.get(schema) or names.get(_short(schema)) or schema
        if isinstance(schema, Mapping) and isinstance(schema.get("type"), str | list | Mapping):
            kind = schema["type"]
            if kind not in _NAMED and kind not in ("array", "map"):
                return self.resolve(kind, names, namespace)
        return schema

    def check(self, reader: Any, writer: Any, path: str, r_ns: str, w_ns: str) -> None:
        reader = self.resolve(reader, self.reader_names, r_ns)
        writer = self.resolve(writer, self.writer_names, w_ns)
        if isinstance(writer, list):  # every branch the writer may have written must be readable
            for branch in writer:
                label = _type_name(self.resolve(branch, self.writer_names, w_ns))
                self.check(reader, branch, f"{path}[{label}]", r_ns, w_ns)
        elif isinstance(reader, list):  # the first reader branch that matches is used
            for branch in reader:
                if _matches(self.resolve(branch, self.reader_names, r_ns), writer):
                    self.check(branch, writer, path, r_ns, w_ns)
                    return
            branches = [_type_name(self.resolve(b, self.reader_names, r_ns)) for b in reader]
            self.fail(path, f"the reader's union {branches} has no branch for the writer's {_type_name(writer)}")
        else:
            self.check_same_kind(reader, writer, path, r_ns, w_ns)

    def check_same_kind(self, reader: Any, writer: Any, path: str, r_ns: str, w_ns: str) -> None:
        r_kind, w_kind = _type_name_kind(reader), _type_name_kind(writer)
        if r_kind != w_kind:
            if r_kind not in _PROMOTIONS.get(w_kind, frozenset()):
                self.fail(
                    path, f"type changed from {_type_name(writer)} to {_type_name(reader)}, not a legal promotion"
                )
            return
        if r_kind in _PRIMITIVES or (id(reader), id(writer)) in self._seen:
            return
        self._seen.add((id(reader), id(writer)))
        if r_kind in _NAMED:
            r_name, w_name = _short(str(reader.get("name"))), _short(str(writer.get("name")))
            if r_name != w_name and w_name not in {_short(str(a)) for a in reader.get("aliases", ())}:
                self.fail(path, f"{r_kind} name changed from {writer.get('name')!r} to {reader.get('name')!r}")
                return
            r_ns = _fullname(reader, r_ns).rpartition(".")[0]
            w_ns = _fullname(writer, w_ns).rpartition(".")[0]
        if r_kind == "array":
            self.check(reader.get("items"), writer.get("items"), f"{path}.items", r_ns, w_ns)
        elif r_kind == "map":
            self.check(reader.get("values"), writer.get("values"), f"{path}.values", r_ns, w_ns)
        elif r_kind == "fixed" and reader.get("size") != writer.get("size"):
            self.fail(path, f"fixed size changed from {writer.get('size')} to {reader.get('size')}")
        elif r_kind == "enum":
            self.check_enum(reader, writer, path)
        elif r_kind == "record":
            self.check_record(reader, writer, path, r_ns, w_ns)

    def check_enum(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> None:
        removed = [s for s in writer.get("symbols", ()) if s not in set(reader.get("symbols", ()))]
        if removed and "default" not in reader:
            self.fail(
                path,
                f"enum symbols {removed} were removed and the reader enum has no default; "
                'keep them or add an enum "default"',
            )

    def check_record(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str, r_ns: str, w_ns: str
    ) -> None:
        writer_fields = {f["name"]: f for f in writer.get("fields", ())}
        for field in reader.get("fields", ()):
            name = field["name"]
            source = writer_fields.get(name) or next(
                (writer_fields[a] for a in field.get("aliases", ()) if a in writer_fields), None
            )
            if source is None:
                if "default" not in field:
                    self.fail(
                        f"{path}.{name}",
                        'field is missing in the writer and has no default in the reader; add a "default"',
                    )
                continue
            self.check(field["type"], source["type"], f"{path}.{name}", r_ns, w_ns)


def _type_name_kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, Mapping):
        kind = schema.get("type")
        return "record" if kind == "error" else str(kind)
    return "union"


def _type_name(schema: Any) -> str:
    kind = _type_name_kind(schema)
    if kind in _NAMED and isinstance(schema, Mapping):
        return f"{kind} {_short(str(schema.get('name')))}"
    if kind == "array" and isinstance(schema, Mapping):
        return f"array<{_type_name(schema.get('items'))}>"
    if kind == "map" and isinstance(schema, Mapping):
        return f"map<{_type_name(schema.get('values'))}>"
    return kind


def _matches(reader: Any, writer: Any) -> bool:
    """Avro's 'match' for picking a reader union branch: same type (and name), or a legal promotion."""
    r_kind, w_kind = _type_name_kind(reader), _type_name_kind(writer)
    if r_kind in _NAMED and r_kind == w_kind:
        return _short(str(reader.get("name"))) == _short(str(writer.get("name")))
    return r_kind == w_kind or r_kind in _PROMOTIONS.get(w_kind, frozenset())
