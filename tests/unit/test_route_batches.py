"""jobs/route.py without a JVM: open → map per batch → close, against a fake metric group and registry.

What is counted where: Python counts its own quarantines (records{outcome=quarantined} and
quarantined_records), the route time of every record, freshness and first-seen versions of valid ones; it
never counts audited or deduplicated records (the JVM does). Counts reach Flink at most about once a second.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from jobs.route import RouteBatches
from lakegate.observe import catalogue
from lakegate.settings import Settings
from udfs.batch import InputRecord, QuarantinedEntry, ValidEntry, read_result, write_input
from udfs.contract import Contract, Contracts
from udfs.errors import RegistryUnavailable
from udfs.registry import InMemorySchemas, SchemaSource, WriterSchema

from .support import EVENTS, SCHEMAS, plan_indexes
from .test_route_metrics import FakeMetricGroup, FakeReporter

Encode = Callable[[Contract, dict[str, object]], bytes]
SALT = "route-batches-unit-salt"


class Context:
    def __init__(self, reporter: FakeReporter) -> None:
        self._group = FakeMetricGroup(reporter)

    def get_metrics_group(self) -> FakeMetricGroup:
        return self._group


def plan_dict(contracts: Contracts) -> dict[str, Any]:
    indexes = plan_indexes(contracts)
    return {
        "job_name": "job-9",
        "topics": list(indexes.topics),
        "contracts": [{"name": c.name, "topic_index": c.topic_index} for c in indexes.contracts],
        "models": [
            {"name": m.name, "contract_index": m.contract_index, "treated": list(m.treated)} for m in indexes.models
        ],
    }


def offline(source: SchemaSource) -> type[RouteBatches]:
    class Offline(RouteBatches):
        def _schema_source(self, settings: Settings) -> SchemaSource:
            assert settings.job.pii_salt.reveal() == SALT  # the worker's secrets are back
            return source

    return Offline


@pytest.fixture(autouse=True)
def worker_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's own settings sources: its environment."""
    monkeypatch.setenv("LAKEGATE_PII_SALT", SALT)
    monkeypatch.setenv("LAKEGATE_SCHEMAS_DIR", str(SCHEMAS))


def batch(contracts: Contracts, encode: Encode) -> bytes:
    topics = plan_indexes(contracts).topics
    users, tickets = contracts.by_name("users"), contracts.by_name("tickets")
    user, ticket = EVENTS["users"](), EVENTS["tickets"]()
    return write_input(
        [
            InputRecord(topics.index(users.topic), 0, 1, 2, b"U-42", encode(users, user)),
            InputRecord(topics.index(tickets.topic), 0, 1, 2, b"T-1001", encode(tickets, ticket)),
            InputRecord(topics.index(tickets.topic), 0, 2, 2, b"wrong", encode(tickets, ticket)),
            InputRecord(topics.index(users.topic), 0, 3, 2, b"U-42", b"\x01\x00\x00\x00\x01"),
        ]
    )


def test_map_routes_and_counts_what_python_decides(
    contracts: Contracts, schemas: InMemorySchemas, encode: Encode
) -> None:
    reporter = FakeReporter()
    function = offline(schemas)(Settings.load(schemas_dir=SCHEMAS), plan_dict(contracts))
    function.open(Context(reporter))
    entries = read_result(function.map(batch(contracts, encode)))
    assert [type(e) for e in entries] == [ValidEntry, ValidEntry, QuarantinedEntry, QuarantinedEntry]
    # Each batch's counts reach Flink with the batch: no later call may come to flush them (an idle topic).
    flushed = {key: counter.value for key, counter in reporter.counters.items()}
    assert flushed
    function.map(write_input([]))
    assert {key: counter.value for key, counter in reporter.counters.items()} == flushed, "an empty batch adds nothing"
    function.map(batch(contracts, encode))
    function.close()
    records = reporter.values(
        "flink_taskmanager_job_task_operator_lakegate_topic_contract_schema_version_outcome_records"
    )
    assert {dict(labels)["outcome"] for labels in records} == {catalogue.QUARANTINED_OUTCOME}
    assert sum(records.values()) == 4  # two batches, two quarantined each
    reasons = reporter.values("flink_taskmanager_job_task_operator_lakegate_contract_reason_rule_quarantined_records")
    assert {(dict(k)["reason"], v) for k, v in reasons.items()} == {("wrong_key", 2), ("bad_magic_byte", 2)}
    decode_total = sum(
        v
        for labels, v in reporter.values(
            "flink_taskmanager_job_task_operator_lakegate_contract_decode_seconds_bound_observations"
        ).items()
        if dict(labels)["bound"] == "+Inf"
    )
    assert decode_total == 8  # every record of both batches is timed
    freshness = reporter.values(
        "flink_taskmanager_job_task_operator_lakegate_contract_freshness_seconds_bound_observations", bound="+Inf"
    )
    assert {dict(k)["contract"]: v for k, v in freshness.items()} == {"users": 2, "tickets": 2}
    first_seen = reporter.values(
        "flink_taskmanager_job_task_operator_lakegate_contract_schema_version_first_seen_timestamp_seconds"
    )
    assert {(dict(k)["contract"], dict(k)["schema_version"]) for k in first_seen} == {("users", "1"), ("tickets", "3")}


def test_registry_outage_fails_the_task(contracts: Contracts, encode: Encode) -> None:
    class Down:
        def writer_schema(self, schema_id: int) -> WriterSchema:
            raise RegistryUnavailable("registry down")

    function = offline(Down())(Settings.load(schemas_dir=SCHEMAS), plan_dict(contracts))
    function.open(Context(FakeReporter()))
    with pytest.raises(RegistryUnavailable):
        function.map(batch(contracts, encode))


def test_the_pickled_function_carries_no_secrets(contracts: Contracts) -> None:
    settings = Settings.load(schemas_dir=SCHEMAS)
    assert settings.job.pii_salt.reveal() == SALT
    function = RouteBatches(settings, plan_dict(contracts))
    assert SALT.encode() not in pickle.dumps(function)
