"""``lakegate contracts check`` and ``publish``: the CI gate in front of the registry and the audit tables.

``schemas/`` is the source of truth, so a contract change must be proven safe before anything downstream
sees it: every contract loads; its schema versions are compatible under its ``compatibility`` mode; the
registry would accept its newest schema; and its audit table can evolve into the new columns. The checks
are pure functions over a loaded contract plus two narrow ports (a registry compatibility probe and an
audit-table lookup), so they are tested without services; :func:`run_check` and :func:`run_publish` are the
thin I/O around them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, ResolveError
from pyiceberg.schema import promote
from pyiceberg.table import Table
from pyiceberg.table.update.schema import UpdateSchema

from lakegate import readmodels
from lakegate.catalog import audit_table_name, ensure_audit_table, follow_renames, iceberg_schema, open_catalog
from lakegate.settings import Settings
from udfs.audit import audit_columns
from udfs.compat import check_versions
from udfs.contract import CONTRACT_FILE, Contract, load_contract
from udfs.errors import ContractError, RegistryRejected, RegistryUnavailable
from udfs.readmodels import ReadModel
from udfs.renames import dropped_fields, pending_renames

OK, FAIL, SKIP = "✓", "✗", "-"


class CompatibilityProbe(Protocol):
    def is_compatible(self, subject: str, schema_text: str) -> bool | None:
        """True/False from the registry; None when nothing is registered under the subject yet."""
        ...


AuditTableLookup = Callable[[Contract], "Table | None"]  # the contract's audit table, None if not created yet


@dataclass(frozen=True, slots=True)
class Line:
    mark: str  # OK, FAIL or SKIP
    text: str


@dataclass(slots=True)
class ContractReport:
    name: str
    source: Path
    lines: list[Line] = field(default_factory=list)
    contract: Contract | None = None  # None when it did not load

    @property
    def ok(self) -> bool:
        return all(line.mark != FAIL for line in self.lines)

    def add(self, mark: str, text: str) -> None:
        self.lines.append(Line(mark, text))


@dataclass(slots=True)
class Report:
    root: Path
    contracts: list[ContractReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.contracts) and all(c.ok for c in self.contracts)

    def render(self) -> str:
        out = [f"contracts in {self.root}"]
        if not self.contracts:
            out.append(f"  {FAIL} no {CONTRACT_FILE} found in any folder under {self.root}")
        for report in self.contracts:
            out.append(f"{report.name}  ({report.source})")
            out.extend(f"  {line.mark} {line.text}" for line in report.lines)
        failed = [c.name for c in self.contracts if not c.ok]
        if self.ok:
            out.append(f"RESULT: OK ({len(self.contracts)} contracts)")
        else:
            out.append(f"RESULT: FAILED ({', '.join(failed) or 'no contracts'})")
        return "\n".join(out)


def check_contracts(
    root: Path, *, registry: CompatibilityProbe | None = None, audit_table: AuditTableLookup | None = None
) -> Report:
    """Run every check on every ``<root>/*/contract.toml``; ``None`` ports skip that check."""
    report = Report(Path(root))
    seen: dict[tuple[str, str], str] = {}
    registry_down: str | None = None
    for file in sorted(Path(root).glob(f"*/{CONTRACT_FILE}")):
        entry = ContractReport(file.parent.name, file)
        report.contracts.append(entry)
        try:
            contract = load_contract(file.parent)
        except ContractError as exc:
            entry.add(FAIL, f"does not load: {exc}")
            continue
        entry.name, entry.contract = contract.name, contract
        entry.add(
            OK,
            f"loads: {len(contract.schema_texts)} versions, {len(contract.rules)} rules, "
            f"{len(contract.pii)} PII fields, compatibility {contract.compatibility}",
        )
        for key, value in (("name", contract.name), ("topic", contract.topic)):
            other = seen.setdefault((key, value), file.parent.name)
            if other != file.parent.name:
                entry.add(FAIL, f"{key} {value!r} is also used by {other}; give each contract its own {key}")
        _check_versions(contract, entry)
        if registry is None:
            entry.add(SKIP, "registry: skipped (offline)")
        elif registry_down is not None:
            entry.add(SKIP, f"registry: skipped, not reachable ({registry_down})")
        else:
            registry_down = _check_registry(contract, registry, entry)
        if audit_table is None:
            entry.add(SKIP, "audit table: skipped (no Iceberg catalog)")
        else:
            _check_audit_table(contract, audit_table(contract), entry)
    return report


