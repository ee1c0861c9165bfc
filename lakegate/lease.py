"""A lease in the Iceberg catalog: one holder at a time for work that must not run twice at once (a replay).

The lease is a small table of its own whose existence is the lock: creating a table is atomic in every
Iceberg catalog, so of two racing takers one creates it and the other finds it. Its ``lakegate.lease``
property says who holds it and until when. The holder renews it every third of its time to live while it
works (a commit that asserts the table's UUID, so it never lands on a successor's table) and drops the table
when done. One that dies cannot hold it forever: its lease lapses when its time runs out, or at once when it
ran on this host and its process is gone; a taker then renames the lapsed table away (atomic too: one of
several takers wins) and creates its own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from types import TracebackType
from typing import Literal

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from lakegate.errors import LakegateError
from lakegate.logs import kv

log = logging.getLogger(__name__)

KEY = "lakegate.lease"
ATTEMPTS = 10  # each lost race (a taker created or renamed first) is followed by a fresh look
SCHEMA = Schema(NestedField(1, "holder", StringType(), required=False))  # the table's existence is the lock
Verdict = Literal["free", "expired", "orphaned", "held"]


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str  # unique per acquisition
    command: str
    host: str
    pid: int
    acquired_at: float  # seconds since the epoch
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder a property names; None for a value lakegate did not write (treated as no lease)."""
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (ValueError, TypeError):
            return None


class LeaseHeld(LakegateError):  # noqa: N818 - the state, as the user meets it
    """Another process holds the lease: the work it guards is running there."""

    def __init__(self, lease: str, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            f"{holder.command} is already running (pid {holder.pid} on {holder.host}, since "
            f"{_iso(holder.acquired_at)}): it holds the lease {lease} until {_iso(holder.expires_at)} and renews it "
            f"while it works. Wait for it to finish, then run this again; if it died, its lease lapses by itself "
            f"at {_iso(holder.expires_at)}."
        )


def verdict(current: Holder | None, now: float, host: str, alive: Callable[[int], bool]) -> Verdict:
    """May a new holder take the lease? ``free`` (none), ``expired``, ``orphaned`` (its process on this host is
    gone): yes; ``held``: no."""
    if current is None:
        return "free"
    if current.expires_at <= now:
        return "expired"
    if current.host == host and not alive(current.pid):
        return "orphaned"
    return "held"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class Lease:
    """``with Lease(catalog, ("quarantine", "replay_lease"), "lakegate quarantine replay"):`` — raises
    :class:`LeaseHeld` if another process holds it. ``lost`` turns true if a renewal finds the lease taken
    over (this holder stalled past its time to live); the work goes on, so a holder must renew in time."""

    def __init__(
        self,
        catalog: Catalog,
        identifier: tuple[str, str],
        command: str,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._catalog = catalog
        self.identifier = identifier
        self.command = command
        self.ttl_s = ttl_s
        self._clock = clock
        self.holder: Holder | None = None
        self.lost = False
        self._table_uuid: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def name(self) -> str:
        return ".".join(self.identifier)

    def __enter__(self) -> Lease:
        self.acquire()
        self._renewer = threading.Thread(target=self._renew_until_stopped, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.release()

    def acquire(self) -> Holder:
        for _ in range(ATTEMPTS):
            now = self._clock()
            mine = Holder(uuid.uuid4().hex, self.command, socket.gethostname(), os.getpid(), now, now + self.ttl_s)
            try:
                table = self._catalog.create_table(self.identifier, SCHEMA, properties={KEY: mine.to_json()})
            except TableAlreadyExistsError:
                self._clear_lapsed()  # raises LeaseHeld while the holder's lease runs
                continue
            self.holder, self._table_uuid = mine, str(table.metadata.table_uuid)
            log.info("lease taken", extra=kv(lease=self.name, command=self.command, ttl_s=self.ttl_s))
            return mine
        raise LakegateError(f"could not take the lease {self.name}: {ATTEMPTS} attempts lost a race; run again")

    def renew(self) -> bool:
        """Extend the lease; False (and ``lost``) once it is no longer this holder's."""
        assert self.holder is not None, "renew() before acquire()"
        renewed = replace(self.holder, expires_at=self._clock() + self.ttl_s)
        try:
            table = self._catalog.load_table(self.identifier)
            if str(table.metadata.table_uuid) != self._table_uuid:
                raise NoSuchTableError(self.name)
            with table.transaction() as tx:  # asserts the table's UUID: never a successor's table
                tx.set_properties({KEY: renewed.to_json()})
        except (NoSuchTableError, CommitFailedException):
            self.lost = True
            log.error("lease lost: taken over after it lapsed", extra=kv(lease=self.name, command=self.command))
            return False
        self.holder = renewed
        return True

    def release(self) -> None:
        if self.holder is None or self.lost:
            return
        try:
            table = self._catalog.load_table(self.identifier)
            if str(table.metadata.table_uuid) == self._table_uuid:
                self._catalog.purge_table(self.identifier)
        except NoSuchTableError:
            pass  # taken over and given back meanwhile: nothing of ours is left
        log.info("lease given back", extra=kv(lease=self.name))
        self.holder = None

    def _clear_lapsed(self) -> None:
        """The lease table exists: raise :class:`LeaseHeld` if its holder's lease runs, else rename it away."""
        try:
            table = self._catalog.load_table(self.identifier)
        except NoSuchTableError:
            return  # given back meanwhile: try again
        text = table.properties.get(KEY)
        current = Holder.from_json(text) if text else None
        found = verdict(current, self._clock(), socket.gethostname(), pid_alive)
        if found == "held" and current is not None:
            raise LeaseHeld(self.name, current)
        log.warning(
            "taking over a lapsed lease",
            extra=kv(
                lease=self.name,
                why=found if current is not None else "unreadable holder",
                command=current and current.command,
                pid=current and current.pid,
            ),
        )
        lapsed = (self.identifier[0], f"{self.identifier[1]}_lapsed_{uuid.uuid4().hex[:12]}")
        try:
            self._catalog.rename_table(self.identifier, lapsed)
        except (NoSuchTableError, TableAlreadyExistsError):
            return  # another taker was first: try again
        try:
            self._catalog.purge_table(lapsed)
        except Exception:  # the lease is free either way; a leftover table only takes space
            log.exception("could not drop a lapsed lease table", extra=kv(table=".".join(lapsed)))

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.renew():
                    return
            except Exception:  # a catalog hiccup: the next tick tries again; the lease lasts until then
                log.exception("lease renewal failed", extra=kv(lease=self.name))


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
