"""PII treatment for payloads that leave the audit log (read models, logs, quarantine projections).

:func:`treat` applies a contract's ``[pii]`` table: ``hash`` is the HMAC-SHA-256 hex of the value's UTF-8
bytes (raw bytes for ``bytes`` fields) keyed with the per-deployment salt the caller passes in, so hashed
values still join and group but resist a dictionary attack without the salt; ``mask`` keeps the first
character and appends ``***`` (empty stays empty); ``drop`` removes the field. Nulls stay null.

Invariant: everything projected out of the audit log passes through :func:`treat`, so ``[pii]`` is the one
place that says how a personal field is hidden; the audit log itself keeps raw values and the salt is never
stored in ``schemas/``. See schemas/README.md#pii.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from udfs.columns import Column, ColumnKind
from udfs.errors import ContractError
from udfs.naming import check_field

if TYPE_CHECKING:
    from udfs.contract import Contract

TREATMENTS = ("hash", "mask", "drop")
MIN_SALT_BYTES = 16
MASK = "***"
_FITS: dict[str, frozenset[ColumnKind] | None] = {
    "hash": frozenset({ColumnKind.string, ColumnKind.bytes}),
    "mask": frozenset({ColumnKind.string}),
    "drop": None,  # any type
}


def parse_pii(raw: object, path: Path, columns: Sequence[Column]) -> dict[str, str]:
    """Validate the ``[pii]`` table: ``<field> = "hash" | "mask" | "drop"`` for fields of the reader schema."""
    if not isinstance(raw, dict):
        raise ContractError(path, "pii", "must be a table", '[pii] then email = "hash"')
    kinds = {c.name: c.kind for c in columns}
    for field, treatment in raw.items():
        where = f"pii.{field}"
        check_field(field, kinds, path=path, where=where)
        if treatment not in TREATMENTS:
            raise ContractError(
                path, where, f"unknown treatment {treatment!r}", f"use one of {', '.join(repr(t) for t in TREATMENTS)}"
            )
        fits = _FITS[treatment]
        if fits is not None and kinds[field] not in fits:
            raise ContractError(
                path,
                where,
                f"{treatment!r} does not fit field '{field}' of type {kinds[field]}",
                "use 'drop' for non-text fields",
            )
    return dict(raw)


def treat(contract: Contract, payload: Mapping[str, object], salt: bytes) -> dict[str, object]:
    """A copy of ``payload`` with the contract's PII treatments applied; fields without one are unchanged."""
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the PII salt must be at least {MIN_SALT_BYTES} random bytes, kept secret per deployment")
    out = dict(payload)
    for field, treatment in contract.pii.items():
        if field not in out:
            continue
        if treatment == "drop":
            del out[field]
            continue
        value = out[field]
        if value is None:
            continue
        if treatment == "hash":
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            out[field] = hmac.new(salt, data, hashlib.sha256).hexdigest()
        else:
            text = str(value)
            out[field] = text[:1] + MASK if text else text
    return out