def _check_versions(contract: Contract, entry: ContractReport) -> None:
    versions = [json.loads(t) for t in contract.schema_texts]
    for dropped in dropped_fields(versions):
        entry.add(FAIL, f"renames: {dropped}")
    for old, new in contract.renames.items():
        entry.add(OK, f"renames: {old} → {new} (aliases): old writers' values read as {new}")
    problems = check_versions(versions, contract.compatibility)
    if not problems:
        entry.add(OK, f"schema versions compatible under {contract.compatibility}")
        return
    for problem in problems:
        entry.add(FAIL, f"{contract.compatibility}: {problem}")
    entry.add(
        SKIP,
        "fix: give added fields a default, keep removed fields' defaults, only widen types "
        "(int→long→float→double); or add a new contract and topic for a breaking change",
    )


def _check_registry(contract: Contract, registry: CompatibilityProbe, entry: ContractReport) -> str | None:
    """Returns a reason when the registry is unreachable (later contracts then skip it)."""
    name = contract.subject
    try:
        answer = registry.is_compatible(name, contract.schema_texts[-1])
    except RegistryUnavailable as exc:
        entry.add(SKIP, f"registry: skipped, not reachable ({exc})")
        return str(exc)
    except RegistryRejected as exc:
        entry.add(FAIL, f"registry: {name} rejected the newest schema: {exc.message or exc}")
        return None
    if answer is None:
        entry.add(OK, f"registry: nothing registered under {name} yet")
    elif answer:
        entry.add(OK, f"registry: newest version is compatible with {name}")
    else:
        entry.add(
            FAIL,
            f"registry: newest version is NOT compatible with what is registered under {name} "
            "(under the subject's compatibility level); fix the schema or check the subject's config",
        )
    return None


def _check_audit_table(contract: Contract, table: Table | None, entry: ContractReport) -> None:
    if table is None:
        entry.add(OK, "audit table: does not exist yet (created on the first run)")
        return
    evolution = audit_table_problems(table, contract)
    if evolution.problems:
        for problem in evolution.problems:
            entry.add(FAIL, f"audit table: {problem}")
        return
    changes = [f"renames column {old} → {new}" for old, new in evolution.renamed.items()]
    if evolution.added:
        changes.append(f"adds optional column(s) {', '.join(evolution.added)}")
    entry.add(OK, f"audit table: can evolve, {'; '.join(changes)}" if changes else "audit table: matches the contract")


@dataclass(frozen=True, slots=True)
class Evolution:
    """What evolving an audit table to a contract's columns takes: problems that forbid it, else the columns
    renamed (old → new, through the reader schema's aliases) and added."""

    problems: list[str]
    added: list[str]
    renamed: dict[str, str]


def audit_table_problems(table: Table, contract: Contract) -> Evolution:
    """How ``table`` evolves to the contract's audit columns, and what forbids it.

    Renaming a column (a field renamed through ``aliases``) and adding optional columns are the changes
    allowed: dropping a column loses history for readers, making a column required or narrowing its type
    breaks existing rows. pyiceberg's own schema update (renames, then ``union_by_name``, not committed)
    then confirms the evolution is legal.
    """
    target = iceberg_schema(audit_columns(contract))
    renamed = pending_renames({f.name for f in table.schema().fields}, contract.renames)
    current = {renamed.get(f.name, f.name): f for f in table.schema().fields}
    wanted = {f.name: f for f in target.fields}
    problems: list[str] = []
    for name in current.keys() - wanted.keys():
        problems.append(
            f"column {name!r} would be dropped; put the field back (nullable, default null) or, if a field "
            f'renames it, add "aliases": [{json.dumps(name)}] to that field; Iceberg audit tables never lose columns'
        )
    added: list[str] = []
    for name, new in wanted.items():
        old = current.get(name)
        if old is None:
            added.append(name)
            if new.required:
                problems.append(
                    f"new column {name!r} is required, but existing rows have no value for it; "
                    f'declare it ["null", ...] with "default": null'
                )
            continue
        if old.field_type != new.field_type:
            try:
                promote(old.field_type, new.field_type)
            except ResolveError:
                problems.append(
                    f"column {name!r} changes type from {old.field_type} to {new.field_type}, "
                    "which Iceberg cannot promote; keep the type or add a new field"
                )
        if new.required and not old.required:
            problems.append(
                f"column {name!r} is optional in the table but required in the contract; "
                "existing rows may hold nulls, so keep the field nullable"
            )
    if not problems:
        try:
            renaming = table.update_schema()
            for old_name, new_name in renamed.items():
                renaming.rename_column(old_name, new_name)
            renamed_schema = renaming._apply()  # _apply validates without committing
            UpdateSchema(table.transaction(), schema=renamed_schema).union_by_name(target)._apply()
        except Exception as exc:  # pyiceberg's ValidationError, ValueError, ...
            problems.append(f"Iceberg rejects the evolution: {exc}")
    return Evolution(sorted(problems), [n for n in wanted if n in added], renamed)


