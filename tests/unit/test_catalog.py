"""Audit and quarantine tables in a real pyiceberg SQL catalog (SQLite file, local warehouse; no JVM)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from lakegate.catalog import ensure_audit_table, ensure_quarantine_table, open_catalog
from lakegate.settings import Settings
from udfs.audit import audit_columns
from udfs.contract import load_contract
from udfs.quarantine import QUARANTINE_COLUMNS

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home")


def _tickets_with_versions(tmp_path: Path, count: int) -> Path:
    """A copy of the tickets contract listing only its first ``count`` schema versions."""
    folder = tmp_path / f"tickets-{count}"
    shutil.copytree(SCHEMAS / "tickets", folder)
    contract = folder / "contract.toml"
    versions = tomllib.loads(contract.read_text())["schemas"][:count]
    # Rules and PII may name fields of later versions: keep only the top-level keys.
    head = contract.read_text().split("\n[", 1)[0]
    lines = [
        f"schemas = {versions!r}".replace("'", '"') if line.startswith("schemas") else line
        for line in head.splitlines()
    ]
    contract.write_text("\n".join(lines) + "\n")
    return folder


def test_audit_table_matches_the_contract_columns(settings: Settings) -> None:
    contract = load_contract(SCHEMAS / "users")
    table = ensure_audit_table(open_catalog(settings), settings, contract)
    columns = audit_columns(contract)
    assert [f.name for f in table.schema().fields] == [c.name for c in columns]
    assert [not f.required for f in table.schema().fields] == [c.nullable for c in columns]
    assert ensure_audit_table(open_catalog(settings), settings, contract).metadata_location == table.metadata_location


def test_a_new_contract_version_adds_its_column_at_the_end(settings: Settings, tmp_path: Path) -> None:
    # Rows are not written here: pyiceberg's writer needs pyarrow >= 18, which PyFlink's Beam pins below
    # 17, so all data writes go through Flink. tests/job/test_evolution.py checks old rows read null.
    v2 = load_contract(SCHEMAS / "tickets")
    if len(v2.schema_texts) < 2:
        pytest.fail("the tickets contract should list two schema versions")
    v1 = load_contract(_tickets_with_versions(tmp_path, 1))
    catalog = open_catalog(settings)
    table = ensure_audit_table(catalog, settings, v1)
    old = [f.name for f in table.schema().fields]

    evolved = ensure_audit_table(catalog, settings, v2)
    names = [f.name for f in evolved.schema().fields]
    added = names[len(old) :]
    assert names[: len(old)] == old, "existing columns keep their ids and order"
    assert added, "the v2 reader schema has a field v1 lacks; the table must gain it"
    assert all(not evolved.schema().find_field(name).required for name in added)
    assert {c.name for c in audit_columns(v2)} == set(names)
    assert evolved.scan().to_arrow().num_rows == 0


def test_quarantine_table_has_the_quarantine_columns(settings: Settings) -> None:
    table = ensure_quarantine_table(open_catalog(settings), settings)
    assert [f.name for f in table.schema().fields] == [c.name for c in QUARANTINE_COLUMNS]
    assert table.spec().fields[0].name == "quarantined_day"


def test_tables_are_written_with_zstd_and_older_tables_are_brought_in_line(settings: Settings) -> None:
    contract = load_contract(SCHEMAS / "tickets")
    catalog = open_catalog(settings)
    audit = ensure_audit_table(catalog, settings, contract)
    quarantine = ensure_quarantine_table(catalog, settings)
    for table in (audit, quarantine):
        assert table.properties["write.parquet.compression-codec"] == "zstd"
    # A table without the codec property: Iceberg's Java writers would compress it with gzip, their default.
    with audit.transaction() as transaction:
        transaction.remove_properties("write.parquet.compression-codec")
    assert "write.parquet.compression-codec" not in catalog.load_table(audit.name()).properties
    again = ensure_audit_table(catalog, settings, contract)
    assert again.properties["write.parquet.compression-codec"] == "zstd"
    assert again.schema() == audit.schema()
