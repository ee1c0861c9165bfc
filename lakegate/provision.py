"""Create what the ingest job writes to, if missing: its Iceberg tables and its Kafka topics.

The audit table of every contract, the quarantine table, a table per read model; the dead-letter topic and
a compacted changelog topic per read model. Idempotent, and safe against any catalog and cluster the
settings point at. The ingest job calls it before it starts; the demo and the benchmarks call it ahead, so
that the tables and topics exist before the job's first commit.
"""

from __future__ import annotations

from lakegate import catalog, readmodels
from lakegate.kafka_admin import ensure_topics
from lakegate.settings import Settings
from udfs.contract import Contracts


def provision(settings: Settings, contracts: Contracts) -> None:
    """Create the ingest job's tables and topics where missing."""
    iceberg = catalog.open_catalog(settings)
    for contract in contracts:
        catalog.ensure_audit_table(iceberg, settings, contract)
    catalog.ensure_quarantine_table(iceberg, settings)
    ensure_topics(settings, [settings.kafka.dlq_topic])
    models = readmodels.all_models(contracts)
    for model, contract in models:
        readmodels.ensure_table(iceberg, settings, model, contract)
    # Compacted: a consumer reading from the start sees the latest row per key, deletes as tombstones.
    ensure_topics(
        settings, [readmodels.changelog_topic(settings, m) for m, _ in models], configs={"cleanup.policy": "compact"}
    )
