"""Names in a contract that match nothing: unknown TOML keys and unknown field names, with a "did you mean".

A typo in ``contract.toml`` should cost one glance at the error, so every unknown name is reported the same
way: :func:`check_keys` for keys of a TOML table (the contract itself, a rule, a read model, a measure, a
window) and :func:`check_field` for field names that must be top-level fields of the reader schema.
Both raise a :class:`~udfs.errors.ContractError` naming the file, where the name sits and the fix; the fix
suggests the closest known name (:func:`close_match`) when one is close, else (for keys) lists the allowed ones.

Invariant: a table's first unknown key, or an unknown field, fails the whole contract with one message shape;
callers choose only where the name sits and, for keys, the wording of the problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from pathlib import Path

from udfs.errors import ContractError


def close_match(name: object, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (difflib's similarity of at least 0.6), or None if none is close."""
    matches = difflib.get_close_matches(str(name), known, n=1)
    return matches[0] if matches else None


def check_keys(
    table: Iterable[str],
    allowed: Collection[str],
    *,
    path: Path | str,
    where: str | None = None,
    problem: str = "unknown key",
) -> None:
    """Raise a :class:`ContractError` for the first key of ``table`` that is not ``allowed``.

    The error's field is ``<where>.<key>``, or the bare key when ``where`` is None (a contract's top level).
    Its fix is ``remove it; did you mean '<close>'?``, or ``remove it; allowed keys: <sorted keys>`` when no
    allowed key is close.
    """
    for key in table:
        if key not in allowed:
            close = close_match(key, allowed)
            hint = f"did you mean '{close}'?" if close is not None else f"allowed keys: {', '.join(sorted(allowed))}"
            raise ContractError(path, key if where is None else f"{where}.{key}", problem, f"remove it; {hint}")


def check_field(field: object, columns: Collection[str], *, path: Path | str, where: str) -> str:
    """``field`` itself if it is one of ``columns`` (the reader schema's top-level field names), else raise a
    :class:`ContractError` at ``where`` whose fix names the closest column when one is close.

    A non-string ``field`` (a TOML number, list, ...) is never a column; the message shows it as its repr.
    """
    if isinstance(field, str) and field in columns:
        return field
    close = close_match(field, columns)
    hint = f"; did you mean '{close}'?" if close is not None else ""
    shown = f"'{field}'" if isinstance(field, str) else repr(field)
    raise ContractError(
        path,
        where,
        f"field {shown} is not in the reader schema",
        f"name a top-level field of the last schema version{hint}",
    )
