"""A load generator cheaper than the job it loads: records made once, then sent again and again, each time
with a fresh event id and event time written into their bytes.

:func:`templates` makes a pool of records with the repo's generator (:class:`lakegate.produce.RecordMaker`:
same events, padding and kinds of bad record) and notes, for each valid one, where its event id (a UUID's
36 characters) and its event time (a zigzag varint, six bytes for any time near now) sit in the value.
:meth:`Template.patched` copies the value with a new id and time of the same byte lengths, so the Avro
body stays valid without encoding it again. Bad records are sent unchanged: they stay bad (an event time
only gets older). :class:`Load` sends the pool round and round at a rate from a thread of its own, with the
partition worked out once per template. Invariant: no two valid records sent carry the same event id.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fastavro
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from lakegate import kafka_clients
from lakegate.corrupt import zigzag_varint
from lakegate.produce import VALID, RecordMaker
from lakegate.settings import Settings
from udfs.columns import epoch_millis
from udfs.wire import HEADER_SIZE

ID_LENGTH = 36  # a UUID's text: 8-4-4-4-12 hex digits
TICK_S = 0.005


@dataclass(frozen=True, slots=True)
class Template:
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    id_at: int | None = None  # where the event id's bytes start in value; None: sent unchanged
    time_at: int = 0  # where the event time's varint starts
    time_bytes: int = 0  # its length, which a new time must keep
    jitter_ms: int = 0  # how far the event time lay before the moment it was made

    def patched(self, event_id: str, now_ms: int) -> bytes | None:
        """The value with ``event_id`` and the event time ``now_ms`` minus the template's jitter."""
        if self.id_at is None or self.value is None:
            return self.value
        encoded = zigzag_varint(now_ms - self.jitter_ms)
        if len(encoded) != self.time_bytes or len(event_id) != ID_LENGTH:
            raise ValueError(f"a patch must keep the byte lengths: {event_id!r}, {now_ms}")
        value = bytearray(self.value)
        value[self.id_at : self.id_at + ID_LENGTH] = event_id.encode()
        value[self.time_at : self.time_at + self.time_bytes] = encoded
        return bytes(value)


def templates(maker: RecordMaker, count: int, partitions: dict[str, int]) -> list[Template]:
    """``count`` records from ``maker`` (writing each contract's latest version), with their patch positions;
    ``partitions``: each topic's partition count. A valid record whose id or time bytes occur twice in its
    value (so the patch could land on the wrong field) is left out of the pool."""
    pool: list[Template] = []
    for i in range(count):
        draft = maker.make(i)
        n = partitions[draft.contract.topic]
        # The Java client's default for a keyed record (a key's events stay in one partition, in order).
        partition = (murmur2(draft.key) & 0x7FFFFFFF) % n if draft.key is not None else i % n
        base = Template(draft.contract.topic, partition, draft.key, draft.value)
        if draft.expected != VALID:
            pool.append(base)
            continue
        assert draft.value is not None
        contract = draft.contract
        event: Any = fastavro.schemaless_reader(io.BytesIO(draft.value[HEADER_SIZE:]), contract.reader_schema, None)  # type: ignore[arg-type]
        event_time = epoch_millis(event[contract.event_time_field])
        made = draft.event_id.encode()
        stamp = zigzag_varint(event_time)
        if len(made) != ID_LENGTH or draft.value.count(made) != 1 or draft.value.count(stamp) != 1:
            continue
        pool.append(
            dataclasses.replace(
                base,
                id_at=draft.value.index(made),
                time_at=draft.value.index(stamp),
                time_bytes=len(stamp),
                jitter_ms=int(time.time() * 1000) - event_time,
            )
        )
    return pool


class EventIds:
    """UUID-shaped ids, unique within a run and across runs: a random prefix and a counter."""

    def __init__(self, rng: random.Random) -> None:
        a, b, c, d = (rng.getrandbits(bits) for bits in (32, 16, 12, 12))
        self._prefix = f"{a:08x}-{b:04x}-4{c:03x}-8{d:03x}-"
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"


class Load(threading.Thread):
    """Sends ``pool`` round and round at ``rate`` records per second until stopped. ``sent``: records handed
    to the client; ``failed``: sends the broker refused (reported by the client's callbacks)."""

    def __init__(self, settings: Settings, pool: Sequence[Template], rate: float, *, seed: int = 1) -> None:
        super().__init__(daemon=True, name="soak-load")
        if not pool or rate <= 0:
            raise ValueError("a load needs templates and a positive rate")
        self._settings, self._pool, self.rate = settings, pool, rate
        self._ids = EventIds(random.Random(seed))  # noqa: S311 - test data, not cryptography
        self.sent = 0
        self.failed = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def _failure(self, _: Any) -> None:
        self.failed += 1

    def run(self) -> None:
        try:
            producer = KafkaProducer(
                **kafka_clients.python_config(self._settings),
                acks="all",
                linger_ms=20,
                batch_size=256 * 1024,
                client_id="lakegate-soak-load",
            )
            started = time.monotonic()
            cycle = itertools.cycle(self._pool)
            while not self.stopping.is_set():
                due = int((time.monotonic() - started) * self.rate) - self.sent
                now_ms = int(time.time() * 1000)
                for _ in range(due):
                    t = next(cycle)
                    value = t.patched(self._ids.next(), now_ms) if t.id_at is not None else t.value
                    producer.send(t.topic, key=t.key, value=value, partition=t.partition).add_errback(self._failure)
                self.sent += max(due, 0)
                time.sleep(TICK_S)
            producer.flush()
            producer.close()
        except BaseException as exc:  # reported by the sampler, which stops the run
            self.error = exc
