"""``lakegate contracts diff``: what a change to ``schemas/`` does, in words a reviewer reads in a pull request.

:func:`diff` compares two loaded sets of contracts (the working tree's and a git revision's, :func:`at_revision`)
and lists every change: contracts, schema versions, fields (added, renamed through ``aliases``, removed, retyped),
rules, PII, the audit table's columns, read models, the compatibility verdict. A change is *breaking* when
records already written, or consumers already running, could no longer be read or routed as before: a removed
contract, version or key field, an incompatible version under the contract's mode, an audit column whose type
cannot evolve. :func:`render` writes it for people, :func:`as_json` for machines.

Invariant: :func:`diff` is pure; only :func:`at_revision` touches git, and it never changes the checkout.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from lakegate.errors import LakegateError
from udfs.audit import audit_columns
from udfs.columns import Column, ColumnKind
from udfs.compat import check_versions
from udfs.contract import CONTRACT_FILE, Contract, Contracts, load_contracts
from udfs.renames import pending_renames
from udfs.rules import Rule

# Audit column types Iceberg widens in place (int → long, float → double); any other change cannot evolve.
_WIDENINGS = {(ColumnKind.int, ColumnKind.long), (ColumnKind.float, ColumnKind.double)}
_SETTINGS = ("max_record_bytes", "max_event_time_skew_ms", "dedupe_window_s", "compatibility")
_IDENTITY = ("topic", "key_field", "event_id_field", "event_time_field")


class DiffError(LakegateError):
    """The revision to compare against cannot be read (not a git checkout, an unknown revision)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one contract: what it touches (``kind``), which (``subject``), how, and whether it breaks."""

    contract: str
    kind: str  # contract, version, field, rule, pii, audit column, read model, setting, compatibility
    subject: str
    detail: str
    breaking: bool = False


def diff(before: Contracts, after: Contracts) -> list[Change]:
    """Every change from ``before`` to ``after``, contract by contract (sorted by name)."""
    old = {c.name: c for c in before}
    new = {c.name: c for c in after}
    changes: list[Change] = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            changes.append(Change(name, "contract", name, f"added: topic {new[name].topic}"))
        elif name not in new:
            detail = f"removed: records on {old[name].topic} will be quarantined as no_contract"
            changes.append(Change(name, "contract", name, detail, breaking=True))
        else:
            changes += _contract_changes(old[name], new[name])
    for name in sorted(new):  # the verdict of every contract after the change, changed or not
        changes += _verdict(new[name], changed=name not in old or any(c.contract == name for c in changes))
    return sorted(changes, key=lambda c: c.contract)  # stable: each contract's changes in the order found


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.breaking]


def _contract_changes(old: Contract, new: Contract) -> Iterator[Change]:
    name = new.name
    for key in _IDENTITY:
        if getattr(old, key) != getattr(new, key):
            detail = f"{getattr(old, key)} → {getattr(new, key)}: records already written follow the old one"
            yield Change(name, "setting", key, detail, breaking=True)
    for key in _SETTINGS:
        if getattr(old, key) != getattr(new, key):
            yield Change(name, "setting", key, f"{getattr(old, key)} → {getattr(new, key)}")
    yield from _version_changes(old, new)
    yield from _field_changes(old, new)
    yield from _rule_changes(old, new)
    for field in sorted(old.pii.keys() | new.pii.keys()):
        was, now = old.pii.get(field, "none"), new.pii.get(field, "none")
        if was != now:
            yield Change(name, "pii", field, f"{was} → {now}: read models show new values from now on")
    yield from _audit_changes(old, new)
    yield from _model_changes(old, new)


def _version_files(contract: Contract) -> list[str]:
    files = tomllib.loads((contract.directory / CONTRACT_FILE).read_text()).get("schemas", [])
    return [str(f) for f in files]


def _version_changes(old: Contract, new: Contract) -> Iterator[Change]:
    old_files, new_files = _version_files(old), _version_files(new)
    for index, text in enumerate(old.canonical_forms):
        label = old_files[index] if index < len(old_files) else f"v{index + 1}"
        if index >= len(new.canonical_forms):
            yield Change(new.name, "version", label, "removed: records written with it may not resolve", True)
        elif new.canonical_forms[index] != text:
            yield Change(new.name, "version", label, "changed in place: registered ids keep the old one", True)
    for index in range(len(old.canonical_forms), len(new.canonical_forms)):
        label = new_files[index] if index < len(new_files) else f"v{index + 1}"
        yield Change(new.name, "version", label, f"added as v{index + 1} (the reader schema now)")


def _fields(contract: Contract) -> dict[str, dict[str, object]]:
    return {str(f["name"]): f for f in contract.reader_schema_json["fields"]}


def _renamed(old: Contract, new: Contract) -> dict[str, str]:
    """Old name → new name of the old reader's fields that the new reader renames (its aliases)."""
    return pending_renames(_fields(old), new.renames)


