"""The benchmark's contracts: the repo's, plus a free-text field, own topics, the read models asked for."""

from __future__ import annotations

from pathlib import Path

from bench.data import PAD_FIELD, bench_contracts, padding_for
from udfs.contract import load_contracts

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_bench_contracts_add_the_padding_field_and_keep_everything_else(tmp_path: Path) -> None:
    original = load_contracts(SCHEMAS)
    derived = bench_contracts(SCHEMAS, tmp_path / "s", topic_prefix="bench.x.", read_models=["open_tickets"])
    assert [c.name for c in derived] == [c.name for c in original]
    for before in original:
        after = derived.by_name(before.name)
        assert after.topic == f"bench.x.{before.name}"
        assert after.schema_texts[:-1] == before.schema_texts  # one version more, a compatible one
        assert [f["name"] for f in after.reader_schema_json["fields"]] == [
            *(f["name"] for f in before.reader_schema_json["fields"]),
            PAD_FIELD,
        ]
        assert after.rules == before.rules and after.pii == before.pii
    assert [m.name for c in derived for m in c.read_models] == ["open_tickets"]
    every = bench_contracts(SCHEMAS, tmp_path / "all", topic_prefix="b.", read_models=None)
    assert [m.name for c in every for m in c.read_models] == [m.name for c in original for m in c.read_models]


def test_padding_for_targets_the_average_record_size(tmp_path: Path) -> None:
    derived = bench_contracts(SCHEMAS, tmp_path / "s", topic_prefix="b.", read_models=[])
    assert 650 < padding_for(derived, 850).chars < 800
    assert padding_for(derived, 10).chars == 0


def test_bench_contracts_without_expression_rules_keep_every_other_rule(tmp_path: Path) -> None:
    every = bench_contracts(SCHEMAS, tmp_path / "all", topic_prefix="b.", read_models=None)
    without = bench_contracts(SCHEMAS, tmp_path / "no", topic_prefix="b.", read_models=None, expression_rules=False)
    for full, bare in zip(every, without, strict=True):
        assert any(r.expression is not None for r in full.rules), full.name  # the shipped ones have one each
        assert bare.rules == tuple(r for r in full.rules if r.expression is None)
        assert bare.read_models == full.read_models
