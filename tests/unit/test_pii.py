"""PII treatments applied to payloads leaving the audit log."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

import pytest

from udfs.contract import Contracts
from udfs.pii import MIN_SALT_BYTES, treat

from .support import user_event

SALT = b"0123456789abcdef-deployment-salt"


def test_users_contract_hashes_email_and_masks_display_name(contracts: Contracts) -> None:
    users = contracts.by_name("users")
    event = user_event()
    treated = treat(users, event, SALT)
    assert treated["email"] == hmac.new(SALT, b"secret.person@example.com", hashlib.sha256).hexdigest()
    assert len(str(treated["email"])) == 64
    assert treated["display_name"] == "S***"
    assert {k: v for k, v in treated.items() if k not in ("email", "display_name")} == {
        k: v for k, v in event.items() if k not in ("email", "display_name")
    }
    assert event["email"] == "secret.person@example.com", "the input payload is not modified"


def test_hash_is_deterministic_per_salt_and_differs_across_salts(contracts: Contracts) -> None:
    users = contracts.by_name("users")
    a = treat(users, user_event(), SALT)["email"]
    assert treat(users, user_event(), SALT)["email"] == a  # joins and group-bys still work
    assert treat(users, user_event(), SALT + b"x")["email"] != a


def test_nulls_empty_strings_drop_and_bytes(contracts: Contracts) -> None:
    users = replace(contracts.by_name("users"), pii={"email": "drop", "display_name": "mask", "locale": "hash"})
    treated = treat(users, user_event(display_name="", locale=None), SALT)
    assert "email" not in treated
    assert treated["display_name"] == ""
    assert treated["locale"] is None
    raw = replace(users, pii={"blob": "hash"})
    assert treat(raw, {"blob": b"\x00\xff"}, SALT)["blob"] == hmac.new(SALT, b"\x00\xff", hashlib.sha256).hexdigest()


def test_a_short_salt_is_refused(contracts: Contracts) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_SALT_BYTES}"):
        treat(contracts.by_name("users"), user_event(), b"short")
