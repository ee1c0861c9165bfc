"""`lakegate contracts publish` and `check` against the real registry (Apicurio) and a real Iceberg catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lakegate.catalog import audit_table_name, open_catalog
from lakegate.contracts_check import run_check, run_publish
from lakegate.settings import Settings
from udfs.contract import load_contracts

pytestmark = pytest.mark.job


def _write_breaking_version(tickets: Path) -> None:
    """A contract listing only a new version that changes a field's type: fine on its own, so only the
    registry (holding v1 to v3 under BACKWARD) and the audit table can catch it."""
    latest = json.loads((tickets / "ticket_event.v3.avsc").read_text())
    for field in latest["fields"]:
        if field["name"] == "reply_count":
            field["type"], field["default"] = "string", "0"
    (tickets / "ticket_event.v4.avsc").write_text(json.dumps(latest))
    contract = tickets / "contract.toml"
    head = contract.read_text().partition("\n[")[0]
    lines = ['schemas = ["ticket_event.v4.avsc"]' if line.startswith("schemas") else line for line in head.splitlines()]
    contract.write_text("\n".join(lines) + "\n")  # rules dropped: they may name fields v4 changes


def test_publish_registers_sets_compatibility_and_check_gates_a_breaking_change(
    lakegate_stack: Settings, tmp_path: Path
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(lakegate_stack.paths.schemas_dir, schemas)
    settings = lakegate_stack.replace(schemas_dir=schemas, audit_namespace="published")
    out: list[str] = []
    assert run_publish(settings, out=out.append) == 0, "\n".join(out)
    catalog = open_catalog(settings)
    for contract in load_contracts(schemas):
        assert any(contract.subject in line and "compatibility" in line for line in out)
        catalog.load_table(audit_table_name(settings, contract))  # created by publish
    assert run_check(settings, out=out.append) == 0
    assert run_publish(settings, out=out.append) == 0, "publishing the same contracts again is a no-op"

    _write_breaking_version(schemas / "tickets")
    report: list[str] = []
    assert run_check(settings, out=report.append) == 1
    text = "\n".join(report)
    assert "NOT compatible" in text and load_contracts(schemas).by_name("tickets").subject in text
    assert "reply_count" in text, "the audit-table check should name the column whose type changed"
    refused: list[str] = []
    assert run_publish(settings, out=refused.append) == 1
    assert any("nothing registered" in line for line in refused)
