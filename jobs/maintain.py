"""Table care: compact small data files and expire old snapshots of lakegate's Iceberg tables.

Streaming sinks commit once per checkpoint, so tables gather one small file per checkpoint (per partition)
and one snapshot per commit. This runs Iceberg's own Java maintenance through PyFlink's JVM (pyiceberg cannot
write data files here: docs/stack.md#the-pyarrow-constraint): ``rewriteDataFiles()``, a Flink batch job
writing files of ``target_file_mb``, and ``expireSnapshots()``, which keeps the last ``retain_last`` snapshots
and any newer than ``older_than_s``.

Invariant: safe while the ingest job runs. lakegate's tables only ever receive appends, a rewrite commit
replaces only the files it read (a conflict fails the rewrite, never the job's commit), and Iceberg retries
an expiry commit that meets the job's.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyflink.java_gateway import get_gateway

from jobs.runtime import stream_environment
from lakegate import catalog, readmodels
from lakegate.entrypoint import entry_point
from lakegate.job_options import add_maintain_options
from lakegate.logs import kv
from lakegate.settings import Settings
from udfs.contract import Contracts, load_contracts

log = logging.getLogger("lakegate.jobs.maintain")


@dataclass(frozen=True, slots=True)
class Maintained:
    table: str
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int


def table_names(settings: Settings, contracts: Contracts, only: Sequence[str] = ()) -> list[str]:
    """lakegate's tables (audit, quarantine, read models), or the read models named in ``only``."""
    if only:
        return [readmodels.table_name(settings, readmodels.find(contracts, name)[0]) for name in only]
    names = [catalog.audit_table_name(settings, c) for c in contracts]
    names.append(catalog.quarantine_table_name(settings))
    names += [readmodels.table_name(settings, m) for m, _ in readmodels.all_models(contracts)]
    return names


def _java_catalog(settings: Settings) -> Any:
    jvm = get_gateway().jvm
    options = catalog.flink_catalog_options(settings)
    properties = jvm.java.util.HashMap()
    for key, value in options.items():
        if key not in ("type", "catalog-impl"):
            properties.put(key, value)
    return jvm.org.apache.iceberg.CatalogUtil.loadCatalog(
        options["catalog-impl"], settings.catalog.name, properties, jvm.org.apache.hadoop.conf.Configuration()
    )


def _counts(table: Any) -> tuple[int, int]:
    snapshot = table.currentSnapshot()
    files = int(snapshot.summary().get("total-data-files") or 0) if snapshot is not None else 0
    return files, sum(1 for _ in table.snapshots())


def maintain(
    settings: Settings,
    names: Sequence[str],
    *,
    target_file_mb: int = 128,
    retain_last: int = 10,
    older_than_s: int = 3600,
) -> list[Maintained]:
    env = stream_environment(settings)
    jvm = get_gateway().jvm
    java_catalog = _java_catalog(settings)
    out = []
    for name in names:
        identifier = jvm.org.apache.iceberg.catalog.TableIdentifier.parse(name)
        if not java_catalog.tableExists(identifier):
            continue
        table = java_catalog.loadTable(identifier)
        files_before, snapshots_before = _counts(table)
        result = (
            jvm.org.apache.iceberg.flink.actions.Actions.forTable(env._j_stream_execution_environment, table)
            .rewriteDataFiles()
            .targetSizeInBytes(target_file_mb * 1024 * 1024)
            .execute()
        )
        table.refresh()
        expire_before_ms = int(time.time() * 1000) - older_than_s * 1000
        # Java's expiry also deletes the files only expired snapshots referenced; pyiceberg's edits metadata only.
        table.expireSnapshots().expireOlderThan(expire_before_ms).retainLast(retain_last).commit()
        table.refresh()
        files_after, snapshots_after = _counts(table)
        out.append(Maintained(name, files_before, files_after, snapshots_before, snapshots_after))
        log.info(
            "table maintained",
            extra=kv(
                table=name,
                rewritten=result.deletedDataFiles().size(),
                files=f"{files_before}->{files_after}",
                snapshots=f"{snapshots_before}->{snapshots_after}",
            ),
        )
    return out


@entry_point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.maintain", description=__doc__.splitlines()[0])
    add_maintain_options(parser)
    args = parser.parse_args(argv)
    settings = Settings.load()
    names = table_names(settings, load_contracts(settings.paths.schemas_dir), args.model)
    while True:
        for m in maintain(
            settings,
            names,
            target_file_mb=args.target_file_mb,
            retain_last=args.retain_last,
            older_than_s=args.older_than_s,
        ):
            print(
                f"{m.table:<36} data files {m.files_before} -> {m.files_after}, "
                f"snapshots {m.snapshots_before} -> {m.snapshots_after}"
            )
        if args.every_s <= 0:
            return 0
        time.sleep(args.every_s)


if __name__ == "__main__":
    sys.exit(main())
