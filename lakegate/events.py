"""Realistic events for the customer-support contracts, and a schema-driven fallback for any other contract.

Deterministic for a given ``random.Random``: the same seed yields the same events and the same ids.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from udfs.contract import Contract

Event = dict[str, Any]

_SUBJECTS = (
    "Cannot log in after password reset",
    "Invoice shows the wrong VAT number",
    "Export to CSV times out",
    "Agent replied in the wrong language",
    "Refund for a duplicate charge",
    "SSO with Okta fails for new users",
    "Attachments over 10 MB are rejected",
    "Dark mode makes the editor unreadable",
    "Webhook retries flood our endpoint",
    "How do I merge two organisations?",
)
_FIRST = ("Ana", "Bo", "Chen", "Dara", "Emil", "Fatou", "Goran", "Hana", "Ivo", "Jules", "Kemal", "Lea")
_LAST = ("Silva", "Nguyen", "Okafor", "Novak", "Schmidt", "Haddad", "Kowalski", "Moreau", "Ito", "Berg")
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-ES")
_SENTENCES = (
    "Customer reports the problem started after the last release.",
    "Steps to reproduce are attached below.",
    "Tried clearing the cache and signing in again, no change.",
    "Happens on Chrome and Firefox, not on Safari.",
    "The error message says the session expired, but it was opened a minute ago.",
    "Escalated to tier two because the account is on the enterprise plan.",
    "Waiting for logs from the customer.",
    "A workaround was suggested: export in smaller batches.",
    "The customer is travelling and replies late.",
    "Billing confirmed the charge was made twice on the same day.",
    "Linked to an open engineering issue.",
)


@dataclass(frozen=True, slots=True)
class Padding:
    """Fill ``field`` (an optional string in the contract's reader schema) with about ``chars`` characters of
    free text, uniformly between half and one and a half times that, so records vary in size like real
    notes do. Benchmarks use it to reach a realistic record size; contracts without the field ignore it."""

    field: str
    chars: int


def free_text(rng: random.Random, chars: int) -> str:
    """Support-desk sentences, exactly ``chars`` characters long (0: empty)."""
    parts: list[str] = []
    length = 0
    while length < chars:
        sentence = rng.choice(_SENTENCES)
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:chars]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class EventFactory:
    """Makes events for one contract; keys repeat (a pool of entities) so events update the same keys."""

    def __init__(
        self, contract: Contract, rng: random.Random, *, keys: int = 500, padding: Padding | None = None
    ) -> None:
        self.contract = contract
        self._rng = rng
        fields = {f["name"] for f in contract.reader_schema_json["fields"]}
        self._padding = padding if padding is not None and padding.field in fields else None
        self._csat_field = "satisfaction_score" if "satisfaction_score" in fields else "csat_score"
        self._keys = [f"{contract.name[:1]}-{rng.randrange(10**8):08d}" for _ in range(keys)]
        self._make: Callable[[str, int], Event] = {
            "tickets": self._ticket,
            "users": self._user,
        }.get(contract.name, self._generic)

    def next(self, now_ms: int | None = None) -> Event:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        key = self._rng.choice(self._keys)
        event = self._make(key, now_ms)
        event[self.contract.event_id_field] = _uuid(self._rng)
        event[self.contract.event_time_field] = now_ms - self._rng.randrange(0, 5000)
        event[self.contract.key_field] = key
        if self._padding is not None:
            half = self._padding.chars // 2
            event[self._padding.field] = free_text(self._rng, half + self._rng.randint(0, 2 * half))
        return event

    def _ticket(self, key: str, now_ms: int) -> Event:
        rng = self._rng
        status = rng.choice(("NEW", "OPEN", "PENDING", "SOLVED", "CLOSED"))
        return {
            "event_type": {"NEW": "CREATED", "SOLVED": "SOLVED", "CLOSED": "CLOSED"}.get(status, "UPDATED"),
            "customer_id": f"c-{rng.randrange(10**6):06d}",
            "subject": rng.choice(_SUBJECTS),
            "priority": rng.choices(("LOW", "NORMAL", "HIGH", "URGENT"), (3, 10, 4, 1))[0],
            "status": status,
            "channel": rng.choice(("EMAIL", "CHAT", "PHONE", "WEB")),
            "assignee_id": None if status == "NEW" else f"agent-{rng.randrange(40):02d}",
            "reply_count": rng.randrange(0, 12),
            "first_response_seconds": None if status == "NEW" else rng.randrange(30, 86_400),
            # Added in ticket_event v2 as satisfaction_score, renamed csat_score in v3: the reader's name for it.
            # v1 writers leave it out (null).
            self._csat_field: rng.randint(1, 5) if status in ("SOLVED", "CLOSED") else None,
        }

    def _user(self, key: str, now_ms: int) -> Event:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "event_type": rng.choices(("SIGNED_UP", "PROFILE_UPDATED", "DEACTIVATED", "DELETED"), (5, 10, 1, 1))[0],
            "email": f"{first}.{last}.{rng.randrange(1000)}@example.com".lower(),
            "display_name": f"{first} {last}",
            "locale": rng.choice(_LOCALES),
            "plan": rng.choice(("FREE", "TEAM", "ENTERPRISE")),
            "is_agent": rng.random() < 0.1,
            # Before the event time (at most 5 s before now_ms): the users contract's signed_up.not_after_event.
            "signed_up_at": now_ms - 5_000 - rng.randrange(0, 400 * 86_400_000),
        }

    def _generic(self, key: str, now_ms: int) -> Event:
        return {f["name"]: _value_for(f["type"], self._rng) for f in self.contract.reader_schema_json["fields"]}


def _value_for(avro: Any, rng: random.Random) -> Any:
    if isinstance(avro, list):
        return _value_for(next(t for t in avro if t != "null"), rng)
    if isinstance(avro, Mapping):
        if avro.get("type") == "enum":
            return rng.choice(avro["symbols"])
        if avro.get("logicalType", "").startswith("timestamp"):
            return int(time.time() * 1000)
        return _value_for(avro["type"], rng)
    makers: dict[str, Callable[[], Any]] = {
        "string": lambda: f"v-{rng.randrange(10**6)}",
        "int": lambda: rng.randrange(1000),
        "long": lambda: rng.randrange(10**9),
        "boolean": lambda: rng.random() < 0.5,
        "float": rng.random,
        "double": rng.random,
        "bytes": lambda: rng.randbytes(8),
    }
    return makers[avro]()
