"""Contract loading: the real schemas/ folder and every validation error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from udfs.contract import (
    DEFAULT_DEDUPE_WINDOW_S,
    DEFAULT_MAX_RECORD_BYTES,
    MAX_DEDUPE_WINDOW_S,
    load_contract,
    load_contracts,
)
from udfs.errors import ContractError

from .support import SCHEMAS


def test_real_contracts_load() -> None:
    contracts = load_contracts(SCHEMAS)
    assert len(contracts) == 2
    assert sorted(c.name for c in contracts) == ["tickets", "users"]
    tickets = contracts.by_name("tickets")
    assert contracts.by_topic("support.tickets.v1") is tickets
    assert contracts.by_topic("nope") is None
    assert (tickets.owner_team, tickets.key_field, tickets.event_id_field, tickets.event_time_field) == (
        "support-core",
        "ticket_id",
        "event_id",
        "event_time",
    )
    assert tickets.max_record_bytes == DEFAULT_MAX_RECORD_BYTES
    assert tickets.reader_schema_json["name"] == "TicketEvent"
    assert len(tickets.schema_texts) == 3
    assert tickets.renames == {"satisfaction_score": "csat_score"}  # v3
    assert tickets.version_of(tickets.schema_texts[0]) == 1
    assert tickets.version_of(tickets.schema_texts[1]) == 2
    with pytest.raises(KeyError, match="known"):
        contracts.by_name("nope")


def test_version_of_uses_canonical_form() -> None:
    users = load_contracts(SCHEMAS).by_name("users")
    reformatted = json.dumps({**json.loads(users.schema_texts[0]), "doc": "other doc"}, indent=4)
    assert users.version_of(reformatted) == 1
    assert users.version_of('{"type": "string"}') is None
    assert users.version_of("not json") is None


@pytest.fixture
def tickets_dir(tmp_path: Path) -> Path:
    target = tmp_path / "tickets"
    shutil.copytree(SCHEMAS / "tickets", target)
    return target


def set_toml(directory: Path, text: str) -> None:
    (directory / "contract.toml").write_text(text)


def edit_toml(directory: Path, old: str, new: str) -> None:
    path = directory / "contract.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


READER = "ticket_event.v3.avsc"  # the last listed version of the tickets contract
VERSIONS = 'schemas = ["ticket_event.v1.avsc", "ticket_event.v2.avsc", "ticket_event.v3.avsc"]'


def edit_schema(directory: Path, change: dict[str, object]) -> None:
    path = directory / READER
    schema = json.loads(path.read_text())
    fields = {f["name"]: f for f in schema["fields"]}
    for name, new_type in change.items():
        if new_type is None:
            schema["fields"].remove(fields[name])
        else:
            fields[name]["type"] = new_type
    path.write_text(json.dumps(schema))


def error_of(directory: Path) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_contract(directory)
    return info.value


def test_evolution_versions_load_and_are_numbered(tickets_dir: Path) -> None:
    v1 = json.loads((tickets_dir / "ticket_event.v1.avsc").read_text())
    v2 = json.loads((tickets_dir / "ticket_event.v2.avsc").read_text())
    v3 = json.loads((tickets_dir / READER).read_text())
    v4 = {**v3, "fields": [*v3["fields"], {"name": "tags_csv", "type": "string", "default": ""}]}
    (tickets_dir / "ticket_event.v4.avsc").write_text(json.dumps(v4))
    edit_toml(tickets_dir, '"ticket_event.v3.avsc"]', '"ticket_event.v3.avsc", "ticket_event.v4.avsc"]')
    contract = load_contract(tickets_dir)
    assert [f["name"] for f in contract.reader_schema_json["fields"]][-1] == "tags_csv"
    assert contract.version_of(json.dumps(v1)) == 1
    assert contract.version_of(json.dumps(v2)) == 2
    assert contract.version_of(json.dumps(v3)) == 3
    assert contract.version_of(json.dumps(v4)) == 4


def test_optional_max_record_bytes(tickets_dir: Path) -> None:
    edit_toml(tickets_dir, 'key_field = "ticket_id"', 'key_field = "ticket_id"\nmax_record_bytes = 4096')
    assert load_contract(tickets_dir).max_record_bytes == 4096


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        (
            'key_field = "ticket_id"',
            'key_field = "ticket_id"\nkey_feild = "x"',
            "key_feild",
            "did you mean 'key_field'",
        ),
        ('owner_team = "support-core"\n', "", "owner_team", "is required"),
        ('topic = "support.tickets.v1"', "topic = 7", "topic", "non-empty string"),
        ('topic = "support.tickets.v1"', 'topic = ""', "topic", "non-empty string"),
        (
            'key_field = "ticket_id"',
            'key_field = "ticket_id"\nmax_record_bytes = "big"',
            "max_record_bytes",
            "integer",
        ),
        (
            'key_field = "ticket_id"',
            'key_field = "ticket_id"\nmax_record_bytes = 0',
            "max_record_bytes",
            "integer",
        ),
        (VERSIONS, "schemas = []", "schemas", "non-empty list"),
        (VERSIONS, 'schemas = ["missing.avsc"]', "schemas[0]", "does not exist"),
        (
            VERSIONS,
            'schemas = ["../users/user_event.v1.avsc"]',
            "schemas[0]",
            "plain .avsc",
        ),
        ('key_field = "ticket_id"', 'key_field = "nope"', "key_field", "not in the reader schema"),
        ('key_field = "ticket_id"', 'key_field = "assignee_id"', "key_field", "non-null string"),
        ('key_field = "ticket_id"', 'key_field = "reply_count"', "key_field", "non-null string"),
        ('event_id_field = "event_id"', 'event_id_field = "priority"', "event_id_field", "non-null string"),
        (
            'event_time_field = "event_time"',
            'event_time_field = "first_response_seconds"',
            "event_time_field",
            "timestamp-millis",
        ),
        (
            'event_time_field = "event_time"',
            'event_time_field = "reply_count"',
            "event_time_field",
            "timestamp-millis",
        ),
    ],
)
def test_toml_validation_errors(tickets_dir: Path, old: str, new: str, field: str, needle: str) -> None:
    edit_toml(tickets_dir, old, new)
    error = error_of(tickets_dir)
    assert error.field == field
    assert needle in str(error)
    assert str(error).startswith(str(error.path))
    assert f"field '{field}'" in str(error)
    assert ". Fix: " in str(error)


def test_toml_syntax_error(tickets_dir: Path) -> None:
    set_toml(tickets_dir, "name = ")
    error = error_of(tickets_dir)
    assert "not valid TOML" in str(error)
    assert error.path == tickets_dir / "contract.toml"


def test_missing_contract_file(tmp_path: Path) -> None:
    assert "file not found" in str(error_of(tmp_path))


def test_schema_file_not_json(tickets_dir: Path) -> None:
    (tickets_dir / "ticket_event.v1.avsc").write_text("{ not json")
    error = error_of(tickets_dir)
    assert error.path == tickets_dir / "ticket_event.v1.avsc"
    assert "not valid JSON" in str(error)


def test_schema_file_not_avro(tickets_dir: Path) -> None:
    (tickets_dir / "ticket_event.v1.avsc").write_text(
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuch"}]}'
    )
    error = error_of(tickets_dir)
    assert "not a valid Avro schema" in str(error)
    assert error.field == "schemas[0]"


def test_reader_schema_must_be_a_record(tickets_dir: Path) -> None:
    (tickets_dir / READER).write_text('"string"')
    assert "must be a record" in str(error_of(tickets_dir))


def test_unsupported_column_type_names_the_field(tickets_dir: Path) -> None:
    edit_schema(tickets_dir, {"subject": {"type": "array", "items": "string"}})
    error = error_of(tickets_dir)
    assert error.field == "subject"
    assert "not supported yet in audit columns" in str(error)


def test_reserved_prefix(tickets_dir: Path) -> None:
    path = tickets_dir / READER
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "lg_topic", "type": "string", "default": ""})
    path.write_text(json.dumps(schema))
    assert error_of(tickets_dir).field == "lg_topic"


@pytest.mark.parametrize("key", ["name", "topic"])
def test_duplicate_names_and_topics(tmp_path: Path, key: str) -> None:
    shutil.copytree(SCHEMAS / "tickets", tmp_path / "a")
    shutil.copytree(SCHEMAS / "tickets", tmp_path / "b")
    other = 'name = "tickets"' if key == "topic" else 'topic = "support.tickets.v1"'
    replacement = 'name = "tickets2"' if key == "topic" else 'topic = "other.topic"'
    edit_toml(tmp_path / "b", other, replacement)
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path)
    assert info.value.field == key
    assert info.value.path == tmp_path / "b" / "contract.toml"
    assert "already used" in str(info.value)


def test_directories_without_contract_are_ignored(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS / "users", tmp_path / "users")
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_text("hi")
    assert [c.name for c in load_contracts(tmp_path)] == ["users"]


def test_dedupe_window_defaults_to_a_day(tickets_dir: Path) -> None:
    assert "dedupe_window_s" not in (tickets_dir / "contract.toml").read_text()
    assert load_contract(tickets_dir).dedupe_window_s == DEFAULT_DEDUPE_WINDOW_S == 86_400


@pytest.mark.parametrize("seconds", [0, 1, 3600, MAX_DEDUPE_WINDOW_S])
def test_dedupe_window_is_set_in_seconds_and_zero_disables_it(tickets_dir: Path, seconds: int) -> None:
    edit_toml(tickets_dir, 'key_field = "ticket_id"', f'key_field = "ticket_id"\ndedupe_window_s = {seconds}')
    assert load_contract(tickets_dir).dedupe_window_s == seconds


@pytest.mark.parametrize("value", ["-1", str(MAX_DEDUPE_WINDOW_S + 1), "true", '"1d"', "1.5"])
def test_dedupe_window_validation(tickets_dir: Path, value: str) -> None:
    edit_toml(tickets_dir, 'key_field = "ticket_id"', f'key_field = "ticket_id"\ndedupe_window_s = {value}')
    error = error_of(tickets_dir)
    assert error.field == "dedupe_window_s"
    assert "between 0 (no dedupe) and 2592000" in str(error)
    assert ". Fix: " in str(error)


def test_dedupe_window_typo_is_caught(tickets_dir: Path) -> None:
    edit_toml(tickets_dir, 'key_field = "ticket_id"', 'key_field = "ticket_id"\ndedup_window_s = 60')
    error = error_of(tickets_dir)
    assert (error.field, "did you mean 'dedupe_window_s'" in str(error)) == ("dedup_window_s", True)
