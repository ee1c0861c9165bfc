"""The lake behind a catalog service (``catalog_uri``): the ingest job's Java sinks and every Python tool use
Iceberg's JDBC catalog in a real PostgreSQL server (Debian's), or an Iceberg REST catalog server (Iceberg's
reference adapter, lakegate/stack/restcatalog.py), each started on loopback by a fixture."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from py4j.protocol import Py4JJavaError
from pyiceberg.table import Table

from lakegate.catalog import audit_table_name, open_catalog
from lakegate.errors import CatalogUnavailableError
from lakegate.objectstore import filesystem
from lakegate.produce import produce
from lakegate.replay import effective_quarantine
from lakegate.settings import Settings
from lakegate.stack import objectstore, postgres, restcatalog
from lakegate.testing.invariant import Coordinate, assert_every_record_once, lake_coordinates, wait_until_drained
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun, RunningJob
from lakegate.testing.ports import free_port
from lakegate.testing.readers import topic_coordinates
from lakegate.testing.readmodels import mismatches
from udfs.contract import Contracts
from udfs.reasons import Reason

pytestmark = pytest.mark.job


def _data_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary["total-data-files"]) if snapshot is not None and snapshot.summary else 0


def _ledger(settings: Settings, secret: str) -> dict[str, tuple[int, ...]]:
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
    assert secret not in result.stdout + result.stderr, "the catalog's secret leaked"
    return {topic: tuple(int(n) for n in numbers) for topic, *numbers in rows}


def test_the_lake_on_a_postgresql_catalog_ingests_models_replays_and_balances(
    lakegate_stack: Settings, run_job: Callable[..., JobRun], lakegate_postgres: postgres.Postgres, tmp_path: Path
) -> None:
    server = lakegate_postgres.with_database("job_lake")
    settings = lakegate_stack.replace(catalog_uri=server.uri, warehouse=tmp_path / "warehouse")
    _the_lake_ingests_models_replays_and_balances(
        settings,
        run_job,
        tmp_path,
        server.password,
        lambda: server.iceberg_tables(settings.catalog.name),
        "pg",
        20261207,
        maintain=True,
    )


@pytest.fixture
def rest_catalog_on_object_store(lakegate_object_store: Settings) -> Iterator[Settings]:
    """The production layout on loopback: the warehouse in a bucket of the object store, behind an Iceberg
    REST catalog server whose own file IO is S3FileIO on the same bucket. Its clients authenticate with OAuth2
    client credentials, exchanged for tokens at its token endpoint, and ask for its one warehouse by name."""
    filesystem(lakegate_object_store, allow_bucket_creation=True).create_dir("lake")
    settings = lakegate_object_store.replace(
        s3_warehouse="s3://lake/warehouse",
        catalog_uri=f"http://127.0.0.1:{free_port()}",
        catalog_credential=f"lakegate-ingest:{secrets.token_urlsafe(18)}",
        catalog_warehouse="lake",
    )
    restcatalog.start(settings)
    try:
        yield settings
    finally:
        restcatalog.stop(settings)


def test_the_lake_on_object_storage_behind_a_rest_catalog_ingests_models_replays_and_balances(
    rest_catalog_on_object_store: Settings, run_job: Callable[..., JobRun], tmp_path: Path
) -> None:
    settings = rest_catalog_on_object_store
    client_secret = settings.catalog.client[1]
    _the_lake_ingests_models_replays_and_balances(
        settings,
        run_job,
        tmp_path,
        client_secret,
        lambda: _rest_tables(settings),
        "rest",
        20261212,
        maintain=False,
        fresh_start=True,
    )
    assert not settings.paths.catalog_db_path.exists(), "no SQLite catalog beside the REST one"
    # Every file of the lake is in the bucket: the tables' and lakegate's own (journal, read-model state).
    assert not settings.paths.warehouse_path.exists(), "nothing of the lake on this disk"
    stored = objectstore.folder(settings) / "data" / "lake" / "warehouse"
    kept = {p.relative_to(stored).parts[0] for p in stored.rglob("*") if p.is_file()}
    assert kept == {"rest", "rest_q", "rest_models", "_lakegate"}, kept
    assert any(stored.glob("_lakegate/coverage/*/*/*.json")), "the coverage journal is in the bucket"
    assert any(stored.glob("_lakegate/coverage/*/model-state-*.bin")), "the read-model state is in the bucket"
    # Neither secret is in an object, the REST server's files or a log; the S3 key is in no command line.
    s3_secret = settings.objectstore.secret_access_key.reveal()
    for secret in (s3_secret.encode(), client_secret.encode()):
        files = [
            *stored.rglob("*"),
            *(settings.paths.home / "restcatalog").rglob("*"),
            *settings.paths.log_dir.rglob("*"),
        ]
        assert not [p for p in files if p.is_file() and secret in p.read_bytes()]
    for secret in (s3_secret, client_secret):
        assert secret not in restcatalog.service(settings).log_file.read_text()
        assert secret.encode() not in Path(f"/proc/{restcatalog.service(settings).pid()}/cmdline").read_bytes()
    # A wrong client secret, a token of the client's own making and another warehouse are refused by the
    # server; each message says what to check without quoting a secret.
    for wrong, reason in [
        ({"catalog_credential": "lakegate-ingest:not-the-secret"}, "invalid_client"),
        ({"catalog_credential": "", "catalog_token": "made-up-token"}, "NotAuthorizedException"),
        ({"catalog_warehouse": "another"}, "serves the warehouse named lake"),
    ]:
        with pytest.raises(CatalogUnavailableError) as refused:
            open_catalog(settings.replace(**wrong))
        message = str(refused.value)
        assert reason in message and "catalog_warehouse" in message, message
        assert "not-the-secret" not in message and "made-up-token" not in message and client_secret not in message


def _rest_tables(settings: Settings) -> set[tuple[str, str]]:
    iceberg = open_catalog(settings)
    return {(str(n), str(t)) for (ns,) in iceberg.list_namespaces() for n, t in iceberg.list_tables(ns)}


def _the_lake_ingests_models_replays_and_balances(
    stack: Settings,
    run_job: Callable[..., JobRun],
    tmp_path: Path,
    secret_text: str,
    listed: Callable[[], set[tuple[str, str]]],
    prefix: str,
    seed: int,
    *,
    maintain: bool,
    fresh_start: bool = False,
) -> None:
    settings, contracts = own_lake(stack, tmp_path, prefix, job_name=f"lakegate-{prefix}")
    schemas = settings.paths.schemas_dir
    produce(
        settings,
        contracts,
        600,
        bad_fraction=0.2,
        seed=seed,
        bad_kinds=[Reason.rule_violation, Reason.bad_magic_byte],
        duplicate_fraction=0.05,
    )
    run_job("ingest", settings)

    # Every table the job and the tools use is listed in the catalog service.
    tables = listed()
    names = settings.catalog
    assert {(names.audit_namespace, c.name) for c in contracts} | {(names.quarantine_namespace, "records")} <= tables
    assert {(settings.readmodels.namespace, m.name) for c in contracts for m in c.read_models} <= tables
    assert_every_record_once(settings, contracts)
    assert mismatches(settings, contracts) == {}, "read models equal the independent computation"
    if fresh_start:
        # A start without a checkpoint resumes from what the lake holds (docs/resume.md): the coverage journal
        # and the read-model state file it rebuilds, in the warehouse like the tables.
        produce(settings, contracts, 200, bad_fraction=0.2, seed=seed + 1, bad_kinds=[Reason.bad_magic_byte])
        run_job("ingest", settings)
        assert_every_record_once(settings, contracts)
        assert mismatches(settings, contracts) == {}, "read models equal the independent computation, again"

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
    # (On the REST catalog, the next test compacts while the job commits.)
    if maintain:
        _compacts_and_keeps_every_row(settings, run_job, contracts, audited_after, quarantined_after)

    # The secret is in no log, no checkpoint and no table file: Flink got the catalog options without it.
    secret = secret_text.encode()
    for folder in (settings.paths.log_dir, settings.paths.warehouse_path, settings.paths.home / "checkpoints"):
        leaked = [p for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]
        assert not leaked, f"the catalog's secret is in {leaked[:3]}"

    # `lakegate status` reads the same catalog: its ledger balances for every contract topic.
    ledger = _ledger(settings, secret_text)
    assert {c.topic for c in contracts} <= ledger.keys(), ledger
    for topic in (c.topic for c in contracts):
        read, audited, quarantined_n, _, unaccounted = ledger[topic]
        assert read > 0 and unaccounted == 0, (topic, ledger[topic])
        assert audited + quarantined_n <= read


def _compacts_and_keeps_every_row(
    settings: Settings,
    run_job: Callable[..., JobRun],
    contracts: Contracts,
    audited_after: list[Coordinate],
    quarantined_after: list[Coordinate],
) -> None:
    iceberg = open_catalog(settings)
    audit_tables = [iceberg.load_table(audit_table_name(settings, c)) for c in contracts]
    files_before = [_data_files(t) for t in audit_tables]
    run_job("maintain", settings)
    files_after = [_data_files(t.refresh()) for t in audit_tables]
    assert sum(files_after) < sum(files_before), (files_before, files_after)
    audited_maintained, quarantined_maintained = lake_coordinates(settings, contracts)
    assert sorted(audited_maintained) == sorted(audited_after)
    assert sorted(quarantined_maintained) == sorted(quarantined_after)


def test_maintain_compacts_while_the_job_commits_to_the_rest_catalog_and_nothing_is_lost(
    lakegate_rest_catalog: Settings,
    run_job: Callable[..., JobRun],
    start_job: Callable[[str, Settings], RunningJob],
    tmp_path: Path,
) -> None:
    settings, contracts = own_lake(lakegate_rest_catalog, tmp_path, "restm", job_name="lakegate-rest-maintain")
    produce(settings, contracts, 300, bad_fraction=0.1, seed=20261213)
    job = start_job("ingest", settings.replace(drain=False))  # commits every second (checkpoint interval)
    wait_until_drained(settings, contracts)
    produce(settings, contracts, 300, bad_fraction=0.1, seed=20261214)
    maintained = run_job("maintain", settings)  # while the job commits the new records to the same tables
    assert job.alive, f"the job died while maintain ran; see {job.log}"
    compacted = [
        (int(before), int(after))
        for before, after in re.findall(r"data files (\d+) -> (\d+)", maintained.log.read_text())
        if int(after) < int(before)
    ]
    assert compacted, "maintain rewrote small files while the job committed"
    wait_until_drained(settings, contracts)
    job.stop()  # a kill, then a fresh start drains what the kill left between sinks
    run_job("ingest", settings)

    assert_every_record_once(settings, contracts)
    assert mismatches(settings, contracts) == {}, "read models equal the independent computation"


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


def test_the_java_rest_catalog_takes_its_token_and_credentials_from_the_named_environment_variables(
    jvm_gateway: Any,
) -> None:
    catalog_class = jvm_gateway.jvm.io.lakegate.flink.catalog.EnvRestCatalog
    options = {
        "uri": "http://127.0.0.1:8181",
        "lakegate.token-env": "LAKEGATE_CATALOG_TOKEN",
        "lakegate.credential-env": "LAKEGATE_CATALOG_CREDENTIAL",
    }
    with_token = dict(catalog_class.resolved(options, {"LAKEGATE_CATALOG_TOKEN": "t0ken"}))
    assert with_token == {"uri": "http://127.0.0.1:8181", "token": "t0ken", "rest.auth.type": "oauth2"}
    with_client = dict(catalog_class.resolved(options, {"LAKEGATE_CATALOG_CREDENTIAL": "id:s3cret"}))
    assert with_client == {"uri": "http://127.0.0.1:8181", "credential": "id:s3cret", "rest.auth.type": "oauth2"}
    assert dict(catalog_class.resolved(options, {})) == {"uri": "http://127.0.0.1:8181"}, "unset: no token"
    empty = {"LAKEGATE_CATALOG_TOKEN": "", "LAKEGATE_CATALOG_CREDENTIAL": ""}
    assert dict(catalog_class.resolved(options, empty)) == {"uri": "http://127.0.0.1:8181"}