def _field_changes(old: Contract, new: Contract) -> Iterator[Change]:
    before, after = _fields(old), _fields(new)
    renamed = _renamed(old, new)
    for field_name in before:
        if field_name in renamed:
            detail = f"renamed {field_name} → {renamed[field_name]} (aliases)"
            yield Change(new.name, "field", field_name, detail)
        elif field_name not in after:
            yield Change(new.name, "field", field_name, "removed from the reader schema")
    for field_name, spec in after.items():
        if field_name in before and json.dumps(before[field_name]["type"]) != json.dumps(spec["type"]):
            detail = f"type {json.dumps(before[field_name]['type'])} → {json.dumps(spec['type'])}"
            yield Change(new.name, "field", field_name, detail)
        elif field_name not in before and field_name not in renamed.values():
            default = "with a default" if "default" in spec else "without a default"
            yield Change(new.name, "field", field_name, f"added, {default}")


def _rule_text(rule: Rule) -> str:
    if rule.expression is not None:
        return f"expr {rule.expression.source}"
    bounds = {
        "minimum": rule.minimum,
        "maximum": rule.maximum,
        "allowed": sorted(map(str, rule.allowed)) or None,
        "pattern": rule.pattern.pattern if rule.pattern is not None else None,
        "min_length": rule.min_length,
        "max_length": rule.max_length,
    }
    shown = ", ".join(f"{k} {v}" for k, v in bounds.items() if v is not None)
    return f"{rule.check} on {rule.field}" + (f" ({shown})" if shown else "")


def _rule_changes(old: Contract, new: Contract) -> Iterator[Change]:
    before = {r.name: _rule_text(r) for r in old.rules}
    after = {r.name: _rule_text(r) for r in new.rules}
    for rule in sorted(before.keys() | after.keys()):
        if rule not in before:
            yield Change(new.name, "rule", rule, f"added: {after[rule]} (records breaking it are quarantined)")
        elif rule not in after:
            yield Change(new.name, "rule", rule, f"removed: {before[rule]}")
        elif before[rule] != after[rule]:
            yield Change(new.name, "rule", rule, f"{before[rule]} → {after[rule]}")


def _columns(contract: Contract) -> dict[str, Column]:
    return {c.name: c for c in audit_columns(contract)}


def _audit_changes(old: Contract, new: Contract) -> Iterator[Change]:
    before, after = _columns(old), _columns(new)
    for old_name, new_name in _renamed(old, new).items():
        detail = f"renamed {old_name} → {new_name}: `contracts publish` renames it (same field id, history kept)"
        yield Change(new.name, "audit column", new_name, detail)
        before[new_name] = before.pop(old_name)
    for name, column in after.items():
        if name not in before:
            if column.nullable:
                yield Change(new.name, "audit column", name, f"added ({column.kind}, null in earlier rows)")
            else:
                detail = f"added as a required {column.kind}: earlier rows have no value"
                yield Change(new.name, "audit column", name, detail, breaking=True)
            continue
        was = before[name]
        if was.kind != column.kind and (was.kind, column.kind) not in _WIDENINGS:
            detail = f"{was.kind} → {column.kind}: the audit table cannot change the column's type"
            yield Change(new.name, "audit column", name, detail, breaking=True)
        elif was.kind != column.kind:
            yield Change(new.name, "audit column", name, f"widened {was.kind} → {column.kind}")
        if was.nullable and not column.nullable:
            detail = "optional → required: earlier rows hold nulls"
            yield Change(new.name, "audit column", name, detail, breaking=True)
    for name in sorted(before.keys() - after.keys()):
        detail = "removed: an existing audit table cannot drop it (`contracts check` refuses)"
        yield Change(new.name, "audit column", name, detail, breaking=True)


