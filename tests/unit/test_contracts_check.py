"""`lakegate contracts check`: pure checks, a loopback registry, a real pyiceberg SQL catalog, and the CLI."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lakegate import readmodels
from lakegate.catalog import ensure_audit_table, open_catalog
from lakegate.cli import main
from lakegate.contracts_check import (
    FAIL,
    OK,
    SKIP,
    Evolution,
    audit_table_problems,
    check_contracts,
    run_check,
    run_publish,
)
from lakegate.settings import Settings
from udfs.contract import Contract, load_contract
from udfs.errors import ContractError, RegistryUnavailable
from udfs.registry import RegistryClient

from .support import SCHEMAS


def schemas_root(tmp_path: Path) -> Path:
    """The shipped contracts, tickets as it was before v3 renamed satisfaction_score (v1 and v2)."""
    root = tmp_path / "schemas"
    for name in ("tickets", "users"):
        shutil.copytree(SCHEMAS / name, root / name)
    before_rename(root / "tickets" / "contract.toml")
    return root


def before_rename(toml: Path) -> None:
    text = toml.read_text()
    assert ', "ticket_event.v3.avsc"' in text and 'field = "csat_score"' in text
    toml.write_text(
        text.replace(', "ticket_event.v3.avsc"', "").replace('field = "csat_score"', 'field = "satisfaction_score"')
    )


def with_rename(root: Path) -> None:
    """Tickets as shipped: v3 renames satisfaction_score to csat_score."""
    shutil.copy(SCHEMAS / "tickets" / "contract.toml", root / "tickets" / "contract.toml")


def edit_v2(root: Path, change: dict[str, Any]) -> None:
    """Change fields of tickets v2: name -> new field dict (None removes it); new names are appended."""
    path = root / "tickets" / "ticket_event.v2.avsc"
    schema = json.loads(path.read_text())
    fields = {f["name"]: f for f in schema["fields"]}
    for name, new in change.items():
        if new is None:
            schema["fields"].remove(fields[name])
        elif name in fields:
            fields[name].clear()
            fields[name].update(new)
        else:
            schema["fields"].append(new)
    path.write_text(json.dumps(schema))


def lines(report_text: str, mark: str) -> list[str]:
    return [line.strip()[2:] for line in report_text.splitlines() if line.strip().startswith(mark + " ")]


def test_real_schemas_pass_offline() -> None:
    report = check_contracts(SCHEMAS)
    assert report.ok, report.render()
    text = report.render()
    assert text.endswith("RESULT: OK (2 contracts)")
    assert "✓ schema versions compatible under BACKWARD" in text
    assert "- registry: skipped (offline)" in text


def test_incompatible_version_fails_with_a_readable_line(tmp_path: Path) -> None:
    root = schemas_root(tmp_path)
    edit_v2(root, {"escalated": {"name": "escalated", "type": "boolean"}})  # no default: v2 cannot read v1
    report = check_contracts(root)
    assert not report.ok
    failed = lines(report.render(), FAIL)
    assert failed == [
        "BACKWARD: v2 reading v1: TicketEvent.escalated: field is missing in the writer and has no default in "
        'the reader; add a "default"'
    ]
    assert report.render().endswith("RESULT: FAILED (tickets)")
    assert next(c for c in report.contracts if c.name == "users").ok


def test_mode_none_accepts_it_and_broken_contracts_are_reported_not_raised(tmp_path: Path) -> None:
    root = schemas_root(tmp_path)
    edit_v2(root, {"escalated": {"name": "escalated", "type": "boolean"}})
    toml = root / "tickets" / "contract.toml"
    toml.write_text(toml.read_text().replace('compatibility = "BACKWARD"', 'compatibility = "NONE"'))
    assert check_contracts(root).ok
    users = root / "users" / "contract.toml"
    users.write_text(users.read_text().replace('key_field = "user_id"', 'key_feild = "user_id"'))
    report = check_contracts(root)
    assert [c.ok for c in report.contracts] == [True, False]
    assert "did you mean 'key_field'" in lines(report.render(), FAIL)[0]


def test_duplicate_topics_and_empty_roots_fail(tmp_path: Path) -> None:
    root = schemas_root(tmp_path)
    toml = root / "users" / "contract.toml"
    toml.write_text(toml.read_text().replace('topic = "support.users.v1"', 'topic = "support.tickets.v1"'))
    assert "topic 'support.tickets.v1' is also used by tickets" in check_contracts(root).render()
    empty = check_contracts(tmp_path / "nothing")
    assert not empty.ok
    assert "no contract.toml found" in empty.render()


# -- registry ---------------------------------------------------------------------------------------------


class FakeRegistry:
    def __init__(self, answers: dict[str, bool | Exception | None]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def is_compatible(self, subject: str, schema_text: str) -> bool | None:
        self.asked.append((subject, schema_text))
        answer = self.answers[subject]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_registry_verdicts(tmp_path: Path) -> None:
    fake = FakeRegistry({"support.tickets.v1-value": False, "support.users.v1-value": None})
    report = check_contracts(SCHEMAS, registry=fake)
    text = report.render()
    assert not report.ok
    assert "registry: newest version is NOT compatible with what is registered under support.tickets.v1-value" in text
    assert "✓ registry: nothing registered under support.users.v1-value yet" in text
    tickets = load_contract(SCHEMAS / "tickets")
    assert (tickets.subject, tickets.schema_texts[-1]) in fake.asked  # the newest version is the one asked


def test_unreachable_registry_is_skipped_once_not_failed() -> None:
    fake = FakeRegistry({"support.tickets.v1-value": RegistryUnavailable("connection refused")})
    report = check_contracts(SCHEMAS, registry=fake)
    assert report.ok
    assert len(fake.asked) == 1  # the second contract does not wait for the same timeout again
    assert len(lines(report.render(), SKIP)) == 4  # 2 x registry, 2 x audit table


@pytest.fixture
def loopback_registry() -> Iterator[tuple[str, list[str]]]:
    """A registry where tickets is registered (compatible) and users is not registered at all."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            paths.append(self.path)
            if self.path.endswith("/versions"):  # register: idempotent, one id per distinct request
                status, body = 200, {"id": len(paths)}
            elif "support.tickets.v1-value" in self.path:
                status, body = 200, {"is_compatible": True}
            else:
                status, body = 404, {"error_code": 40401, "message": "Subject not found"}
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_PUT(self) -> None:  # set a subject's compatibility level
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            paths.append(f"PUT {self.path} {body['compatibility']}")
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7", paths
    server.shutdown()
    server.server_close()


