"""The replay lease in a real pyiceberg SQL catalog (SQLite file, local warehouse; no JVM)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from lakegate.catalog import ensure_namespace, open_catalog, replay_lease
from lakegate.lease import KEY, SCHEMA, Holder, Lease, LeaseHeld, verdict
from lakegate.settings import Settings

NOW = 1_800_000_000.0


def _holder(**changes: object) -> Holder:
    fields: dict[str, object] = {
        "owner": "a",
        "command": "lakegate quarantine replay",
        "host": "h",
        "pid": 42,
        "acquired_at": NOW - 10,
        "expires_at": NOW + 50,
    }
    fields.update(changes)
    return Holder(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "host", "alive", "expected"),
    [
        (None, "h", True, "free"),
        (_holder(), "h", True, "held"),
        (_holder(), "other-host", False, "held"),  # a pid elsewhere says nothing about this host
        (_holder(), "h", False, "orphaned"),
        (_holder(expires_at=NOW), "h", True, "expired"),
    ],
    ids=["free", "held", "held-elsewhere", "orphaned", "expired"],
)
def test_verdict(current: Holder | None, host: str, alive: bool, expected: str) -> None:
    assert verdict(current, NOW, host, lambda _pid: alive) == expected


def test_holder_round_trips_and_unreadable_values_are_no_holder() -> None:
    assert Holder.from_json(_holder().to_json()) == _holder()
    assert Holder.from_json("not json") is None
    assert Holder.from_json('{"owner": "a"}') is None


def test_held_says_who_holds_it_until_when_and_what_to_do() -> None:
    message = str(LeaseHeld("quarantine.replay_lease", _holder()))
    assert "lakegate quarantine replay is already running (pid 42 on h" in message
    assert "quarantine.replay_lease until 2027-01-15 08:00:50 UTC" in message
    assert "Wait for it to finish" in message


@pytest.fixture
def iceberg(tmp_path: Path) -> tuple[Catalog, tuple[str, str]]:
    settings = Settings.load(env={}, home=tmp_path / "home")
    catalog = open_catalog(settings)
    ensure_namespace(catalog, settings.catalog.quarantine_namespace)
    return catalog, replay_lease(settings)


def test_a_second_taker_is_refused_until_the_first_gives_the_lease_back(
    iceberg: tuple[Catalog, tuple[str, str]],
) -> None:
    catalog, identifier = iceberg
    with Lease(catalog, identifier, "first") as first:
        assert first.holder is not None
        with pytest.raises(LeaseHeld, match=rf"first is already running \(pid {os.getpid()} on "):
            Lease(catalog, identifier, "second").acquire()
        stored = Holder.from_json(catalog.load_table(identifier).properties[KEY])
        assert stored == first.holder
    with pytest.raises(NoSuchTableError):
        catalog.load_table(identifier)  # given back: the lease table is gone
    with Lease(catalog, identifier, "second") as second:
        assert second.holder is not None and second.holder.command == "second"


def test_of_racing_takers_exactly_one_wins(iceberg: tuple[Catalog, tuple[str, str]]) -> None:
    catalog, identifier = iceberg
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def take(n: int) -> None:
        lease = Lease(catalog, identifier, f"taker-{n}")
        start.wait()
        try:
            lease.acquire()
            outcomes.append("won")
        except LeaseHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=take, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "won"]


def test_a_lease_that_ran_out_is_taken_over_and_its_holder_learns_it_lost(
    iceberg: tuple[Catalog, tuple[str, str]],
) -> None:
    catalog, identifier = iceberg
    clock = [NOW]
    stalled = Lease(catalog, identifier, "stalled", ttl_s=30, clock=lambda: clock[0])
    stalled.acquire()
    clock[0] += 29
    with pytest.raises(LeaseHeld):
        Lease(catalog, identifier, "next", ttl_s=30, clock=lambda: clock[0]).acquire()
    clock[0] += 1  # the stalled holder never renewed: its time is up
    successor = Lease(catalog, identifier, "next", ttl_s=30, clock=lambda: clock[0])
    successor.acquire()
    assert not stalled.renew() and stalled.lost, "a renewal never lands on the successor's table"
    stalled.release()
    stored = Holder.from_json(catalog.load_table(identifier).properties[KEY])
    assert stored == successor.holder, "the stalled holder neither overwrote nor dropped the successor's lease"
    assert successor.renew()
    successor.release()


def test_the_lease_of_a_killed_holder_on_this_host_is_taken_over_at_once(
    iceberg: tuple[Catalog, tuple[str, str]],
) -> None:
    catalog, identifier = iceberg
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    corpse = _holder(host=socket.gethostname(), pid=int(dead.stdout), expires_at=NOW + 3600)
    catalog.create_table(identifier, SCHEMA, properties={KEY: corpse.to_json()})
    lease = Lease(catalog, identifier, "after the crash", clock=lambda: NOW)
    assert lease.acquire().command == "after the crash"
    lease.release()