def _model_changes(old: Contract, new: Contract) -> Iterator[Change]:
    before = {m.name: m for m in old.read_models}
    after = {m.name: m for m in new.read_models}
    for model in sorted(before.keys() | after.keys()):
        if model not in before:
            detail = "added: a new table and changelog topic; `lakegate readmodels rebuild` fills in the history"
            yield Change(new.name, "read model", model, detail)
        elif model not in after:
            yield Change(new.name, "read model", model, "removed: its table and topic stay, nothing updates them")
        elif before[model] != after[model]:
            detail = "declaration changed: `lakegate readmodels rebuild` it, then start without a checkpoint"
            yield Change(new.name, "read model", model, detail)


def _verdict(contract: Contract, *, changed: bool) -> Iterator[Change]:
    versions = [json.loads(text) for text in contract.schema_texts]
    found = check_versions(versions, contract.compatibility)
    for problem in found:
        yield Change(contract.name, "compatibility", str(contract.compatibility), str(problem), breaking=True)
    if not found and changed:
        count = f"{len(versions)} version{'s' if len(versions) != 1 else ''}"
        detail = f"{count} compatible under {contract.compatibility}"
        yield Change(contract.name, "compatibility", str(contract.compatibility), detail)


def render(changes: list[Change], against: str) -> str:
    """For people: per contract its changes (``!`` marks a breaking one), then the verdict."""
    if not changes:
        return f"schemas/ is the same as at {against}: no contract changes."
    lines = [f"Contract changes against {against}:"]
    for contract in dict.fromkeys(c.contract for c in changes):
        lines.append(f"\n{contract}")
        for change in (c for c in changes if c.contract == contract):
            mark = "!" if change.breaking else "·"
            lines.append(f"  {mark} {change.kind} {change.subject}: {change.detail}")
    broken = breaking(changes)
    verdict = f"BREAKING: {len(broken)} change(s) marked !" if broken else "compatible: nothing marked !"
    return "\n".join([*lines, "", verdict])


def as_json(changes: list[Change], against: str) -> str:
    """For machines: the changes and the verdict."""
    return json.dumps(
        {"against": against, "breaking": bool(breaking(changes)), "changes": [asdict(c) for c in changes]}, indent=2
    )


def at_revision(schemas_dir: Path, revision: str, into: Path) -> Contracts:
    """The contracts of ``schemas_dir`` as git ``revision`` holds them, written under ``into`` and loaded."""
    folder = schemas_dir.resolve()
    root = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    relative = folder.relative_to(root).as_posix()
    if not _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False).strip():
        raise DiffError(f"{revision!r} is not a commit of {root}; pass --against a commit, branch or tag")
    for path in _git(root, "ls-tree", "-r", "--name-only", revision, "--", relative).splitlines():
        target = into / Path(path).relative_to(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git_bytes(root, "show", f"{revision}:{path}"))
    return load_contracts(into)


def _git_bytes(cwd: Path, *args: str, check: bool = True) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise DiffError("git is not installed: `contracts diff` reads the revision with git") from None
    if check and done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise DiffError(f"`git {args[0]}` failed in {cwd}: {problem}; run it inside the project's git checkout")
    return done.stdout


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    return _git_bytes(cwd, *args, check=check).decode()


def run_diff(schemas_dir: Path, against: str, *, machine: bool) -> int:
    """`lakegate contracts diff`: print the changes; 1 on a breaking change, else 0."""
    with tempfile.TemporaryDirectory(prefix="lakegate-diff-") as tmp:
        changes = diff(at_revision(schemas_dir, against, Path(tmp)), load_contracts(schemas_dir))
        print(as_json(changes, against) if machine else render(changes, against))
    return 1 if breaking(changes) else 0