def test_against_a_loopback_registry(loopback_registry: tuple[str, list[str]]) -> None:
    url, paths = loopback_registry
    report = check_contracts(SCHEMAS, registry=RegistryClient(url, retries=0))
    assert report.ok, report.render()
    assert "/apis/ccompat/v7/compatibility/subjects/support.tickets.v1-value/versions/latest" in paths
    assert "✓ registry: newest version is compatible with support.tickets.v1-value" in report.render()


# -- Iceberg audit table ----------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home")


def tickets_v1_only(root: Path) -> Contract:
    toml = root / "tickets" / "contract.toml"
    text = toml.read_text().replace(', "ticket_event.v2.avsc"', "")  # v2 of the two-version tickets
    head, _, _ = text.partition("[[rules]]")
    folder = root.parent / "tickets-v1"
    shutil.copytree(root / "tickets", folder)
    (folder / "contract.toml").write_text(head)
    return load_contract(folder)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),  # v2 adds the optional satisfaction_score: fine
        ({"reply_count": {"name": "reply_count", "type": "long", "default": 0}}, None),  # int -> long promotes
        ({"customer_id": None}, "column 'customer_id' would be dropped"),
        ({"reply_count": {"name": "reply_count", "type": "string", "default": ""}}, "changes type from int to string"),
        ({"assignee_id": {"name": "assignee_id", "type": "string", "default": ""}}, "optional in the table but"),
        ({"escalated": {"name": "escalated", "type": "boolean", "default": False}}, "new column 'escalated' is"),
    ],
)
def test_audit_table_evolution(tmp_path: Path, settings: Settings, change: dict[str, Any], problem: str | None) -> None:
    root = schemas_root(tmp_path)
    catalog = open_catalog(settings)
    table = ensure_audit_table(catalog, settings, tickets_v1_only(root))
    toml = root / "tickets" / "contract.toml"
    head = toml.read_text().partition("[[rules]]")[0]  # rules would reject some changes before the table does
    toml.write_text(head.replace('compatibility = "BACKWARD"', 'compatibility = "NONE"'))
    edit_v2(root, change)
    contract = load_contract(root / "tickets")
    evolution = audit_table_problems(table, contract)
    if problem is None:
        assert evolution.problems == []
        assert "satisfaction_score" in evolution.added
    else:
        assert any(problem in p for p in evolution.problems), evolution.problems
    report = check_contracts(root, audit_table=lambda c: table if c.name == "tickets" else None)
    assert report.ok is (problem is None)
    text = report.render()
    assert "✓ audit table: does not exist yet" in text  # users
    if problem is None:
        assert "✓ audit table: can evolve, adds optional column(s) satisfaction_score" in text
    assert table.schema() == catalog.load_table(table.name()).schema(), "checking never changes the table"


