"""The PostgreSQL catalog (``catalog_uri``): settings, the options each side gets, and pyiceberg's tables in a
real PostgreSQL server (Debian's, started here on loopback; no JVM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate import catalog
from lakegate.errors import CatalogUnavailableError, SettingsError
from lakegate.lease import Lease, LeaseHeld
from lakegate.settings import Settings
from lakegate.stack import postgres
from udfs.contract import load_contract

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
URI = "postgresql://lake:p%40ss%3Aw0rd@db.internal:5432/lakegate"


def test_catalog_uri_empty_is_the_embedded_sqlite_catalog(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path)
    assert settings.catalog.kind == "sqlite"
    options = catalog.flink_catalog_options(settings)
    assert options["uri"] == f"jdbc:sqlite:{tmp_path / 'catalog.db'}"
    assert options["catalog-impl"] == "org.apache.iceberg.jdbc.JdbcCatalog"
    assert catalog.catalog_location(settings) == f"sqlite {tmp_path / 'catalog.db'}"


def test_a_postgresql_uri_gives_each_side_its_options_and_the_password_to_neither_in_the_clear() -> None:
    settings = Settings.load(env={}, catalog_uri=URI)
    assert settings.catalog.kind == "postgresql"
    options = catalog.flink_catalog_options(settings)
    assert options["uri"] == "jdbc:postgresql://db.internal:5432/lakegate"
    assert options["catalog-impl"] == "io.lakegate.flink.catalog.EnvJdbcCatalog"
    assert options["lakegate.credentials-env"] == "LAKEGATE_CATALOG_URI"
    assert not any("p@ss" in v or "p%40ss" in v or "lake:" in v for v in options.values()), options
    assert settings.to_env()["LAKEGATE_CATALOG_URI"] == URI  # how a job's child process gets it
    assert settings.masked()["catalog_uri"] == "postgresql://***@db.internal:5432/lakegate"
    assert "p%40ss" not in catalog.catalog_location(settings)
    # pyiceberg's SQLAlchemy URL: the decoded password, quoted again by SQLAlchemy
    assert catalog._sqlalchemy_uri(settings) == "postgresql+psycopg2://lake:p%40ss%3Aw0rd@db.internal:5432/lakegate"
    assert settings.without_secrets().catalog.uri.reveal() == "postgresql://db.internal:5432/lakegate"  # job graphs


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("mysql://a:b@h:3306/d", "got the scheme 'mysql'"),
        ("postgresql://a:b@h/d", "host, port, database and user are required"),
        ("postgresql://h:5432/d", "host, port, database and user are required"),
        ("postgresql://a:b@h:5432/", "host, port, database and user are required"),
        ("postgresql://a:b@h:5432/d?sslmode=disable", "without ?options"),
        ("postgresql://a:b@h:port/d", "its port is not a number"),
    ],
)
def test_a_catalog_uri_lakegate_cannot_use_is_refused_with_the_form_it_needs(uri: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, catalog_uri=uri)
    assert problem in str(refused.value)
    assert "postgresql://user:password@host:port/database" in str(refused.value)
    assert ":b@" not in str(refused.value), "the password is masked in the message"


def test_pyiceberg_keeps_lakegates_tables_and_leases_in_postgresql(
    lakegate_postgres: postgres.Postgres, tmp_path: Path
) -> None:
    server = lakegate_postgres.with_database("unit_tables_and_leases")
    settings = Settings.load(env={}, home=tmp_path / "home", catalog_uri=server.uri)
    iceberg = catalog.open_catalog(settings)
    contract = load_contract(SCHEMAS / "tickets")
    catalog.ensure_namespace(iceberg, settings.catalog.audit_namespace)
    catalog.ensure_audit_table(iceberg, settings, contract)
    assert not settings.paths.catalog_db_path.exists(), "no SQLite file"
    assert server.iceberg_tables("lakegate") == {("audit", "tickets")}
    # a second process (a fresh catalog object) sees the same table, and the lease is one at a time there too
    again = catalog.open_catalog(settings)
    assert (
        again.load_table(catalog.audit_table_name(settings, contract)).schema()
        == iceberg.load_table(catalog.audit_table_name(settings, contract)).schema()
    )
    catalog.ensure_namespace(again, settings.catalog.quarantine_namespace)
    with Lease(iceberg, catalog.replay_lease(settings), "a replay"), pytest.raises(LeaseHeld):
        Lease(again, catalog.replay_lease(settings), "another replay").acquire()


def test_a_wrong_password_is_refused_with_what_to_check(lakegate_postgres: postgres.Postgres, tmp_path: Path) -> None:
    server = lakegate_postgres
    uri = f"postgresql://{server.user}:not-the-password@127.0.0.1:{server.port}/{server.database}"
    settings = Settings.load(env={}, home=tmp_path / "home", catalog_uri=uri)
    with pytest.raises(CatalogUnavailableError) as refused:
        catalog.open_catalog(settings)
    message = str(refused.value)
    assert "password authentication failed" in message and "Check catalog_uri" in message
    assert "not-the-password" not in message
    assert f"postgresql://***@127.0.0.1:{server.port}/{server.database}" in message
