"""Read-model state and changelog repairs from a model table's change log (lakegate/model_state.py,
lakegate/changelogs.py), on hand-made change logs of the shipped models."""

from __future__ import annotations

import datetime as dt
import json
import struct
from typing import Any

import pyarrow as pa
import pytest

from lakegate import readmodels
from lakegate.changelogs import corrections
from lakegate.model_state import encode_aggregate, encode_current, states
from lakegate.settings import Settings
from udfs.contract import Contracts, load_contracts
from udfs.readmodels import ReadModel


@pytest.fixture(scope="module")
def contracts() -> Contracts:
    return load_contracts(Settings.load(env={}).paths.schemas_dir)


def _model(contracts: Contracts, name: str) -> ReadModel:
    return readmodels.find(contracts, name)[0]


def _change(op: str, order: int, offset: int, version: int, **values: Any) -> dict[str, Any]:
    at = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    meta = {
        "lg_op": op,
        "lg_order": order,
        "lg_partition": 1,
        "lg_offset": offset,
        "lg_event_time": at,
        "lg_topic": "t",
        "lg_version": version,
    }
    return {**values, **meta}


def test_a_current_models_state_is_its_latest_change_per_key_deletes_included(contracts: Contracts) -> None:
    model = _model(contracts, "open_tickets")
    fields = dict.fromkeys(("customer_id", "status", "priority", "assignee_id", "reply_count"))
    rows = pa.Table.from_pylist(
        [
            _change("upsert", 10, 10, 1, ticket_id="a", **fields),
            _change("upsert", 12, 12, 2, ticket_id="a", **fields),
            _change("upsert", 11, 11, 1, ticket_id="b", **fields),
            _change("delete", 15, 15, 2, ticket_id="b", **fields),
        ]
    )
    got = dict(states(model, rows))
    assert got == {
        'open_tickets\x00["a"]': encode_current(12, 1, 12, False, 2),
        'open_tickets\x00["b"]': encode_current(15, 1, 15, True, 2),
    }
    assert struct.unpack(">BqiqBq", got['open_tickets\x00["b"]'])[4] == 1  # the deleted flag


def test_an_aggregates_state_holds_its_measures_the_count_and_the_newest_order(contracts: Contracts) -> None:
    model = _model(contracts, "ticket_events_by_status")
    measures = {
        "events": 3,
        "replies": 7,
        "slowest_first_response_s": None,
        "fastest_first_response_s": 2,
        "last_subject": "s",
    }
    rows = pa.Table.from_pylist(
        [
            _change("upsert", 900, 40, 2, status="OPEN", **{**measures, "events": 2}),
            _change("upsert", 800, 41, 3, status="OPEN", **measures),  # an older event came last
        ]
    )
    ((key, state),) = states(model, rows)
    assert key == 'ticket_events_by_status\x00["OPEN"]'
    # "latest" follows the newest order among the changes, not the last change's.
    assert state == encode_aggregate(3, (900, 1, 40), [(3, 3), (1, 7), (0, None), (1, 2), (1, "s")])


def test_a_windowed_aggregates_key_holds_the_window_start_in_millis(contracts: Contracts) -> None:
    model = _model(contracts, "ticket_events_per_hour")
    start = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    rows = pa.Table.from_pylist([_change("upsert", 1, 1, 1, channel="EMAIL", window_start=start, events=1, replies=0)])
    ((key, _),) = states(model, rows)
    assert key == f'ticket_events_per_hour\x00["EMAIL",{int(start.timestamp() * 1000)}]'


def test_changes_the_changelog_lacks_are_published_again_and_nothing_else(contracts: Contracts) -> None:
    model = _model(contracts, "users_current")
    fields = {"email": "h", "display_name": "D***", "locale": "en", "plan": "FREE", "is_agent": False}
    rows = pa.Table.from_pylist(
        [
            _change("upsert", 5, 5, 1, user_id="u1", **fields),
            _change("upsert", 6, 6, 2, user_id="u1", **{**fields, "plan": "PRO"}),
            _change("upsert", 7, 7, 1, user_id="u2", **fields),
            _change("upsert", 8, 8, 1, user_id="u3", **fields),
            _change("delete", 9, 9, 2, user_id="u3", **dict.fromkeys(fields)),
            _change("upsert", 9, 9, 1, user_id="u4", **fields),
            _change("delete", 10, 10, 2, user_id="u4", **dict.fromkeys(fields)),
        ]
    )
    published = {'["u1"]': 1, '["u2"]': 1, '["u3"]': 1}  # u1 lags, u2 is level, u3's delete is missing, u4 never
    fixes = dict(corrections(model, rows, published))
    assert set(fixes) == {'["u1"]', '["u3"]'}
    assert fixes['["u3"]'] is None  # a tombstone
    value = fixes['["u1"]']
    assert value is not None
    assert json.loads(value) == {
        "user_id": "u1",
        **{**fields, "plan": "PRO"},
        "_op": "upsert",
        "_version": 2,
        "_topic": "t",
        "_partition": 1,
        "_offset": 6,
    }
    assert list(json.loads(value))[:6] == ["user_id", *fields]  # the job's field order
