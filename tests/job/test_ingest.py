"""The ingest job on a Flink MiniCluster against a real broker, a real registry and real Iceberg tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from lakegate.produce import DEFAULT_BAD_KINDS, VALID, ProduceReport, produce
from lakegate.settings import Settings
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import (
    DeadLetter,
    read_audit,
    read_dead_letters,
    read_quarantine,
    read_records,
    topic_coordinates,
)
from udfs.audit import audit_columns, audit_values
from udfs.columns import ColumnKind
from udfs.contract import Contracts
from udfs.decode import decode
from udfs.expressions import violation
from udfs.router import Router, Valid
from udfs.wire import parse_frame

pytestmark = pytest.mark.job

Coordinate = tuple[str, int, int]


@pytest.fixture(scope="module")
def ingested(
    lakegate_stack: Settings, lakegate_contracts: Contracts, run_job: Callable[..., JobRun]
) -> tuple[ProduceReport, dict[Coordinate, str], list[Coordinate], list[DeadLetter]]:
    report = produce(lakegate_stack, lakegate_contracts, 3000, bad_fraction=0.12, seed=20261121)
    run_job("ingest", lakegate_stack)
    audit_ids: dict[Coordinate, str] = {}
    audit_coords: list[Coordinate] = []
    for contract in lakegate_contracts:
        rows = read_audit(lakegate_stack, contract).to_pylist()
        for row in rows:
            coord = (row["lg_topic"], row["lg_partition"], row["lg_offset"])
            audit_coords.append(coord)
            audit_ids[coord] = row[contract.event_id_field]
    return report, audit_ids, audit_coords, read_dead_letters(lakegate_stack)


def test_every_record_lands_in_exactly_one_place(  # type: ignore[no-untyped-def]
    ingested, lakegate_stack: Settings, lakegate_contracts: Contracts
) -> None:
    report, _, audit_coords, dead = ingested
    # Other job tests write to the same contract topics, and the job reads them from the start: the
    # invariant covers every record in the topics, this test's 3,000 among them.
    produced = topic_coordinates(lakegate_stack, [c.topic for c in lakegate_contracts])
    assert {(r.topic, r.partition, r.offset) for r in report.records} <= produced
    quarantined = [d.source for d in dead]
    assert len(report.records) == 3000
    assert len(audit_coords) == len(set(audit_coords)), "a record appears twice in the audit log"
    assert len(quarantined) == len(set(quarantined)), "a record appears twice in quarantine"
    assert set(audit_coords).isdisjoint(quarantined)
    assert set(audit_coords) | set(quarantined) == produced


def test_valid_records_are_audited_with_their_event_id(ingested) -> None:  # type: ignore[no-untyped-def]
    report, audit_ids, _, _ = ingested
    valid = [r for r in report.records if r.expected == VALID]
    assert 2000 < len(valid) < 3000
    for r in valid:
        assert audit_ids.get((r.topic, r.partition, r.offset)) == r.event_id


def test_audit_rows_hold_every_field_as_routed(  # type: ignore[no-untyped-def]
    ingested, lakegate_stack: Settings, lakegate_contracts: Contracts
) -> None:
    """Every column of every audit row equals what the router makes of the source record (the JVM builds
    the rows from the Avro body and the envelope, AuditRows.java; this catches any field it gets wrong)."""
    router = Router(lakegate_contracts, lakegate_stack.registry_client())
    duplicates = {d.source for d in ingested[3] if d.reason == "duplicate_event_id"}
    compared = 0
    by_coordinate = {}
    for contract in lakegate_contracts:
        for row in read_audit(lakegate_stack, contract).to_pylist():
            by_coordinate[(row["lg_topic"], row["lg_partition"], row["lg_offset"])] = (contract, row)
    for record in read_records(lakegate_stack, [c.topic for c in lakegate_contracts]):
        result = router.route(record)
        coordinate = (record.topic, record.partition, record.offset)
        if not isinstance(result, Valid) or coordinate in duplicates:
            continue
        contract, row = by_coordinate.pop(coordinate)
        columns = audit_columns(contract)
        expected = dict(zip([c.name for c in columns], audit_values(result, columns), strict=True))
        for column in columns:
            value = row[column.name]
            if column.kind is ColumnKind.timestamp_ms and value is not None:
                value = round(value.timestamp() * 1000)
            if column.name != "lg_ingest_time":  # when the job read it, not when this test did
                assert value == expected[column.name], (column.name, record.offset)
        compared += 1
    assert compared > 2000
    assert not by_coordinate, "audit rows without a valid source record"


def test_bad_records_are_quarantined_unchanged_with_their_reason(ingested) -> None:  # type: ignore[no-untyped-def]
    report, _, _, dead = ingested
    by_source = {d.source: d for d in dead}
    bad = [r for r in report.records if r.expected != VALID]
    assert set(Counter(r.expected for r in bad)) == {str(k) for k in DEFAULT_BAD_KINDS}, "every kind, mixed in"
    for r in bad:
        letter = by_source[(r.topic, r.partition, r.offset)]
        assert letter.reason == r.expected
        assert letter.value == r.value, "the dead letter must carry the original bytes unchanged"
        assert letter.key == r.key
        assert letter.headers["lg.job_id"]
        assert letter.headers["lg.contract"] == r.contract


def test_cel_rules_quarantine_exactly_the_records_that_break_them_naming_the_rule(  # type: ignore[no-untyped-def]
    ingested, lakegate_stack: Settings, lakegate_contracts: Contracts
) -> None:
    """Every audited record holds each CEL rule of its contract; every record quarantined for one breaks it, and
    its dead letter names the rule and the fields the expression reads."""
    report, _, _, dead = ingested
    schemas = lakegate_stack.registry_client()
    expected = {(r.topic, r.partition, r.offset): r.expected for r in report.records}
    for contract in lakegate_contracts:
        cel_rules = {r.name: r for r in contract.rules if r.expression is not None}
        assert cel_rules, f"{contract.name} ships a CEL rule"
        for row in read_audit(lakegate_stack, contract).to_pylist():
            values = {k: int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v for k, v in row.items()}
            for rule in cel_rules.values():
                assert rule.expression is not None and violation(rule.expression, values) is None, (rule.name, row)
        broken = [
            d for d in dead if d.headers.get("lg.rule") in cel_rules and d.headers["lg.contract"] == contract.name
        ]
        assert broken, f"no record broke {contract.name}'s CEL rule"
        for letter in broken:
            rule = cel_rules[letter.headers["lg.rule"]]
            assert rule.expression is not None and letter.headers["lg.field"] == ",".join(rule.expression.fields)
            assert expected.get(letter.source) in (None, "rule_violation"), letter.source  # None: another test's
            assert letter.value is not None
            framed = parse_frame(letter.value)
            payload = decode(framed.body, schemas.writer_schema(framed.schema_id), contract.reader_schema)
            assert violation(rule.expression, payload) is not None, letter.source


def test_quarantine_table_holds_the_same_facts_as_the_dead_letter_topic(  # type: ignore[no-untyped-def]
    ingested, lakegate_stack: Settings
) -> None:
    report, _, _, dead = ingested
    rows = read_quarantine(lakegate_stack).to_pylist()
    by_source = {(r["source_topic"], r["source_partition"], r["source_offset"]): r for r in rows}
    assert len(by_source) == len(rows), "a record appears twice in the quarantine table"
    assert set(by_source) == {d.source for d in dead}
    for letter in dead:
        row = by_source[letter.source]
        assert row["reason"] == letter.reason
        assert row["original_value"] == letter.value
        assert row["original_key"] == letter.key
        assert row["job_id"] == letter.headers["lg.job_id"]
        assert row["message"] and row["error_class"]
        assert row["quarantined_at"] is not None
    expected = {(r.topic, r.partition, r.offset): r.expected for r in report.records if r.expected != VALID}
    assert {k: v["reason"] for k, v in by_source.items() if k in expected} == expected


def test_running_again_resumes_from_the_committed_offsets_and_adds_nothing(  # type: ignore[no-untyped-def]
    ingested, lakegate_stack: Settings, lakegate_contracts: Contracts, run_job: Callable[..., JobRun]
) -> None:
    _, _, audit_coords, dead = ingested
    more = produce(lakegate_stack, lakegate_contracts, 200, bad_fraction=0.2, seed=777)
    run_job("ingest", lakegate_stack)
    after: list[Coordinate] = []
    for contract in lakegate_contracts:
        after += [
            (r["lg_topic"], r["lg_partition"], r["lg_offset"]) for r in read_audit(lakegate_stack, contract).to_pylist()
        ]
    assert len(after) == len(set(after)), "the second run audited something twice"
    all_dead = [d.source for d in read_dead_letters(lakegate_stack)]
    assert len(all_dead) == len(set(all_dead)), "the second run quarantined something twice"
    new_dead = set(all_dead) - {d.source for d in dead}
    added = set(after) - set(audit_coords)
    assert set(audit_coords) <= set(after), "the second run lost audited rows"
    assert added == {(r.topic, r.partition, r.offset) for r in more.records if r.expected == VALID}
    assert set(new_dead) == {(r.topic, r.partition, r.offset) for r in more.records if r.expected != VALID}