def test_matching_table(settings: Settings) -> None:
    contract = load_contract(SCHEMAS / "users")
    table = ensure_audit_table(open_catalog(settings), settings, contract)
    assert audit_table_problems(table, contract) == Evolution([], [], {})
    assert (
        f"{OK} audit table: matches the contract"
        in check_contracts(SCHEMAS, audit_table=lambda c: table if c.name == "users" else None).render()
    )


# -- CLI --------------------------------------------------------------------------------------------------


def test_cli_check_offline_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = schemas_root(tmp_path)
    monkeypatch.setenv("LAKEGATE_SCHEMAS_DIR", str(root))
    monkeypatch.setenv("LAKEGATE_HOME", str(tmp_path / "home"))  # no catalog there: Iceberg part skipped
    assert main(["contracts", "check", "--offline"]) == 0
    assert "RESULT: OK (2 contracts)" in capsys.readouterr().out
    assert not (tmp_path / "home" / "catalog.db").exists(), "a check must not create a catalog"

    edit_v2(root, {"assignee_id": {"name": "assignee_id", "type": ["null", "int"], "default": None}})
    assert main(["contracts", "check", "--offline"]) == 1
    out = capsys.readouterr().out
    assert (
        "✗ BACKWARD: v2 reading v1: TicketEvent.assignee_id[string]: the reader's union ['null', 'int'] "
        "has no branch for the writer's string"
    ) in out
    assert "RESULT: FAILED (tickets)" in out


