"""The Iceberg catalog, as seen from Python (pyiceberg) and from Flink (Java).

Both open the same catalog under the same name, so a table created here is the table the Flink sink writes:
a JDBC catalog on the embedded SQLite file or on PostgreSQL, or an Iceberg REST catalog (``catalog_uri``).
Credentials (the PostgreSQL password, the REST catalog's token or client credentials) reach Java through the JVM's
environment only (``io.lakegate.flink.catalog.EnvJdbcCatalog``, ``EnvRestCatalog``), never through catalog
options, which travel in job graphs. Audit tables are created from
:func:`udfs.columns.audit_columns`, the same function that shapes the rows the job emits, so DDL and data
cannot drift apart.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Mapping

import requests
import sqlalchemy.exc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, RESTError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)
from sqlalchemy.engine import URL

from lakegate import objectstore, warehouse
from lakegate.errors import CatalogUnavailableError
from lakegate.logs import kv
from lakegate.settings import Settings
from lakegate.settings.load import env_name
from udfs.audit import audit_columns
from udfs.columns import Column, ColumnKind
from udfs.contract import Contract
from udfs.quarantine import QUARANTINE_COLUMNS
from udfs.renames import pending_renames

log = logging.getLogger(__name__)

_ICEBERG_TYPES: dict[ColumnKind, IcebergType] = {
    ColumnKind.string: StringType(),
    ColumnKind.boolean: BooleanType(),
    ColumnKind.int: IntegerType(),
    ColumnKind.long: LongType(),
    ColumnKind.float: FloatType(),
    ColumnKind.double: DoubleType(),
    ColumnKind.bytes: BinaryType(),
    ColumnKind.timestamp_ms: TimestamptzType(),
}


# How lakegate's tables are written. Iceberg's Java writers compress Parquet with gzip unless the table says
# otherwise (only tables created through Java's own catalog API get zstd as a default property); pyiceberg
# creates lakegate's tables, so the codec is stated here: zstd, Iceberg's own default for new tables.
WRITE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
}


def with_write_properties(table: Table) -> Table:
    """``table`` with every :data:`WRITE_PROPERTIES` entry it lacks set (a metadata-only commit): a table
    keeps the properties it was created with, so one from an older lakegate gains them here."""
    missing = {k: v for k, v in WRITE_PROPERTIES.items() if k != "format-version" and table.properties.get(k) != v}
    if not missing:
        return table
    with table.transaction() as transaction:
        transaction.set_properties(missing)
    log.info("table write properties set", extra=kv(table=".".join(table.name()), **missing))
    return table.refresh()


def open_catalog(settings: Settings) -> Catalog:
    """The catalog, connected (pyiceberg creates its two tables in a JDBC database that lacks them);
    :class:`CatalogUnavailableError` when the catalog's server refuses, does not answer or refuses the token."""
    if not warehouse.on_object_store(settings):
        settings.paths.warehouse_path.mkdir(parents=True, exist_ok=True)
    if settings.catalog.kind == "rest":
        return _open_rest_catalog(settings)
    try:
        return SqlCatalog(
            settings.catalog.name,
            uri=_sqlalchemy_uri(settings),
            warehouse=warehouse.uri(settings),
            **objectstore.pyiceberg_properties(settings),
            # A pooled connection to a server that restarted meanwhile is replaced, not handed out (the
            # exporter and `maintain --every-s` keep one catalog for hours).
            pool_pre_ping="true" if settings.catalog.kind == "postgresql" else "false",
        )
    except sqlalchemy.exc.OperationalError as exc:
        # The driver's own words (they never hold the password), without SQLAlchemy's statement and link.
        reason = str(exc.orig).strip() if exc.orig is not None else type(exc).__name__
        raise _unavailable(settings, reason, "the database server is up") from None


def _open_rest_catalog(settings: Settings) -> RestCatalog:
    properties = {
        "uri": settings.catalog.uri.reveal(),
        **_rest_properties(settings),
        **objectstore.pyiceberg_properties(settings),
    }
    if settings.catalog.token:
        properties["token"] = settings.catalog.token.reveal()
    if settings.catalog.credential:
        properties["credential"] = settings.catalog.credential.reveal()
    try:
        return RestCatalog(settings.catalog.name, **properties)
    except requests.exceptions.RequestException as exc:
        raise _unavailable(settings, type(exc).__name__, "the REST catalog server is up") from None
    except RESTError as exc:  # the server's own message: it never echoes the token or the client secret
        check = (
            "catalog_credential (LAKEGATE_CATALOG_CREDENTIAL), catalog_scope and catalog_warehouse"
            if settings.catalog.credential
            else "catalog_token (LAKEGATE_CATALOG_TOKEN) and catalog_warehouse"
        )
        raise _unavailable(settings, str(exc), check) from None


