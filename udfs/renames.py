"""Field renames across a contract's schema versions, declared with Avro ``aliases``.

A field of the reader schema (the last version) that lists an earlier version's field name in its
``aliases`` renames that field: Avro schema resolution reads old writers' values into it, `contracts publish`
renames the audit table's column (same Iceberg field id, so history keeps its values under the new name)
and read-model columns named after it, and the contract's rules, PII table and read models name it by its
new name. A chain of renames lists every old name: ``"aliases": ["a", "b"]``.

Invariant: every field of every earlier version is a field of the reader schema or one of its aliases;
`contracts check` refuses a version that drops a field (:func:`dropped_fields`), because an audit table
never loses a column and a rename without an alias would read old writers' values as null.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from udfs.errors import ContractError


def field_renames(versions: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Old field name → reader field name, for the aliases that name a field of an earlier version."""
    reader = {f["name"]: f for f in versions[-1].get("fields", ())}
    earlier = {f["name"] for version in versions[:-1] for f in version.get("fields", ())}
    renames: dict[str, str] = {}
    for name, spec in reader.items():
        aliases = spec.get("aliases")
        for alias in aliases if isinstance(aliases, list) else ():
            if isinstance(alias, str) and alias in earlier and alias not in reader:
                renames[alias] = name
    return renames


def pending_renames(columns: Collection[str], renames: Mapping[str, str]) -> dict[str, str]:
    """The renames (old → new field name) still to apply to a table or schema with ``columns``: it has the old
    name and not yet the new one."""
    return {old: new for old, new in renames.items() if old in columns and new not in columns}


@dataclass(frozen=True, slots=True)
class DroppedField:
    """A field of version ``version`` (1-based) that the reader schema neither has nor aliases."""

    name: str
    version: int
    candidate: str | None  # a reader field of the same type that is new since then: perhaps the rename

    def __str__(self) -> str:
        if self.candidate is not None:
            return (
                f"field {self.name!r} of v{self.version} is not in the last version; if {self.candidate!r} "
                f'renames it, add "aliases": [{json.dumps(self.name)}] to {self.candidate!r}'
            )
        return (
            f"field {self.name!r} of v{self.version} is not in the last version; audit tables never lose a "
            'column: keep it (["null", ...] with "default": null), or alias it from the field that renames it'
        )


def dropped_fields(versions: Sequence[Mapping[str, Any]]) -> list[DroppedField]:
    """Every earlier field the reader schema drops, at the last version that has it."""
    reader = {f["name"]: f for f in versions[-1].get("fields", ())}
    aliased = {a for spec in reader.values() for a in spec.get("aliases", ()) if isinstance(a, str)}
    last_seen: dict[str, tuple[int, Any]] = {}
    for number, version in enumerate(versions[:-1], 1):
        for spec in version.get("fields", ()):
            last_seen[spec["name"]] = (number, spec.get("type"))
    dropped: list[DroppedField] = []
    for name, (number, avro_type) in last_seen.items():
        if name in reader or name in aliased:
            continue
        newer = {f["name"] for v in versions[:number] for f in v.get("fields", ())}
        candidates = [n for n, spec in reader.items() if n not in newer and spec.get("type") == avro_type]
        dropped.append(DroppedField(name, number, candidates[0] if len(candidates) == 1 else None))
    return dropped


def with_rename_hint(error: ContractError, renames: Mapping[str, str]) -> ContractError:
    """``error`` with a fix naming the new name when it is about a field the reader schema renamed."""
    if "reader schema" not in error.problem:
        return error
    for old, new in renames.items():
        if f"'{old}'" in error.problem:
            fix = f"'{old}' is renamed '{new}' in the last schema version (its aliases): name '{new}' here"
            return ContractError(error.path, error.field, error.problem, fix)
    return error
