"""Wiring shared by the jobs: the Iceberg catalog in the table environment, and the audit-table sinks."""

from __future__ import annotations

from typing import Any

from pyflink.common import Configuration
from pyflink.datastream import DataStream, OutputTag
from pyflink.table import StatementSet, StreamTableEnvironment
from pyflink.table.catalog import CatalogDescriptor
from pyiceberg.catalog import Catalog

from jobs import rowbytes
from jobs.worker import worker_schemas_dir
from lakegate import catalog
from lakegate.settings import Settings
from udfs.audit import audit_columns, audit_values
from udfs.contract import Contract, load_contracts
from udfs.router import Router, Valid
from udfs.rowcodec import RowEncoder


def register_catalog(t_env: StreamTableEnvironment, settings: Settings) -> None:
    conf = Configuration()
    for key, value in catalog.flink_catalog_options(settings).items():
        conf.set_string(key, value)
    t_env.create_catalog(settings.catalog.name, CatalogDescriptor.of(settings.catalog.name, conf))


def audit_tag(contract: str) -> OutputTag:
    """The side output of a contract's audit rows, each encoded as one byte string (jobs/rowbytes.py)."""
    return OutputTag(f"audit-{contract}", rowbytes.ROW_BYTES)


class AuditRouting:
    """What the replay job's routing function builds in its worker's ``open()``: the contracts, the router,
    and per contract the audit side output a valid record goes to (built there, not pickled: parsed schemas
    and HTTP clients do not travel well)."""

    def __init__(self, settings: Settings) -> None:
        self.contracts = load_contracts(worker_schemas_dir(settings))
        self.router = Router(self.contracts, settings.registry_client(), strict_indexes=True)
        self._encoders = {c.name: RowEncoder(audit_columns(c)) for c in self.contracts}
        self._tags = {n: audit_tag(n) for n in self._encoders}

    def audit_output(self, valid: Valid) -> tuple[OutputTag, bytes]:
        """The side output and the encoded audit-table row of a valid record."""
        encoder = self._encoders[valid.contract]
        return self._tags[valid.contract], encoder.encode(audit_values(valid, encoder.columns))


def optional_bytes(value: Any) -> bytes | None:
    """A BYTES field as Python bytes (PyFlink may hand over a bytearray or a Java byte array)."""
    return bytes(value) if value is not None else None


def add_audit_insert(
    *,
    t_env: StreamTableEnvironment,
    statements: StatementSet,
    iceberg: Catalog,
    settings: Settings,
    contract: Contract,
    routed: DataStream,
) -> None:
    """Insert ``routed``'s side output for ``contract`` into its audit table, in the table's column order."""
    # A side output is a virtual edge of the routing operator, not an operator: nothing to name or uid.
    side = routed.get_side_output(audit_tag(contract.name))
    name = catalog.audit_table_name(settings, contract)
    layout = [f.name for f in iceberg.load_table(name).schema().fields]
    rows = rowbytes.decoded_table(
        t_env,
        side,
        audit_columns(contract),
        layout,
        name=f"audit_rows_{contract.name}",
        uid=f"audit-rows-{contract.name}",
    )
    statements.add_insert(f"{settings.catalog.name}.{name}", rows)