def _rest_properties(settings: Settings) -> dict[str, str]:
    """The REST catalog's properties that are no secret, the same for pyiceberg and Iceberg's Java client:
    the warehouse to ask for and, with client credentials, where and for what scope to exchange them."""
    properties = {}
    if settings.catalog.rest_warehouse:
        properties["warehouse"] = settings.catalog.rest_warehouse
    if settings.catalog.credential:
        # Always named: without it both clients fall back to the catalog's own endpoint with a deprecation warning.
        properties["oauth2-server-uri"] = settings.catalog.token_endpoint
        properties["scope"] = settings.catalog.scope
    return properties


def _unavailable(settings: Settings, reason: str, check: str) -> CatalogUnavailableError:
    return CatalogUnavailableError(
        f"cannot open the Iceberg catalog at {catalog_location(settings)}: {reason}. Check catalog_uri "
        f"(LAKEGATE_CATALOG_URI or the settings file) and {check}."
    )


def _sqlalchemy_uri(settings: Settings) -> str:
    if settings.catalog.kind == "sqlite":
        settings.paths.catalog_db_path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{settings.paths.catalog_db_path}"
    parts = urllib.parse.urlsplit(settings.catalog.uri.reveal())
    # Built by SQLAlchemy, which quotes what the user name and password need; never logged (it holds the password).
    return URL.create(
        "postgresql+psycopg2",
        username=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        host=parts.hostname,
        port=parts.port,
        database=parts.path.lstrip("/"),
    ).render_as_string(hide_password=False)


def catalog_location(settings: Settings) -> str:
    """Where the catalog is, for people: ``sqlite <file>``, the PostgreSQL URL masked, or ``rest <URL>``."""
    if settings.catalog.kind == "sqlite":
        return f"sqlite {settings.paths.catalog_db_path}"
    return f"{settings.catalog.kind} {settings.catalog.uri}"


# The environment variable the Java catalog reads the PostgreSQL URL (with its credentials) from: the one
# Settings loads catalog_uri from, so a job's child process and a cluster's JVMs carry it as they carry the
# other LAKEGATE_* secrets (docs/security.md#secrets).
CATALOG_URI_ENV = env_name("catalog_uri")
CATALOG_TOKEN_ENV = env_name("catalog_token")
CATALOG_CREDENTIAL_ENV = env_name("catalog_credential")


def flink_catalog_options(settings: Settings) -> dict[str, str]:
    """Options for Flink's Iceberg catalog; `jdbc.schema-version=V1` matches pyiceberg's tables. No secret:
    for PostgreSQL, ``EnvJdbcCatalog`` takes the user and password from :data:`CATALOG_URI_ENV` where it runs;
    for a REST catalog, ``EnvRestCatalog`` takes the bearer token from :data:`CATALOG_TOKEN_ENV` and the OAuth2
    client credentials from :data:`CATALOG_CREDENTIAL_ENV`."""
    if settings.catalog.kind == "sqlite":
        return {
            "type": "iceberg",
            "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
            "uri": f"jdbc:sqlite:{settings.paths.catalog_db_path}",
            "warehouse": warehouse.uri(settings),
            "jdbc.schema-version": "V1",
            **objectstore.iceberg_java_options(settings),
        }
    if settings.catalog.kind == "rest":
        # The server decides where tables live; the warehouse folder is where lakegate keeps its own files.
        return {
            "type": "iceberg",
            "catalog-impl": "io.lakegate.flink.catalog.EnvRestCatalog",
            "uri": settings.catalog.uri.public,
            "lakegate.token-env": CATALOG_TOKEN_ENV,
            "lakegate.credential-env": CATALOG_CREDENTIAL_ENV,
            **_rest_properties(settings),
            **objectstore.iceberg_java_options(settings),
        }
    parts = urllib.parse.urlsplit(settings.catalog.uri.public)
    return {
        "type": "iceberg",
        "catalog-impl": "io.lakegate.flink.catalog.EnvJdbcCatalog",
        "uri": f"jdbc:postgresql://{parts.hostname}:{parts.port}{parts.path}",
        "warehouse": warehouse.uri(settings),
        "jdbc.schema-version": "V1",
        "lakegate.credentials-env": CATALOG_URI_ENV,
        **objectstore.iceberg_java_options(settings),
    }


