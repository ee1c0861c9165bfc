"""Replay: fix a contract, replay quarantine, the fixed records land once; replay again, nothing changes; a
replay while another holds the lease is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lakegate.catalog import open_catalog, replay_lease
from lakegate.lease import Lease
from lakegate.produce import produce
from lakegate.replay import effective_quarantine
from lakegate.settings import Settings
from lakegate.testing.lake import own_lake
from lakegate.testing.plugin import JobRun
from lakegate.testing.readers import read_audit, read_quarantine, read_records, topic_coordinates
from udfs.contract import load_contracts
from udfs.reasons import Reason
from udfs.router import Router, Valid

pytestmark = pytest.mark.job


def _drop_rules(schemas: Path) -> None:
    """The "contract fix": every rule is removed (rules and PII are the trailing TOML tables)."""
    for contract in schemas.glob("*/contract.toml"):
        contract.write_text(contract.read_text().split("\n[", 1)[0] + "\n")


def _audit(settings: Settings) -> dict[tuple[str, int, int], str]:
    out: dict[tuple[str, int, int], str] = {}
    for contract in load_contracts(settings.paths.schemas_dir):
        for row in read_audit(settings, contract).to_pylist():
            coordinate = (row["lg_topic"], row["lg_partition"], row["lg_offset"])
            assert coordinate not in out, f"{coordinate} audited twice"
            out[coordinate] = row[contract.event_id_field]
    return out


def _event_ids(settings: Settings, coordinates: set[tuple[str, int, int]]) -> dict[tuple[str, int, int], str]:
    """The event id of each record at ``coordinates``, read from the topics with the (fixed) contracts."""
    contracts = load_contracts(settings.paths.schemas_dir)
    router = Router(contracts, settings.registry_client())
    out = {}
    for record in read_records(settings, sorted({c[0] for c in coordinates})):
        coordinate = (record.topic, record.partition, record.offset)
        if coordinate in coordinates:
            routed = router.route(record)
            assert isinstance(routed, Valid), (coordinate, routed)
            out[coordinate] = routed.envelope.event_id
    assert out.keys() == coordinates
    return out


def test_replay_after_a_contract_fix_lands_fixed_records_once(
    lakegate_stack: Settings, run_job: Callable[..., JobRun], tmp_path: Path
) -> None:
    settings, contracts = own_lake(lakegate_stack, tmp_path, "replay")
    schemas = settings.paths.schemas_dir
    report = produce(
        settings, contracts, 800, bad_fraction=0.25, seed=909, bad_kinds=[Reason.rule_violation, Reason.bad_magic_byte]
    )
    run_job("ingest", settings)
    before = _audit(settings)
    quarantined = read_quarantine(settings).to_pylist()
    fixable = {
        (r["source_topic"], r["source_partition"], r["source_offset"])
        for r in quarantined
        if r["reason"] == "rule_violation"
    }
    mine = {(r.topic, r.partition, r.offset): r for r in report.records}
    assert {c for c, r in mine.items() if r.expected == "rule_violation"} <= fixable
    assert fixable.isdisjoint(before)

    _drop_rules(schemas)
    fixed = settings.replace()  # same settings; the job reads the edited contracts from schemas_dir
    with Lease(open_catalog(fixed), replay_lease(fixed), "a replay started elsewhere"):
        refused = run_job("replay", fixed, check=False)
    assert refused.returncode == 2
    assert "a replay started elsewhere is already running" in refused.log.read_text()
    assert _audit(fixed) == before, "the refused replay wrote nothing"
    run_job("replay", fixed)
    after = _audit(fixed)
    # A bad record can share an event id with a valid one: exactly one record per fixable event lands unless
    # its contract audited that event id already, nothing else. Event ids are per contract (a topic here):
    # the generator's seeds repeat them across contracts.
    added = set(after) - set(before)
    event_of = _event_ids(fixed, fixable)
    assert added <= fixable, "only fixed records are added"
    expected = {(c[0], event_of[c]) for c in fixable} - {(c[0], e) for c, e in before.items()}
    assert sorted((c[0], after[c]) for c in added) == sorted(expected), "each fixed event lands once"
    assert set(before) <= set(after)
    for coordinate in fixable & set(mine):
        assert after[coordinate] == mine[coordinate].event_id
    still = {c for c, r in mine.items() if r.expected == "bad_magic_byte"}
    assert still and still.isdisjoint(after), "records that still fail stay in quarantine only"

    run_job("replay", fixed)
    assert _audit(fixed) == after, "replaying twice adds nothing"

    quarantine_coordinates = [(r["source_topic"], r["source_partition"], r["source_offset"]) for r in quarantined]
    remaining = effective_quarantine(quarantine_coordinates, set(after))
    in_topics = topic_coordinates(settings, [c.topic for c in contracts])
    assert set(after) | remaining == in_topics
    assert set(after).isdisjoint(remaining)
