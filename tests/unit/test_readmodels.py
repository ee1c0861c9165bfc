"""Read models (udfs/readmodels/): declarations, ordering, aggregates, PII, JSON, fold and the change log."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import random
import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from lakegate import model_state
from udfs.columns import Column, ColumnKind
from udfs.contract import Contract, Contracts, load_contract, load_contracts
from udfs.envelope import Envelope
from udfs.errors import ContractError
from udfs.readmodels import (
    MODEL_COLUMNS,
    AggregateModel,
    AggregateState,
    Change,
    CurrentModel,
    CurrentState,
    Measure,
    ModelEvent,
    ReadModel,
    Window,
    apply_aggregate,
    apply_current,
    change_json,
    change_values,
    current_rows,
    event_from_json,
    event_to_json,
    fold,
    key_text,
    keyed_like_the_topic,
    model_columns,
    prepare,
    state_from_json,
    state_to_json,
)

from .support import SCHEMAS, ticket_event, user_event

SALT = b"0123456789abcdef-deployment-salt"
HOUR = 3_600_000
H0 = 1_700_002_800_000  # a whole UTC hour
assert H0 % HOUR == 0

Record = tuple[dict[str, object], Envelope]


def envelope(partition: int, offset: int, event_time_ms: int, topic: str = "support.users.v1") -> Envelope:
    return Envelope(f"e-{partition}-{offset}", event_time_ms, event_time_ms + 5, topic, partition, offset, 1, 1, "t")


def model(contracts: Contracts, name: str) -> tuple[ReadModel, Contract]:
    for contract in contracts:
        for candidate in contract.read_models:
            if candidate.name == name:
                return candidate, contract
    raise KeyError(name)


def current(contracts: Contracts, name: str) -> tuple[CurrentModel, Contract]:
    found, contract = model(contracts, name)
    assert isinstance(found, CurrentModel)
    return found, contract


def aggregate(contracts: Contracts, name: str) -> tuple[AggregateModel, Contract]:
    found, contract = model(contracts, name)
    assert isinstance(found, AggregateModel)
    return found, contract


def user(
    event_type: str, event_time: int, partition: int, offset: int, user_id: str = "U-1", **fields: object
) -> Record:
    payload = user_event(event_type=event_type, event_time=event_time, user_id=user_id, **fields)
    return payload, envelope(partition, offset, event_time)


def ticket(event_time: int, partition: int, offset: int, **fields: object) -> Record:
    payload = ticket_event(event_time=event_time, **fields)
    return payload, envelope(partition, offset, event_time, "support.tickets.v1")


def events(m: ReadModel, contract: Contract, records: Iterable[Record]) -> list[ModelEvent]:
    out = [prepare(m, contract, payload, env, SALT) for payload, env in records]
    return [e for e in out if e is not None]


def run_current(m: CurrentModel, evs: Iterable[ModelEvent]) -> tuple[dict[object, CurrentState], list[Change]]:
    states: dict[object, CurrentState] = {}
    changes: list[Change] = []
    for event in evs:
        states[event.key], change = apply_current(m, states.get(event.key), event)
        if change is not None:
            changes.append(change)
    return states, changes


def run_aggregate(m: AggregateModel, evs: Iterable[ModelEvent]) -> list[Change]:
    states: dict[object, AggregateState | None] = {}
    changes: list[Change] = []
    watermark = 0
    for event in evs:
        watermark = max(watermark, event.event_time_ms)
        states[event.key], change = apply_aggregate(m, states.get(event.key), event, watermark)
        if change is not None:
            changes.append(change)
    return changes


# -- the repo's contracts ----------------------------------------------------------------------------------


def test_current_models_keyed_by_the_key_field_are_applied_where_the_topic_is_keyed(contracts: Contracts) -> None:
    placed = {m.name: keyed_like_the_topic(m, c) for c in contracts for m in c.read_models}
    assert placed == {
        "open_tickets": True,
        "users_current": True,
        "ticket_events_by_status": False,
        "ticket_events_per_hour": False,
    }
    tickets, contract = current(contracts, "open_tickets")
    assert not keyed_like_the_topic(replace(tickets, key=("customer_id",)), contract)
    assert not keyed_like_the_topic(replace(tickets, key=("ticket_id", "customer_id")), contract)


def test_repo_contracts_load_with_their_read_models(contracts: Contracts) -> None:
    assert {c.name: [m.name for m in c.read_models] for c in contracts} == {
        "tickets": ["open_tickets", "ticket_events_by_status", "ticket_events_per_hour"],
        "users": ["users_current"],
    }
    users, _ = current(contracts, "users_current")
    assert users == CurrentModel(
        "users_current",
        "users",
        ("user_id",),
        ("email", "display_name", "locale", "plan", "is_agent"),
        "event_type",
        frozenset({"SIGNED_UP", "PROFILE_UPDATED", "DEACTIVATED"}),
        frozenset({"DELETED"}),
        "event_time",
    )
    tickets, _ = current(contracts, "open_tickets")
    assert (tickets.key, tickets.order_by, tickets.delete_on) == (("ticket_id",), "offset", frozenset({"CLOSED"}))
    by_status, _ = aggregate(contracts, "ticket_events_by_status")
    assert by_status.measures == (
        Measure("events", "count", None),
        Measure("replies", "sum", "reply_count"),
        Measure("slowest_first_response_s", "max", "first_response_seconds"),
        Measure("fastest_first_response_s", "min", "first_response_seconds"),
        Measure("last_subject", "latest", "subject"),
    )
    assert (by_status.group_by, by_status.order_by, by_status.window) == (("status",), "event_time", None)
    per_hour, _ = aggregate(contracts, "ticket_events_per_hour")
    assert per_hour.window == Window(3_600_000, 600_000)
    assert per_hour.order_by == "event_time"  # defaulted: no latest measure, so nothing depends on it


S, L, N, B, T = ColumnKind.string, ColumnKind.long, ColumnKind.int, ColumnKind.boolean, ColumnKind.timestamp_ms
MODEL_TAIL = [
    ("lg_op", S, False),
    ("lg_order", L, False),
    ("lg_partition", N, False),
    ("lg_offset", L, False),
    ("lg_event_time", T, False),
    ("lg_topic", S, False),
    ("lg_version", L, False),
]
EXPECTED_COLUMNS = {
    "users_current": [
        ("user_id", S, False),
        ("email", S, True),
        ("display_name", S, True),
        ("locale", S, True),
        ("plan", S, True),
        ("is_agent", B, True),
    ],
    "open_tickets": [
        ("ticket_id", S, False),
        ("customer_id", S, True),
        ("status", S, True),
        ("priority", S, True),
        ("assignee_id", S, True),
        ("reply_count", N, True),
    ],
    "ticket_events_by_status": [
        ("status", S, False),
        ("events", L, False),
        ("replies", L, False),
        ("slowest_first_response_s", L, True),
        ("fastest_first_response_s", L, True),
        ("last_subject", S, True),
    ],
    "ticket_events_per_hour": [
        ("channel", S, False),
        ("window_start", T, False),
        ("events", L, False),
        ("replies", L, False),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_model_columns_of_every_repo_model(contracts: Contracts, name: str) -> None:
    m, contract = model(contracts, name)
    columns = model_columns(m, contract)
    assert [(c.name, c.kind, c.nullable) for c in columns] == EXPECTED_COLUMNS[name] + MODEL_TAIL
    assert columns[-len(MODEL_COLUMNS) :] == MODEL_COLUMNS
    assert len({c.name for c in columns}) == len(columns)


def test_hashed_or_masked_non_string_fields_become_strings(contracts: Contracts) -> None:
    tickets = contracts.by_name("tickets")
    hashed = replace(tickets, pii={"customer_id": "hash", "subject": "mask"})
    m = AggregateModel("x", "tickets", ("customer_id",), (Measure("s", "latest", "subject"),), "event_time")
    columns = {c.name: c for c in model_columns(m, hashed)}
    assert (columns["customer_id"].kind, columns["customer_id"].nullable) == (S, False)
    assert (columns["s"].kind, columns["s"].nullable) == (S, True)


# -- declaration errors ------------------------------------------------------------------------------------

CURRENT = """
[[read_models]]
name = "m"
kind = "current"
key = ["ticket_id"]
fields = ["status"]
event_type_field = "event_type"
upsert_on = ["CREATED"]
delete_on = ["CLOSED"]
order_by = "event_time"
"""

AGGREGATE = """
[[read_models]]
name = "a"
kind = "aggregate"
group_by = ["status"]
measures = [{ name = "events", fn = "count" }, { name = "last", fn = "latest", field = "subject" }]
window = { size_s = 60, allowed_lateness_s = 0 }
order_by = "event_time"
"""


def with_models(tmp_path: Path, toml: str, folder: str = "tickets", pii: str = "") -> Path:
    """A copy of a repo contract with its read models replaced by ``toml`` and ``pii`` lines added to [pii]."""
    target = tmp_path / folder
    shutil.copytree(SCHEMAS / folder, target)
    path = target / "contract.toml"
    head = path.read_text().split("\n# Read models", 1)[0]
    if pii:
        head += "\n" + pii if "[pii]" in head else f"\n[pii]\n{pii}"
    path.write_text(f"{head}\n{toml}")
    return target


def load_error(directory: Path) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_contract(directory)
    return info.value


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new)


ERRORS = [
    # (TOML, field, words in the message)
    (CURRENT + 'feilds = ["x"]\n', "read_models[0].feilds", ["unknown key", "did you mean 'fields'"]),
    (CURRENT + 'group_by = ["status"]\n', "read_models[0].group_by", ["unknown key for a current read model"]),
    (
        edit(AGGREGATE, 'group_by = ["status"]', 'key = ["status"]'),
        "read_models[0].key",
        ["unknown key for a aggregate read model"],
    ),
    (edit(CURRENT, 'kind = "current"', 'kind = "latest"'), "read_models[0].kind", ["'current' or 'aggregate'"]),
    (edit(CURRENT, 'kind = "current"\n', ""), "read_models[0].kind", ["'current' or 'aggregate'"]),
    (edit(CURRENT, 'name = "m"', 'name = "Open-Tickets"'), "read_models[0].name", ["[a-z][a-z0-9_]*"]),
    (edit(CURRENT, 'name = "m"\n', ""), "read_models[0].name", ["identifier"]),
    (
        edit(CURRENT, '["ticket_id"]', '["tiket_id"]'),
        "read_models[0].key",
        ["not in the reader schema", "did you mean 'ticket_id'"],
    ),
    (edit(CURRENT, '["ticket_id"]', '["assignee_id"]'), "read_models[0].key", ["non-null", "nullable string"]),
    (edit(CURRENT, '["ticket_id"]', "[]"), "read_models[0].key", ["non-empty list"]),
    (edit(CURRENT, 'key = ["ticket_id"]\n', ""), "read_models[0].key", ["is required"]),
    (
        edit(CURRENT, 'fields = ["status"]', 'fields = ["stauts"]'),
        "read_models[0].fields",
        ["'stauts'", "did you mean 'status'"],
    ),
    (
        edit(CURRENT, 'fields = ["status"]', 'fields = ["status", "ticket_id"]'),
        "read_models[0].fields",
        ["'ticket_id' is a key field", "remove 'ticket_id'"],
    ),
    (edit(CURRENT, 'fields = ["status"]', 'fields = ["status", "status"]'), "read_models[0].fields", ["listed twice"]),
    (edit(CURRENT, 'fields = ["status"]', 'fields = "status"'), "read_models[0].fields", ["list of field names"]),
    (edit(CURRENT, 'event_type_field = "event_type"\n', ""), "read_models[0].event_type_field", ["is required"]),
    (
        edit(CURRENT, 'event_type_field = "event_type"', 'event_type_field = "reply_count"'),
        "read_models[0].event_type_field",
        ["enum or string"],
    ),
    (
        edit(CURRENT, 'upsert_on = ["CREATED"]', 'upsert_on = ["CREATED", "OPENED"]'),
        "read_models[0].upsert_on",
        ["['OPENED'] are not symbols of the enum 'event_type'", "CLOSED"],
    ),
    (edit(CURRENT, 'upsert_on = ["CREATED"]', "upsert_on = []"), "read_models[0].upsert_on", ["non-empty list"]),
    (
        edit(CURRENT, 'delete_on = ["CLOSED"]', 'delete_on = ["CLOSED", "CREATED"]'),
        "read_models[0].delete_on",
        ["['CREATED'] are in both upsert_on and delete_on"],
    ),
    (edit(CURRENT, 'order_by = "event_time"\n', ""), "read_models[0].order_by", ["is required", '"event_time"']),
    (
        edit(CURRENT, '["ticket_id"]', '["customer_id"]').replace('"event_time"\n', '"offset"\n'),
        "read_models[0].order_by",
        ['only when key = ["ticket_id"]', "one Kafka partition", 'order_by = "event_time"'],
    ),
    (
        edit(CURRENT, 'order_by = "event_time"', 'order_by = "first_response_seconds"'),
        "read_models[0].order_by",
        ["non-null long, int or timestamp-millis", "nullable long"],
    ),
    (edit(CURRENT, 'order_by = "event_time"', 'order_by = "subject"'), "read_models[0].order_by", ["not string"]),
    (
        edit(CURRENT, 'order_by = "event_time"', 'order_by = "event_tim"'),
        "read_models[0].order_by",
        ["did you mean 'event_time'"],
    ),
    (
        edit(
            AGGREGATE,
            'measures = [{ name = "events", fn = "count" }, { name = "last", fn = "latest", field = "subject" }]\n',
            "",
        ),
        "read_models[0].measures",
        ["non-empty list of measures"],
    ),
    (
        edit(AGGREGATE, '{ name = "events", fn = "count" }, { name = "last", fn = "latest", field = "subject" }', ""),
        "read_models[0].measures",
        ["non-empty list of measures"],
    ),
    (
        AGGREGATE.replace('fn = "count" }', 'fn = "sum", field = "subject" }'),
        "read_models[0].measures[0].field",
        ["sum does not fit field 'subject' of type string", "int, long, float or double"],
    ),
    (
        AGGREGATE.replace('fn = "count" }', 'fn = "max", field = "customer_id" }'),
        "read_models[0].measures[0].field",
        ["max does not fit", "or timestamp"],
    ),
    (
        AGGREGATE.replace('fn = "count" }', 'fn = "min", field = "channel" }'),
        "read_models[0].measures[0].field",
        ["min does not fit"],
    ),
    (AGGREGATE.replace(', field = "subject" }', " }"), "read_models[0].measures[1].field", ["latest needs a field"]),
    (
        AGGREGATE.replace('fn = "count" }', 'fn = "count", field = "subject" }'),
        "read_models[0].measures[0].field",
        ["count takes no field"],
    ),
    (
        AGGREGATE.replace('fn = "count" }', 'fn = "avg" }'),
        "read_models[0].measures[0].fn",
        ["unknown function 'avg'", "count, sum, min, max, latest"],
    ),
    (
        AGGREGATE.replace('field = "subject"', 'feild = "subject"'),
        "read_models[0].measures[1].feild",
        ["did you mean 'field'"],
    ),
    (
        AGGREGATE.replace('name = "last"', 'name = "events"'),
        "read_models[0].measures[1].name",
        ["'events' is already a column"],
    ),
    (
        AGGREGATE.replace('name = "last"', 'name = "status"'),
        "read_models[0].measures[1].name",
        ["'status' is already a column"],
    ),
    (
        AGGREGATE.replace('name = "last"', 'name = "window_start"'),
        "read_models[0].measures[1].name",
        ["'window_start' is already a column"],
    ),
    (AGGREGATE.replace('name = "last"', 'name = "lg_last"'), "read_models[0].measures[1].name", ["reserved"]),
    (
        AGGREGATE.replace('{ name = "events", fn = "count" }', '{ fn = "count" }'),
        "read_models[0].measures[0].name",
        ["identifier"],
    ),
    (AGGREGATE.replace("size_s = 60", "size_s = 0"), "read_models[0].window.size_s", ["> 0"]),
    (AGGREGATE.replace("size_s = 60, ", ""), "read_models[0].window.size_s", ["> 0"]),
    (
        AGGREGATE.replace("allowed_lateness_s = 0", "allowed_lateness_s = -1"),
        "read_models[0].window.allowed_lateness_s",
        [">= 0"],
    ),
    (
        AGGREGATE.replace("size_s = 60", "size = 60"),
        "read_models[0].window.size",
        ["unknown key for a window", "did you mean 'size_s'"],
    ),
    (
        AGGREGATE.replace("window = { size_s = 60, allowed_lateness_s = 0 }", "window = 60"),
        "read_models[0].window",
        ["must be a table"],
    ),
    (AGGREGATE.replace('order_by = "event_time"\n', ""), "read_models[0].order_by", ["is required"]),
    (
        AGGREGATE.replace('order_by = "event_time"', 'order_by = "offset"'),
        "read_models[0].order_by",
        ['only when group_by = ["ticket_id"]'],
    ),
    (AGGREGATE.replace('["status"]', '["assignee_id"]'), "read_models[0].group_by", ["non-null"]),
    (AGGREGATE.replace('["status"]', '["window_start"]'), "read_models[0].group_by", ["not in the reader schema"]),
    (CURRENT + CURRENT, "read_models[1].name", ["'m' is declared twice"]),
]


@pytest.mark.parametrize(("toml", "field", "needles"), ERRORS)
def test_declaration_errors_name_file_field_and_fix(tmp_path: Path, toml: str, field: str, needles: list[str]) -> None:
    error = load_error(with_models(tmp_path, toml))
    assert error.field == field, str(error)
    assert error.path == tmp_path / "tickets" / "contract.toml"
    message = str(error)
    assert message.startswith(f"{error.path}: field '{field}': ")
    for needle in needles:
        assert needle in message
    assert ". Fix: " in message and error.fix


USERS_CURRENT = """
[[read_models]]
name = "u"
kind = "current"
key = ["user_id"]
fields = ["email", "display_name"]
event_type_field = "event_type"
upsert_on = ["SIGNED_UP"]
order_by = "event_time"
"""


@pytest.mark.parametrize(
    ("toml", "pii", "field", "needles"),
    [
        (
            USERS_CURRENT.replace('fields = ["email", "display_name"]', 'fields = ["locale"]'),
            'locale = "drop"',
            "read_models[0].fields",
            ["tagged pii 'drop': it would be dropped anyway", "tag it 'hash' or 'mask'"],
        ),
        (
            USERS_CURRENT.replace('key = ["user_id"]', 'key = ["display_name"]').replace(', "display_name"]', "]"),
            "",
            "read_models[0].key",
            ["tagged pii 'mask'", "cannot identify a row", "tag it 'hash'"],
        ),
        (
            USERS_CURRENT.replace('key = ["user_id"]', 'key = ["locale"]'),
            'locale = "drop"',
            "read_models[0].key",
            ["tagged pii 'drop'"],
        ),
        (
            '[[read_models]]\nname = "a"\nkind = "aggregate"\ngroup_by = ["display_name"]\n'
            'measures = [{ name = "n", fn = "count" }]\n',
            "",
            "read_models[0].group_by",
            ["tagged pii 'mask'"],
        ),
        (
            '[[read_models]]\nname = "a"\nkind = "aggregate"\ngroup_by = ["plan"]\n'
            'measures = [{ name = "l", fn = "latest", field = "locale" }]\norder_by = "event_time"\n',
            'locale = "drop"',
            "read_models[0].measures[0].field",
            ["dropped anyway"],
        ),
    ],
)
def test_pii_tags_limit_what_a_model_may_hold(
    tmp_path: Path, toml: str, pii: str, field: str, needles: list[str]
) -> None:
    error = load_error(with_models(tmp_path, toml, "users", pii))
    assert error.field == field, str(error)
    for needle in needles:
        assert needle in str(error)


def test_hashed_fields_may_key_and_group(tmp_path: Path) -> None:
    toml = (
        USERS_CURRENT.replace('key = ["user_id"]', 'key = ["email"]').replace('"email", ', "")
        + '[[read_models]]\nname = "by_email"\nkind = "aggregate"\ngroup_by = ["email"]\n'
        'measures = [{ name = "n", fn = "count" }, { name = "first", fn = "min", field = "event_time" }]\n'
    )
    contract = load_contract(with_models(tmp_path, toml, "users"))
    assert [m.name for m in contract.read_models] == ["u", "by_email"]
    assert isinstance(contract.read_models[0], CurrentModel)
    assert contract.read_models[0].order_by == "event_time"


def test_offset_order_is_allowed_on_the_contract_key(tmp_path: Path) -> None:
    by_ticket = AGGREGATE.replace('["status"]', '["ticket_id"]')
    toml = CURRENT.replace('"event_time"\n', '"offset"\n') + by_ticket.replace('"event_time"\n', '"offset"\n')
    models = load_contract(with_models(tmp_path, toml)).read_models
    assert [m.order_by for m in models] == ["offset", "offset"]


def test_read_models_must_be_an_array_of_tables(tmp_path: Path) -> None:
    folder = with_models(tmp_path, "")
    path = folder / "contract.toml"
    path.write_text(path.read_text().replace('key_field = "ticket_id"', 'key_field = "ticket_id"\nread_models = 3'))
    error = load_error(folder)
    assert error.field == "read_models"
    assert "must be an array of tables" in str(error) and "[[read_models]]" in str(error)


def test_read_model_key_typo_at_top_level(tmp_path: Path) -> None:
    error = load_error(with_models(tmp_path, CURRENT.replace("[[read_models]]", "[[read_model]]")))
    assert error.field == "read_model"
    assert "did you mean 'read_models'" in str(error)


def test_read_model_names_are_unique_across_contracts(tmp_path: Path) -> None:
    with_models(tmp_path, CURRENT, "tickets")
    with_models(tmp_path, USERS_CURRENT.replace('name = "u"', 'name = "m"'), "users")
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path)
    error = info.value
    assert (error.path, error.field) == (tmp_path / "users" / "contract.toml", "read_models[0].name")
    assert f"read model 'm' is already declared in {tmp_path / 'tickets' / 'contract.toml'}" in str(error)
    assert "unique across all contracts" in str(error)


# -- prepare: projection, PII, order -----------------------------------------------------------------------


def test_prepare_projects_treats_pii_and_orders(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    payload, env = user("SIGNED_UP", 1_000, 2, 17, email="jane@example.com", display_name="jane")
    event = prepare(m, users, payload, env, SALT)
    assert event is not None
    assert event.row == {
        "user_id": "U-1",
        "email": hmac.new(SALT, b"jane@example.com", hashlib.sha256).hexdigest(),
        "display_name": "j***",
        "locale": "de-DE",
        "plan": "TEAM",
        "is_agent": True,
    }
    assert list(event.row) == ["user_id", *m.fields]
    assert (event.key, event.op, event.order) == (("U-1",), "upsert", (1_000, 2, 17))
    assert (event.event_time_ms, event.topic, event.partition, event.offset) == (1_000, "support.users.v1", 2, 17)
    assert payload["email"] == "jane@example.com", "the payload is not modified"


def test_prepare_delete_carries_only_the_key_and_unlisted_types_are_ignored(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    deleted = prepare(m, users, *user("DELETED", 5, 0, 1), SALT)
    assert deleted is not None
    assert (deleted.op, deleted.row) == ("delete", {"user_id": "U-1"})
    narrow = replace(m, upsert_on=frozenset({"SIGNED_UP"}))
    assert prepare(narrow, users, *user("PROFILE_UPDATED", 5, 0, 1), SALT) is None
    with pytest.raises(ValueError, match="salt"):
        prepare(m, users, *user("SIGNED_UP", 5, 0, 1), b"short")


def test_offset_order_and_datetime_normalisation(contracts: Contracts) -> None:
    m, tickets = current(contracts, "open_tickets")
    event = prepare(m, tickets, *ticket(999, 3, 41), SALT)
    assert event is not None and event.order == (41, 3, 41)
    users = contracts.by_name("users")
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)
    millis = 1_704_164_645_678
    stamped = CurrentModel(
        "s", "users", ("user_id",), ("signed_up_at",), "event_type", frozenset({"SIGNED_UP"}), frozenset(), "event_time"
    )
    payload, env = user("SIGNED_UP", millis, 0, 1)
    event = prepare(stamped, users, {**payload, "event_time": when, "signed_up_at": when}, env, SALT)
    assert event is not None
    assert event.order == (millis, 0, 1)
    assert event.row == {"user_id": "U-1", "signed_up_at": millis}


def test_aggregate_events_key_by_group_and_event_time_window(contracts: Contracts) -> None:
    m, tickets = aggregate(contracts, "ticket_events_per_hour")
    for event_time, start in [(H0, H0), (H0 + HOUR - 1, H0), (H0 + HOUR, H0 + HOUR), (H0 + 90 * 60_000, H0 + HOUR)]:
        event = prepare(m, tickets, *ticket(event_time, 0, 1, channel="CHAT"), SALT)
        assert event is not None
        assert (event.key, event.op, event.row) == (("CHAT", start), "upsert", {"reply_count": 2})
    by_status, _ = aggregate(contracts, "ticket_events_by_status")
    event = prepare(by_status, tickets, *ticket(H0, 0, 1, status="OPEN"), SALT)
    assert event is not None
    assert event.key == ("OPEN",)
    assert event.row == {"reply_count": 2, "first_response_seconds": 90, "subject": "Printer on fire — ünïcode"}


# -- ordering of current models ----------------------------------------------------------------------------


def test_out_of_order_updates_across_partitions(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    newest = user("PROFILE_UPDATED", 200, 1, 3, locale="fr-FR")
    older = user("PROFILE_UPDATED", 100, 0, 50, locale="en-GB")
    middle = user("PROFILE_UPDATED", 150, 2, 9, locale="it-IT")
    states, changes = run_current(m, events(m, users, [newest, older, middle]))
    assert [c.row["locale"] for c in changes] == ["fr-FR"]
    assert states[("U-1",)] == CurrentState((200, 1, 3), False, 1)
    assert fold(m, users, [older, middle, newest], SALT)[("U-1",)]["locale"] == "fr-FR"
    assert fold(m, users, [newest, older, middle], SALT)[("U-1",)]["locale"] == "fr-FR"


def test_ties_on_order_break_by_partition_then_offset(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    low_partition = user("PROFILE_UPDATED", 100, 0, 900, locale="p0")
    high_partition = user("PROFILE_UPDATED", 100, 1, 2, locale="p1")
    later_offset = user("PROFILE_UPDATED", 100, 1, 3, locale="p1-later")
    for history in ([low_partition, high_partition], [high_partition, low_partition]):
        assert fold(m, users, history, SALT)[("U-1",)]["locale"] == "p1"
    for history in ([high_partition, later_offset, low_partition], [later_offset, low_partition, high_partition]):
        assert fold(m, users, history, SALT)[("U-1",)]["locale"] == "p1-later"


def test_older_and_repeated_events_are_ignored_whatever_the_op(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    first, *_ = events(m, users, [user("SIGNED_UP", 100, 0, 1)])
    state, change = apply_current(m, None, first)
    assert change is not None and change.version == 1
    assert apply_current(m, state, first) == (state, None)  # the same event again
    old_delete, old_update = events(m, users, [user("DELETED", 99, 5, 5), user("PROFILE_UPDATED", 100, 0, 0)])
    assert apply_current(m, state, old_delete) == (state, None)
    assert apply_current(m, state, old_update) == (state, None)


def test_delete_then_older_upsert_does_not_resurrect(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    history = [user("SIGNED_UP", 100, 0, 1), user("DELETED", 300, 1, 1), user("PROFILE_UPDATED", 200, 0, 2)]
    states, changes = run_current(m, events(m, users, history))
    assert [(c.op, c.version, c.row) for c in changes] == [
        ("upsert", 1, changes[0].row),
        ("delete", 2, {"user_id": "U-1"}),
    ]
    assert states[("U-1",)] == CurrentState((300, 1, 1), True, 2)
    assert fold(m, users, history, SALT) == {}
    assert current_rows(changes) == {}


def test_delete_of_a_key_the_state_never_saw_is_emitted_and_keeps_a_tombstone(contracts: Contracts) -> None:
    # The state may be younger than the key (a job started without its checkpoint): the delete must reach
    # the table and the changelog; for a key that never existed it is a harmless no-op there.
    m, users = current(contracts, "users_current")
    delete, older, newer = events(
        m,
        users,
        [
            user("DELETED", 300, 0, 7),
            user("SIGNED_UP", 200, 1, 1),
            user("SIGNED_UP", 400, 1, 2),
        ],
    )
    state, change = apply_current(m, None, delete)
    assert state == CurrentState((300, 0, 7), True, 1)
    assert change is not None and (change.op, change.version, change.row) == ("delete", 1, {"user_id": "U-1"})
    assert apply_current(m, state, older) == (state, None)
    again, *_ = events(m, users, [user("DELETED", 350, 0, 8)])
    state, change = apply_current(m, state, again)
    # Deleting a deleted key with a newer event is a change too: the table's latest row holds the state's order.
    assert state == CurrentState((350, 0, 8), True, 2)
    assert change is not None and (change.op, change.version, change.order) == ("delete", 2, (350, 0, 8))
    state, change = apply_current(m, state, newer)
    assert change is not None and (change.op, change.version) == ("upsert", 3)
    assert state == CurrentState((400, 1, 2), False, 3)


def test_the_tables_latest_row_per_key_holds_the_states_order_deletes_of_deleted_keys_included(
    contracts: Contracts,
) -> None:
    # A fresh start rebuilds a key's state from its table's latest row (lakegate/model_state.py); were the
    # second delete no row, the rebuilt tombstone would be at 300 and the upsert at 400 would bring the key back.
    m, users = current(contracts, "users_current")
    history = [user("SIGNED_UP", 100, 0, 1), user("DELETED", 300, 0, 2), user("DELETED", 500, 0, 3)]
    states, changes = run_current(m, events(m, users, history))
    rows = pa.Table.from_pylist(
        [
            {
                **{f: c.row.get(f) for f in (*m.key, *m.fields)},
                "lg_op": c.op,
                "lg_order": c.order[0],
                "lg_partition": c.order[1],
                "lg_offset": c.order[2],
                "lg_version": c.version,
            }
            for c in changes
        ]
    )
    final = states[("U-1",)]
    assert dict(model_state.states(m, rows)) == {
        f"users_current\x00{key_text(('U-1',))}": model_state.encode_current(*final.order, True, final.version)
    }
    (late,) = events(m, users, [user("PROFILE_UPDATED", 400, 1, 9)])
    assert apply_current(m, final, late) == (final, None)


def test_versions_increase_by_one_per_emitted_change(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    history = [
        user("SIGNED_UP", 1, 0, 1),
        user("PROFILE_UPDATED", 2, 0, 2),
        user("PROFILE_UPDATED", 1, 0, 0),  # ignored
        user("DELETED", 3, 0, 3),
        user("DELETED", 4, 0, 4),  # a newer delete of a deleted key: a change too
        user("SIGNED_UP", 5, 0, 5),
        user("DEACTIVATED", 6, 0, 6),
    ]
    _, changes = run_current(m, events(m, users, history))
    assert [(c.op, c.version) for c in changes] == [
        ("upsert", 1),
        ("upsert", 2),
        ("delete", 3),
        ("delete", 4),
        ("upsert", 5),
        ("upsert", 6),
    ]
    last = changes[-1]
    assert (last.order, last.event_time_ms, last.topic, last.partition, last.offset) == (
        (6, 0, 6),
        6,
        "support.users.v1",
        0,
        6,
    )


def test_an_event_of_another_model_is_refused(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    event, *_ = events(m, users, [user("SIGNED_UP", 1, 0, 1)])
    with pytest.raises(ValueError, match="applied to model"):
        apply_current(replace(m, name="other"), None, event)


# -- aggregates --------------------------------------------------------------------------------------------


def test_aggregate_measures_are_exact_including_nulls(contracts: Contracts) -> None:
    m, tickets = aggregate(contracts, "ticket_events_by_status")
    history = [
        ticket(H0 + 30, 0, 1, status="OPEN", reply_count=2, first_response_seconds=90, subject="third"),
        ticket(H0 + 10, 1, 1, status="OPEN", reply_count=3, first_response_seconds=None, subject="first"),
        ticket(H0 + 40, 1, 2, status="OPEN", reply_count=0, first_response_seconds=30, subject="newest"),
        ticket(H0 + 20, 0, 2, status="OPEN", reply_count=5, first_response_seconds=120, subject="second"),
        ticket(H0 + 50, 0, 3, status="NEW", reply_count=1, first_response_seconds=None, subject="only"),
    ]
    changes = run_aggregate(m, events(m, tickets, history))
    assert [c.version for c in changes if c.key == ("OPEN",)] == [1, 2, 3, 4]
    assert all(c.op == "upsert" for c in changes)
    assert (
        fold(m, tickets, history, SALT)
        == current_rows(changes)
        == {
            ("OPEN",): {
                "status": "OPEN",
                "events": 4,
                "replies": 10,
                "slowest_first_response_s": 120,
                "fastest_first_response_s": 30,
                "last_subject": "newest",
            },
            ("NEW",): {
                "status": "NEW",
                "events": 1,
                "replies": 1,
                "slowest_first_response_s": None,
                "fastest_first_response_s": None,
                "last_subject": "only",
            },
        }
    )
    second = changes[1]  # after two events: "third" (t+30) then "first" (t+10)
    assert second.row["last_subject"] == "third"
    assert second.row["slowest_first_response_s"] == second.row["fastest_first_response_s"] == 90


def test_latest_can_be_null_ties_break_by_partition_and_min_max_skip_nan() -> None:
    m = AggregateModel(
        "x",
        "c",
        ("g",),
        (
            Measure("n", "count", None),
            Measure("last", "latest", "v"),
            Measure("lo", "min", "f"),
            Measure("hi", "max", "f"),
            Measure("total", "sum", "f"),
        ),
        "t",
    )
    contract = replace_pii_free_contract()
    rows = [
        ({"g": "a", "t": 5, "v": "x", "f": 1.5}, envelope(1, 1, 5)),
        ({"g": "a", "t": 5, "v": None, "f": math.nan}, envelope(2, 1, 5)),  # same t, higher partition: latest
        ({"g": "a", "t": 4, "v": "old", "f": -2.0}, envelope(9, 9, 4)),
    ]
    for history in (rows, rows[::-1]):
        result = fold(m, contract, history, SALT)[("a",)]
        assert (result["n"], result["last"], result["lo"], result["hi"]) == (3, None, -2.0, 1.5)
        assert math.isnan(result["total"])  # type: ignore[arg-type]
    states: dict[object, AggregateState | None] = {}
    for payload, env in rows:
        event = prepare(m, contract, payload, env, SALT)
        assert event is not None
        states[event.key], _ = apply_aggregate(m, states.get(event.key), event, 0)
    state = states[("a",)]
    assert state is not None
    assert state.counts == {"n": 3, "last": 2, "lo": 2, "hi": 2, "total": 3}
    assert state.latest_order == (5, 2, 1)


def replace_pii_free_contract() -> Contract:
    """A contract without [pii], for hand-made models over hand-made payloads."""
    return replace(load_contracts(SCHEMAS).by_name("tickets"), pii={})


def test_windowed_aggregate_drops_late_events(contracts: Contracts) -> None:
    m, tickets = aggregate(contracts, "ticket_events_per_hour")
    minute = 60_000
    history = [
        ticket(H0 + 10 * minute, 0, 1, channel="EMAIL", reply_count=1),
        ticket(H0 + 50 * minute, 0, 2, channel="EMAIL", reply_count=2),
        ticket(H0 + 65 * minute, 1, 1, channel="EMAIL", reply_count=4),  # next hour; watermark H0 + 65 min
        ticket(H0 + 30 * minute, 0, 3, channel="EMAIL", reply_count=8),  # late but within the 10 min lateness
        ticket(H0 + 70 * minute, 1, 2, channel="CHAT", reply_count=0),  # watermark H0 + 70 min closes hour 0
        ticket(H0 + 59 * minute, 0, 4, channel="EMAIL", reply_count=16),  # too late: dropped
        ticket(H0 + 5 * minute, 0, 5, channel="WEB", reply_count=32),  # too late even for a new group
    ]
    assert fold(m, tickets, history, SALT) == {
        ("EMAIL", H0): {"channel": "EMAIL", "window_start": H0, "events": 3, "replies": 11},
        ("EMAIL", H0 + HOUR): {"channel": "EMAIL", "window_start": H0 + HOUR, "events": 1, "replies": 4},
        ("CHAT", H0 + HOUR): {"channel": "CHAT", "window_start": H0 + HOUR, "events": 1, "replies": 0},
    }
    late = events(m, tickets, history[-1:])[0]
    assert apply_aggregate(m, None, late, H0 + 70 * minute) == (None, None)
    assert apply_aggregate(m, None, late, H0 + 70 * minute - 1)[1] is not None  # one ms earlier: still open


# -- values and JSON ---------------------------------------------------------------------------------------


def test_change_values_follow_model_columns(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    history = [user("SIGNED_UP", 1_000, 2, 17, display_name="jane"), user("DELETED", 2_000, 2, 18)]
    _, (upsert, delete) = run_current(m, events(m, users, history))
    columns = model_columns(m, users)
    values = dict(zip([c.name for c in columns], change_values(upsert, columns), strict=True))
    assert values == {
        **upsert.row,
        "lg_op": "upsert",
        "lg_order": 1_000,
        "lg_partition": 2,
        "lg_offset": 17,
        "lg_event_time": 1_000,
        "lg_topic": "support.users.v1",
        "lg_version": 1,
    }
    assert change_values(delete, columns) == (
        "U-1",
        None,
        None,
        None,
        None,
        None,
        "delete",
        2_000,
        2,
        18,
        2_000,
        "support.users.v1",
        2,
    )
    double = (Column("d", ColumnKind.double, False), Column("flag", ColumnKind.boolean, True))
    floaty = replace(upsert, row={"d": 0, "flag": True})
    assert change_values(floaty, double) == (0.0, True)
    assert type(change_values(floaty, double)[0]) is float


def test_change_json_and_tombstones(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    history = [user("SIGNED_UP", 1_000, 0, 1, display_name="Ünï"), user("DELETED", 2_000, 0, 2)]
    _, (upsert, delete) = run_current(m, events(m, users, history))
    value = change_json(upsert)
    assert value is not None
    source = {"_topic": upsert.topic, "_partition": upsert.partition, "_offset": upsert.offset}
    assert json.loads(value) == {**upsert.row, "_op": "upsert", "_version": 1, **source}
    assert "Ü***".encode() in value
    assert change_json(delete) is None
    blob = json.loads(change_json(replace(upsert, row={"blob": b"\x00\xff"})) or b"null")
    assert blob == {"blob": "AP8=", "_op": "upsert", "_version": 1, **source}


def test_key_text_is_canonical_json() -> None:
    assert key_text(("U-42",)) == '["U-42"]'
    assert key_text(("EMAIL", H0)) == f'["EMAIL",{H0}]'
    assert key_text(("ü", True, None)) == '["ü",true,null]'
    assert json.loads(key_text(("a", 1))) == ["a", 1]


def test_event_json_round_trip(contracts: Contracts) -> None:
    m, users = current(contracts, "users_current")
    event, *_ = events(m, users, [user("SIGNED_UP", 1_000, 3, 4, display_name="Zoë")])
    text = event_to_json(event)
    assert isinstance(text, str) and "\n" not in text
    assert event_from_json(text) == event
    odd = replace(event, key=("k", 7), row={"b": b"\x00\x01", "n": None, "f": 1.25, "t": True, "u": "ü"})
    assert event_from_json(event_to_json(odd)) == odd


def test_state_json_round_trips() -> None:
    for state in (
        CurrentState((1, 2, 3), False, 4),
        CurrentState((9, 0, 9), True, 0),
        AggregateState({"n": 3, "s": 2.5, "l": None, "b": b"\xfe", "t": "ü"}, {"n": 3, "s": 2}, (5, 1, 2), 3),
        AggregateState({"n": 0}, {"n": 0}, None, 0),
    ):
        assert state_from_json(state_to_json(state)) == state


# -- whole models: fold, determinism, the change log -------------------------------------------------------


def user_history(rng: random.Random, count: int) -> list[Record]:
    """Events of a few users over three partitions, with repeated event times (ties) and unique offsets."""
    offsets = [0, 0, 0]
    history = []
    for _ in range(count):
        partition = rng.randrange(3)
        offsets[partition] += 1
        event_type = rng.choice(["SIGNED_UP", "PROFILE_UPDATED", "DEACTIVATED", "DELETED"])
        history.append(
            user(
                event_type,
                1_000 + rng.randrange(40),
                partition,
                offsets[partition],
                user_id=f"U-{rng.randrange(8)}",
                locale=rng.choice(["de-DE", "fr-FR", "en-US"]),
                display_name=rng.choice(["ann", "bob", "cy"]),
                plan=rng.choice(["FREE", "TEAM"]),
            )
        )
    return history


def ticket_history(rng: random.Random, count: int) -> list[Record]:
    """Ticket events keyed like Kafka does (one partition per ticket), offsets in produce order."""
    offsets = [0, 0, 0]
    history = []
    for _ in range(count):
        number = rng.randrange(10)
        partition = number % 3
        offsets[partition] += 1
        history.append(
            ticket(
                H0 + rng.randrange(10 * HOUR),
                partition,
                offsets[partition],
                ticket_id=f"T-{number}",
                event_type=rng.choice(["CREATED", "UPDATED", "SOLVED", "CLOSED"]),
                status=rng.choice(["NEW", "OPEN", "SOLVED"]),
                reply_count=rng.randrange(5),
                first_response_seconds=rng.choice([None, 10, 20, 400]),
                subject=f"s{rng.randrange(1000)}",
            )
        )
    return history


def oracle(m: CurrentModel, contract: Contract, history: list[Record]) -> dict[object, dict[str, object]]:
    """Per key, the row of the relevant event with the greatest order tuple, unless it is a delete."""
    best: dict[object, ModelEvent] = {}
    for event in events(m, contract, history):
        if event.key not in best or event.order > best[event.key].order:
            best[event.key] = event
    return {key: event.row for key, event in best.items() if event.op == "upsert"}


@pytest.mark.parametrize("seed", range(5))
def test_fold_is_deterministic_and_matches_the_ordering_rule(contracts: Contracts, seed: int) -> None:
    rng = random.Random(seed)
    for name, history in (("users_current", user_history(rng, 300)), ("open_tickets", ticket_history(rng, 300))):
        m, contract = current(contracts, name)
        expected = fold(m, contract, history, SALT)
        assert expected == oracle(m, contract, history)
        assert expected, "the history leaves some rows"
        for _ in range(3):
            shuffled = history[:]
            rng.shuffle(shuffled)
            assert fold(m, contract, shuffled, SALT) == expected


@pytest.mark.parametrize("seed", range(3))
def test_unwindowed_aggregates_do_not_depend_on_arrival_order(contracts: Contracts, seed: int) -> None:
    rng = random.Random(seed)
    m, tickets = aggregate(contracts, "ticket_events_by_status")
    history = ticket_history(rng, 300)
    expected = fold(m, tickets, history, SALT)
    assert sum(row["events"] for row in expected.values()) == 300  # type: ignore[misc]
    shuffled = history[:]
    rng.shuffle(shuffled)
    assert fold(m, tickets, shuffled, SALT) == expected


@pytest.mark.parametrize("name", ["users_current", "open_tickets", "ticket_events_by_status", "ticket_events_per_hour"])
def test_current_rows_of_the_change_log_equal_fold(contracts: Contracts, name: str) -> None:
    rng = random.Random(name)
    m, contract = model(contracts, name)
    history = user_history(rng, 400) if contract.name == "users" else ticket_history(rng, 400)
    rng.shuffle(history)
    evs = events(m, contract, history)
    changes = run_current(m, evs)[1] if isinstance(m, CurrentModel) else run_aggregate(m, evs)
    assert changes
    rng.shuffle(changes)  # a change log read back in any order
    assert current_rows(changes) == fold(m, contract, history, SALT)
    if isinstance(m, CurrentModel):
        assert any(c.op == "delete" for c in changes)
