"""The lake behind a PostgreSQL catalog (``catalog_uri``): the ingest job's Java sinks and every Python tool
use Iceberg's JDBC catalog in a real PostgreSQL server (Debian's, started on loopback by the fixture)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from py4j.protocol import Py4JJavaError
from pyiceberg.table import Table

from lakegate.catalog import audit_table_name, open_catalog
from lakegate.produce import produce
from lakegate.replay import effective_quarantine
from lakegate.settings import Settings
from lakegate.stack import postgres
from lakegate.testing.invariant import assert_every_record_once, lake_coordinates
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import topic_coordinates
from lakegate.testing.readmodels import mismatches
from udfs.contract import load_contracts
from udfs.reasons import Reason

pytestmark = pytest.mark.job


def _data_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary["total-data-files"]) if snapshot is not None and snapshot.summary else 0


def _ledger(settings: Settings, password: str) -> dict[str, tuple[int, ...]]:
    """`lakegate status`'s settled ledger, as printed: topic → (read, audited, quarantined, dedup., unaccounted)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lakegate"), "status"],
        env=settings.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = re.findall(r"^\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s*$", result.stdout, re.MULTILINE)
    assert password not in result.stdout + result.stderr, "the catalog's password leaked"
    return {topic: tuple(int(n) for n in numbers) for topic, *numbers in rows}


def test_the_lake_on_a_postgresql_catalog_ingests_models_replays_and_balances(
    lakegate_stack: Settings, run_job: Callable[..., JobRun], lakegate_postgres: postgres.Postgres, tmp_path: Path
) -> None:
    server = lakegate_postgres.with_database("job_lake")
    schemas = tmp_path / "schemas"
    shutil.copytree(lakegate_stack.paths.schemas_dir, schemas)
    settings = lakegate_stack.replace(
        catalog_uri=server.uri,
        warehouse=tmp_path / "warehouse",
        schemas_dir=schemas,
        job_name="lakegate-pg",
        dlq_topic="pg.dlq",
        consumer_group="pg",
        changelog_topic_prefix="pg.readmodel.",
    )
    contracts = load_contracts(schemas)
    produce(
        settings,
        contracts,
        600,
        bad_fraction=0.2,
        seed=20261207,
        bad_kinds=[Reason.rule_violation, Reason.bad_magic_byte],
        duplicate_fraction=0.05,
    )
    run_job("ingest", settings)

    # Every table the job and the tools use is listed in PostgreSQL's catalog.
    tables = server.iceberg_tables(settings.catalog.name)
    assert {("audit", c.name) for c in contracts} | {("quarantine", "records")} <= tables
    assert {("readmodels", m.name) for c in contracts for m in c.read_models} <= tables
    assert_every_record_once(settings, contracts)
    assert mismatches(settings, contracts) == {}, "read models equal the independent computation"

    # A contract fix, then a replay: the records that broke a rule land once, the rest stay quarantined.
    audited_before, quarantined = lake_coordinates(settings, contracts)
    for contract_file in schemas.glob("*/contract.toml"):
        contract_file.write_text(contract_file.read_text().split("\n[", 1)[0] + "\n")
    run_job("replay", settings)
    audited_after, quarantined_after = lake_coordinates(settings, contracts)
    assert quarantined_after == quarantined, "the quarantine table is immutable"
    added = set(audited_after) - set(audited_before)
    assert added and added <= set(quarantined)
    assert len(audited_after) == len(set(audited_after)), "nothing audited twice"
    remaining = effective_quarantine(quarantined, set(audited_after))
    assert set(audited_after) | remaining == topic_coordinates(settings, [c.topic for c in contracts])

    # `lakegate maintain` compacts through the same catalog (Iceberg's Java actions): fewer files, same rows.
    iceberg = open_catalog(settings)
    audit_tables = [iceberg.load_table(audit_table_name(settings, c)) for c in contracts]
    files_before = [_data_files(t) for t in audit_tables]
    run_job("maintain", settings)
    files_after = [_data_files(t.refresh()) for t in audit_tables]
    assert sum(files_after) < sum(files_before), (files_before, files_after)
    audited_maintained, quarantined_maintained = lake_coordinates(settings, contracts)
    assert sorted(audited_maintained) == sorted(audited_after)
    assert sorted(quarantined_maintained) == sorted(quarantined_after)

    # The password is in no log, no checkpoint and no table file: Flink got the catalog options without it.
    secret = server.password.encode()
    for folder in (settings.paths.log_dir, settings.paths.warehouse_path, settings.paths.home / "checkpoints"):
        leaked = [p for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]
        assert not leaked, f"the catalog's password is in {leaked[:3]}"

    # `lakegate status` reads the same catalog: its ledger balances for every contract topic.
    ledger = _ledger(settings, server.password)
    assert {c.topic for c in contracts} <= ledger.keys(), ledger
    for topic in (c.topic for c in contracts):
        read, audited, quarantined_n, _, unaccounted = ledger[topic]
        assert read > 0 and unaccounted == 0, (topic, ledger[topic])
        assert audited + quarantined_n <= read


def test_the_java_catalog_takes_its_credentials_from_the_named_environment_variable(jvm_gateway: Any) -> None:
    catalog_class = jvm_gateway.jvm.io.lakegate.flink.catalog.EnvJdbcCatalog
    found = dict(catalog_class.credentials("LAKEGATE_CATALOG_URI", "postgresql://l%40ke:p%2Bw%3Ad+x@h:5432/db"))
    assert found == {"jdbc.user": "l@ke", "jdbc.password": "p+w:d+x"}
    for value, problem in [
        (None, "LAKEGATE_CATALOG_URI, which is not set in this JVM"),
        ("", "LAKEGATE_CATALOG_URI, which is not set in this JVM"),
        ("postgresql://h:5432/db", "names no user"),
        ("postgresql://u:s3cr%zz@h:5432/db", "does not hold a valid URL"),
    ]:
        with pytest.raises(Py4JJavaError) as refused:
            catalog_class.credentials("LAKEGATE_CATALOG_URI", value)
        assert problem in str(refused.value), str(refused.value)[:300]
        assert "s3cr" not in str(refused.value), "the message never quotes the URL"