def audit_table_name(settings: Settings, contract: Contract) -> str:
    return f"{settings.catalog.audit_namespace}.{contract.name}"


def iceberg_schema(columns: tuple[Column, ...]) -> Schema:
    return Schema(
        *(
            NestedField(i, c.name, _ICEBERG_TYPES[c.kind], required=not c.nullable, doc=c.doc)
            for i, c in enumerate(columns, 1)
        )
    )


def ensure_namespace(catalog: Catalog, namespace: str) -> None:
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(namespace)


def ensure_audit_table(catalog: Catalog, settings: Settings, contract: Contract) -> Table:
    """Create the contract's audit table if missing (partitioned by day of event time), or evolve it.

    Evolution renames and adds columns, never drops one: a field renamed through ``aliases`` keeps its
    column (same field id, so earlier rows read their values under the new name); a new optional field
    becomes a nullable column and earlier rows read it as null. `lakegate contracts check` rejects contract
    changes Iceberg cannot evolve into before they get here.
    """
    ensure_namespace(catalog, settings.catalog.audit_namespace)
    name = audit_table_name(settings, contract)
    columns = audit_columns(contract)
    schema = iceberg_schema(columns)
    try:
        table = catalog.load_table(name)
    except NoSuchTableError:
        event_time = schema.find_field(contract.event_time_field)
        spec = PartitionSpec(PartitionField(event_time.field_id, 1000, DayTransform(), "event_day"))
        return catalog.create_table(
            name,
            schema=schema,
            partition_spec=spec,
            properties={
                **WRITE_PROPERTIES,
                "lakegate.contract": contract.name,
                "lakegate.owner-team": contract.owner_team,
                "comment": f"Audit log of contract {contract.name}: every valid record, append-only.",
            },
        )
    table, _ = follow_renames(catalog, with_write_properties(table), contract.renames)
    current = {f.name for f in table.schema().fields}
    missing = [c.name for c in columns if c.name not in current]
    if missing:
        with table.update_schema() as update:
            update.union_by_name(schema)
        log.info("audit table evolved", extra=kv(table=name, added=",".join(missing)))
        table = catalog.load_table(name)
    return table


def follow_renames(catalog: Catalog, table: Table, renames: Mapping[str, str]) -> tuple[Table, dict[str, str]]:
    """``table`` with its columns named after fields a contract renamed (``aliases``) renamed too, and those
    renames (old → new). The same field ids: rows written before keep their values under the new names."""
    renamed = pending_renames({f.name for f in table.schema().fields}, renames)
    if not renamed:
        return table, renamed
    with table.update_schema() as update:
        for old, new in renamed.items():
            update.rename_column(old, new)
    name = ".".join(table.name())
    log.info("columns renamed", extra=kv(table=name, renamed=",".join(f"{o}->{n}" for o, n in renamed.items())))
    return catalog.load_table(name), renamed


def quarantine_table_name(settings: Settings) -> str:
    return f"{settings.catalog.quarantine_namespace}.records"


def replay_lease(settings: Settings) -> tuple[str, str]:
    """The table whose existence is the replay lease (lakegate/lease.py), beside the quarantine table."""
    return (settings.catalog.quarantine_namespace, "replay_lease")


def ensure_quarantine_table(catalog: Catalog, settings: Settings) -> Table:
    """The quarantine table beside the dead-letter topic: one row per quarantined record, all contracts."""
    ensure_namespace(catalog, settings.catalog.quarantine_namespace)
    name = quarantine_table_name(settings)
    try:
        return with_write_properties(catalog.load_table(name))
    except NoSuchTableError:
        pass
    schema = iceberg_schema(QUARANTINE_COLUMNS)
    day = PartitionField(schema.find_field("quarantined_at").field_id, 1000, DayTransform(), "quarantined_day")
    return catalog.create_table(
        name,
        schema=schema,
        partition_spec=PartitionSpec(day),
        properties={**WRITE_PROPERTIES, "comment": "Every quarantined record, its reason and original bytes."},
    )