def test_publish_checks_then_registers_every_version(
    tmp_path: Path, loopback_registry: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, paths = loopback_registry
    settings = Settings.load(env={}, home=tmp_path / "home", registry_url=url, schemas_dir=SCHEMAS)
    assert run_publish(settings) == 0
    out = capsys.readouterr().out
    published = "published tickets to support.tickets.v1-value (compatibility BACKWARD)"
    assert f"{published}: v1 → id 3, v2 → id 4, v3 → id 5" in out
    assert "published users to support.users.v1-value (compatibility BACKWARD): v1 → id 7" in out
    assert "PUT /apis/ccompat/v7/config/support.tickets.v1-value BACKWARD" in paths
    assert "audit table lakegate.audit.tickets: ready" in out

    root = schemas_root(tmp_path)
    edit_v2(root, {"escalated": {"name": "escalated", "type": "boolean"}})
    paths.clear()
    assert run_publish(settings.replace(schemas_dir=root)) == 1
    assert "publish: nothing registered" in capsys.readouterr().out
    assert not [p for p in paths if p.endswith("/versions")]


def test_publish_refuses_without_a_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.load(env={}, home=tmp_path / "home", registry_url="http://127.0.0.1:9/x", schemas_dir=SCHEMAS)
    assert run_publish(settings) == 1
    assert "the registry is not reachable" in capsys.readouterr().out


def test_the_online_check_fails_when_the_registry_cannot_be_asked(tmp_path: Path) -> None:
    settings = Settings.load(
        env={}, home=tmp_path / "home", schemas_dir=SCHEMAS, registry_url="http://127.0.0.1:1/apis/ccompat/v7"
    )  # nothing listens on port 1
    out: list[str] = []
    assert run_check(settings, out=out.append) == 1
    assert any("registry is not reachable" in line for line in out)
    assert run_check(settings, offline=True, out=out.append) == 0


# -- renames (aliases) ------------------------------------------------------------------------------------


def field_ids(table: Any) -> dict[str, int]:
    return {f.name: f.field_id for f in table.schema().fields}


def test_a_rename_is_checked_then_published_as_a_column_rename_of_the_audit_and_model_tables(
    tmp_path: Path, loopback_registry: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root = schemas_root(tmp_path)
    toml = root / "tickets" / "contract.toml"
    model_fields = 'fields = ["customer_id", "status", "priority", "assignee_id", "reply_count"'
    toml.write_text(toml.read_text().replace(model_fields, model_fields + ', "satisfaction_score"'))
    url, _ = loopback_registry
    settings = Settings.load(env={}, home=tmp_path / "home", registry_url=url, schemas_dir=root)
    assert run_publish(settings) == 0, capsys.readouterr().out
    catalog = open_catalog(settings)
    before = load_contract(root / "tickets")
    audit = catalog.load_table("audit.tickets")
    model = readmodels.ensure_table(catalog, settings, before.read_models[0], before)
    audit_id, model_id = field_ids(audit)["satisfaction_score"], field_ids(model)["satisfaction_score"]
    capsys.readouterr()

    with_rename(root)
    toml.write_text(toml.read_text().replace(model_fields, model_fields + ', "csat_score"'))
    after = load_contract(root / "tickets")
    assert after.renames == {"satisfaction_score": "csat_score"}
    evolution = audit_table_problems(audit, after)
    assert (evolution.problems, evolution.added, evolution.renamed) == ([], [], {"satisfaction_score": "csat_score"})
    text = check_contracts(root, audit_table=lambda c: audit if c.name == "tickets" else None).render()
    assert "✓ renames: satisfaction_score → csat_score (aliases): old writers' values read as csat_score" in text
    assert "✓ audit table: can evolve, renames column satisfaction_score → csat_score" in text
    assert field_ids(catalog.load_table("audit.tickets")) == field_ids(audit), "checking never changes the table"

    assert run_publish(settings) == 0
    out = capsys.readouterr().out
    assert "read-model table lakegate.readmodels.open_tickets: renamed satisfaction_score" in out, out
    renamed_audit, renamed_model = catalog.load_table("audit.tickets"), catalog.load_table("readmodels.open_tickets")
    assert "satisfaction_score" not in field_ids(renamed_audit)
    assert field_ids(renamed_audit)["csat_score"] == audit_id, "the same column: history keeps its values"
    assert field_ids(renamed_model)["csat_score"] == model_id
    assert readmodels.ensure_table(catalog, settings, after.read_models[0], after).schema() == renamed_model.schema()
    assert run_publish(settings) == 0  # again: nothing left to rename
    assert "renamed" not in capsys.readouterr().out


def test_a_rename_without_an_alias_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = schemas_root(tmp_path)
    with_rename(root)
    v3 = root / "tickets" / "ticket_event.v3.avsc"
    v3.write_text(v3.read_text().replace('"aliases": ["satisfaction_score"], ', ""))
    report = check_contracts(root)
    assert not report.ok
    assert (
        "✗ renames: field 'satisfaction_score' of v2 is not in the last version; if 'csat_score' renames it, "
        'add "aliases": ["satisfaction_score"] to \'csat_score\''
    ) in report.render()


def test_a_dropped_field_is_refused_even_without_a_table(tmp_path: Path) -> None:
    root = schemas_root(tmp_path)
    toml = root / "tickets" / "contract.toml"
    toml.write_text(toml.read_text().partition("[[rules]]")[0])  # no rule or read model names the field
    edit_v2(root, {"assignee_id": None})
    assert "✗ renames: field 'assignee_id' of v1 is not in the last version; audit tables never lose a column" in (
        check_contracts(root).render()
    )


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('field = "csat_score"', 'field = "satisfaction_score"', "rules[5].field"),
        ("expr = 'first_response_seconds != null", "expr = 'satisfaction_score != null", "rules[6].expr"),
        ('"reply_count"]', '"reply_count", "satisfaction_score"]', "read_models[0].fields"),
        ("[[read_models]]", '[pii]\nsatisfaction_score = "drop"\n\n[[read_models]]', "pii"),
    ],
)
def test_a_field_named_by_its_old_name_is_refused_with_its_new_name(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    root = schemas_root(tmp_path)
    with_rename(root)
    toml = root / "tickets" / "contract.toml"
    assert old in toml.read_text()
    toml.write_text(toml.read_text().replace(old, new, 1))
    with pytest.raises(ContractError) as refused:
        load_contract(root / "tickets")
    assert str(refused.value.field).startswith(where), refused.value
    assert "'satisfaction_score' is renamed 'csat_score' in the last schema version (its aliases)" in refused.value.fix