# -- thin I/O -----------------------------------------------------------------------------------------


def run_check(settings: Settings, *, offline: bool = False, out: Callable[[str], None] = print) -> int:
    """Print the report; 0 when everything passed, 1 otherwise (for CI)."""
    report = check_contracts(
        settings.paths.schemas_dir, registry=_registry(settings, offline), audit_table=_audit_tables(settings)
    )
    out(report.render())
    unreachable = any(line.text.startswith("registry: skipped") for c in report.contracts for line in c.lines)
    if unreachable and not offline:
        # A CI gate that passes because it could not ask is no gate: say so and fail.
        out("check: the registry is not reachable; fix registry_url, or run with --offline to skip it")
        return 1
    return 0 if report.ok else 1


def run_publish(settings: Settings, *, out: Callable[[str], None] = print) -> int:
    """Check (registry required), then register every version, oldest first (idempotent in the registry),
    set each subject's compatibility level to the contract's, and create or evolve the audit tables (columns
    added, or renamed with the fields renamed through aliases, the read-model columns too; never dropped), so
    the tables have a new version's columns before any job or producer uses it."""
    registry = settings.replace(registry_retries=2).registry_client()
    report = check_contracts(settings.paths.schemas_dir, registry=registry, audit_table=_audit_tables(settings))
    out(report.render())
    unreachable = any(line.text.startswith("registry: skipped") for c in report.contracts for line in c.lines)
    if not report.ok or unreachable:
        out("publish: nothing registered" + ("; the registry is not reachable" if unreachable else ""))
        return 1
    for entry in report.contracts:
        assert entry.contract is not None  # every contract loaded, or the report would have failed
        ids = [registry.register(entry.contract.subject, text) for text in entry.contract.schema_texts]
        registry.set_compatibility(entry.contract.subject, str(entry.contract.compatibility))
        versions = ", ".join(f"v{i} → id {schema_id}" for i, schema_id in enumerate(ids, 1))
        out(
            f"published {entry.contract.name} to {entry.contract.subject} "
            f"(compatibility {entry.contract.compatibility}): {versions}"
        )
    iceberg = open_catalog(settings)
    for entry in report.contracts:
        assert entry.contract is not None
        ensure_audit_table(iceberg, settings, entry.contract)
        out(f"audit table {settings.catalog.name}.{audit_table_name(settings, entry.contract)}: ready")
        for model in entry.contract.read_models if entry.contract.renames else ():
            _rename_model_columns(iceberg, settings, model, entry.contract, out)
    return 0


def _rename_model_columns(
    iceberg: Catalog, settings: Settings, model: ReadModel, contract: Contract, out: Callable[[str], None]
) -> None:
    """A read model's table follows its contract's renames (the job would on start; publish does it first)."""
    name = readmodels.table_name(settings, model)
    try:
        table = iceberg.load_table(name)
    except NoSuchTableError:
        return
    _, renamed = follow_renames(iceberg, table, contract.renames)
    if renamed:
        out(f"read-model table {settings.catalog.name}.{name}: renamed {', '.join(sorted(renamed))}")


def _registry(settings: Settings, offline: bool) -> CompatibilityProbe | None:
    if offline:
        return None
    return settings.replace(registry_retries=1, registry_timeout_s=3).registry_client()


def _audit_tables(settings: Settings) -> AuditTableLookup | None:
    """Look tables up only in an existing catalog: a check must not create one as a side effect (a PostgreSQL
    catalog's database exists by the time lakegate is pointed at it; pyiceberg adds its two empty tables)."""
    if settings.catalog.kind == "sqlite" and not settings.paths.catalog_db_path.exists():
        return None
    catalog = open_catalog(settings)

    def lookup(contract: Contract) -> Table | None:
        try:
            return catalog.load_table(audit_table_name(settings, contract))
        except NoSuchTableError:
            return None

    return lookup
