"""`lakegate contracts diff` (lakegate/contracts_diff.py): each kind of change on a small contract, the
verdict, and the git revision read without touching the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lakegate.contracts_diff import Change, DiffError, as_json, at_revision, diff, render, run_diff
from udfs.contract import load_contracts

from .support import SCHEMAS

V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "order_id", "type": "string"},
        {"name": "status", "type": "string"},
        {"name": "amount", "type": "int"},
        {"name": "email", "type": ["null", "string"], "default": None},
    ],
}
TOML = """name = "orders"
owner_team = "shop"
topic = "shop.orders.v1"
description = "Orders."
schemas = {schemas}
compatibility = "BACKWARD"
key_field = "order_id"
event_id_field = "event_id"
event_time_field = "event_time"
{extra}
"""
MODEL = """
[[read_models]]
name = "orders_current"
kind = "current"
key = ["order_id"]
fields = [{fields}]
event_type_field = "status"
upsert_on = ["OPEN"]
delete_on = ["CLOSED"]
order_by = "event_time"
"""


def write(root: Path, versions: list[dict[str, Any]], extra: str = "") -> Path:
    folder = root / "orders"
    folder.mkdir(parents=True)
    names = [f"order.v{i}.avsc" for i in range(1, len(versions) + 1)]
    for name, schema in zip(names, versions, strict=True):
        (folder / name).write_text(json.dumps(schema))
    (folder / "contract.toml").write_text(TOML.format(schemas=json.dumps(names), extra=extra))
    return root


def with_fields(*fields: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    kept = [f for f in V1["fields"] if f["name"] not in drop]  # type: ignore[index]
    return {**V1, "fields": [*kept, *fields]}


def changes(
    tmp_path: Path,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    *,
    toml_before: str = "",
    toml_after: str = "",
) -> list[Change]:
    """The diff between the orders contract with versions ``before`` and with ``after`` (plus TOML lines)."""
    old = load_contracts(write(tmp_path / "old", before, toml_before))
    new = load_contracts(write(tmp_path / "new", after, toml_after))
    return diff(old, new)


def shown(found: list[Change]) -> set[tuple[str, str, str, bool]]:
    return {(c.kind, c.subject, c.detail, c.breaking) for c in found}


def test_the_same_contracts_have_no_changes(tmp_path: Path) -> None:
    assert changes(tmp_path, [V1], [V1]) == []
    assert render([], "HEAD") == "schemas/ is the same as at HEAD: no contract changes."


def test_a_version_adding_an_optional_field_is_compatible(tmp_path: Path) -> None:
    v2 = with_fields({"name": "coupon", "type": ["null", "string"], "default": None})
    found = changes(tmp_path, [V1], [V1, v2])
    assert shown(found) == {
        ("version", "order.v2.avsc", "added as v2 (the reader schema now)", False),
        ("field", "coupon", "added, with a default", False),
        ("audit column", "coupon", "added (string, null in earlier rows)", False),
        ("compatibility", "BACKWARD", "2 versions compatible under BACKWARD", False),
    }
    assert render(found, "main").endswith("compatible: nothing marked !")


def test_a_field_added_without_a_default_breaks_backward_compatibility(tmp_path: Path) -> None:
    found = changes(tmp_path, [V1], [V1, with_fields({"name": "coupon", "type": "string"})])
    broken = [c for c in found if c.breaking]
    assert [(c.kind, c.subject) for c in broken] == [("audit column", "coupon"), ("compatibility", "BACKWARD")]
    assert "coupon" in broken[1].detail and "v2 reading v1" in broken[1].detail
    text = render(found, "main")
    assert "  ! compatibility BACKWARD: v2 reading v1" in text and text.endswith("BREAKING: 2 change(s) marked !")
    assert json.loads(as_json(found, "main"))["breaking"] is True


def test_a_rename_through_aliases_is_a_rename_not_a_removal_and_an_addition(tmp_path: Path) -> None:
    renamed = with_fields({"name": "state", "type": "string", "aliases": ["status"]}, drop=("status",))
    found = changes(tmp_path, [V1], [V1, renamed])
    fields = [c for c in found if c.kind == "field"]
    assert [(c.subject, c.detail) for c in fields] == [("status", "renamed status → state (aliases)")]
    # The audit table follows: the same column under the new name.
    assert [(c.subject, c.detail, c.breaking) for c in found if c.kind == "audit column"] == [
        ("state", "renamed status → state: `contracts publish` renames it (same field id, history kept)", False)
    ]
    assert not [c for c in found if c.breaking]


def test_a_retyped_field_that_the_audit_table_cannot_widen_is_breaking(tmp_path: Path) -> None:
    widened = with_fields({"name": "amount", "type": "long"}, drop=("amount",))
    found = changes(tmp_path, [V1], [V1, widened])
    assert ("audit column", "amount", "widened int → long", False) in shown(found)
    assert not [c for c in found if c.breaking]  # int → long: Avro promotes, Iceberg widens
    retyped = with_fields({"name": "amount", "type": "string"}, drop=("amount",))
    found = changes(tmp_path / "s", [V1], [V1, retyped])
    assert ("audit column", "amount", "int → string: the audit table cannot change the column's type", True) in shown(
        found
    )


def test_rules_pii_settings_and_read_models_are_listed(tmp_path: Path) -> None:
    before = '[pii]\nemail = "hash"\n\n[[rules]]\nfield = "amount"\nmin = 0\n' + MODEL.format(fields='"amount"')
    after = (
        'max_record_bytes = 4096\n[pii]\nemail = "mask"\n\n[[rules]]\nfield = "amount"\nmin = 1\n\n'
        '[[rules]]\nname = "open.has_amount"\nexpr = \'status != "OPEN" || amount > 0\'\n'
        + MODEL.format(fields='"amount", "email"')
    )
    found = changes(tmp_path, [V1], [V1], toml_before=before, toml_after=after)
    assert shown(found) == {
        ("setting", "max_record_bytes", "1048576 → 4096", False),
        ("pii", "email", "hash → mask: read models show new values from now on", False),
        ("rule", "amount.min", "min on amount (minimum 0) → min on amount (minimum 1)", False),
        (
            "rule",
            "open.has_amount",
            'added: expr status != "OPEN" || amount > 0 (records breaking it are quarantined)',
            False,
        ),
        (
            "read model",
            "orders_current",
            "declaration changed: `lakegate readmodels rebuild` it, then start without a checkpoint",
            False,
        ),
        ("compatibility", "BACKWARD", "1 version compatible under BACKWARD", False),
    }


def test_removing_a_contract_or_a_version_or_moving_its_topic_is_breaking(tmp_path: Path) -> None:
    old = load_contracts(write(tmp_path / "old", [V1, with_fields({"name": "x", "type": "int", "default": 0})]))
    gone = diff(old, load_contracts(tmp_path / "empty"))
    assert [(c.kind, c.breaking) for c in gone] == [("contract", True)]
    shorter = load_contracts(write(tmp_path / "one", [V1]))
    assert ("version", "order.v2.avsc", "removed: records written with it may not resolve", True) in shown(
        diff(old, shorter)
    )
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "one", moved)
    toml = moved / "orders" / "contract.toml"
    toml.write_text(toml.read_text().replace("shop.orders.v1", "shop.orders.v2"))
    topic = [c for c in diff(shorter, load_contracts(moved)) if c.subject == "topic"]
    assert [(c.detail, c.breaking) for c in topic] == [
        ("shop.orders.v1 → shop.orders.v2: records already written follow the old one", True)
    ]
    added = diff(load_contracts(tmp_path / "empty"), shorter)
    assert ("contract", "orders", "added: topic shop.orders.v1", False) in shown(added)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_command_compares_the_working_tree_with_a_git_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    schemas = repo / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "root")
    _git(repo, "add", "schemas")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "contracts")
    assert run_diff(schemas, "HEAD", machine=False) == 0
    assert "no contract changes" in capsys.readouterr().out
    users = schemas / "users" / "contract.toml"
    users.write_text(users.read_text().replace('topic = "support.users.v1"', 'topic = "support.users.v2"'))
    assert run_diff(schemas, "HEAD", machine=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["breaking"] is True and report["against"] == "HEAD"
    assert {(c["contract"], c["subject"]) for c in report["changes"] if c["breaking"]} == {("users", "topic")}
    before = at_revision(schemas, "HEAD~1", tmp_path / "root")  # before the contracts existed
    assert list(before) == []
    assert (repo / "schemas" / "users" / "contract.toml").read_text() == users.read_text()  # checkout untouched
    with pytest.raises(DiffError, match="'no-such-ref' is not a commit"):
        at_revision(schemas, "no-such-ref", tmp_path / "x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(DiffError, match="run it inside the project's git checkout"):
        at_revision(elsewhere, "HEAD", tmp_path / "y")


def test_read_models_added_and_removed(tmp_path: Path) -> None:
    model = MODEL.format(fields='"amount"')
    added = changes(tmp_path / "a", [V1], [V1], toml_after=model)
    assert [(c.subject, c.detail) for c in added if c.kind == "read model"] == [
        (
            "orders_current",
            "added: a new table and changelog topic; `lakegate readmodels rebuild` fills in the history",
        )
    ]
    removed = changes(tmp_path / "r", [V1], [V1], toml_before=model)
    assert [(c.subject, c.detail, c.breaking) for c in removed if c.kind == "read model"] == [
        ("orders_current", "removed: its table and topic stay, nothing updates them", False)
    ]
