"""Flat keys and section fields: the layered sources read, their values converted, the environment written.

Outside lakegate every setting has one flat name (``kafka_bootstrap``: a key of the settings file,
``LAKEGATE_KAFKA_BOOTSTRAP`` in the environment, a keyword of ``Settings.load`` and ``Settings.replace``);
inside, it is a section field (``settings.kafka.bootstrap``). :func:`index` maps the one to the other from
the fields' declarations, :func:`read_sources` layers file < environment < overrides under flat keys,
:func:`convert` turns text into the field's type and :func:`env_value` turns it back.

Invariant: a flat key reaches a section only through :func:`index`, and an unknown key is refused with the
known ones listed (and the closest one suggested) wherever it comes from.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lakegate.errors import SettingsError
from lakegate.settings.base import flat_key, literal_choices, type_hints
from lakegate.settings.secrets import Secret
from lakegate.settings.sections import SECTIONS
from udfs.naming import close_match

ENV_PREFIX = "LAKEGATE_"
SETTINGS_FILE_ENV = "LAKEGATE_SETTINGS_FILE"


@dataclass(frozen=True, slots=True)
class Key:
    """Where a flat key lives: ``Settings.<section>.<attr>``, of type ``hint`` (written ``annotation``)."""

    section: str
    attr: str
    annotation: str
    hint: Any


@functools.cache
def index() -> dict[str, Key]:
    """Every flat key, in the order of the sections and their fields."""
    return {
        flat_key(f): Key(cls.title, f.name, str(f.type), type_hints(cls)[f.name])
        for cls in SECTIONS
        for f in fields(cls)  # type: ignore[arg-type]  # the sections are dataclasses
    }


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def read_sources(file: Path | None, env: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The raw values under their flat keys: settings file < ``LAKEGATE_*`` environment < overrides."""
    known = index()
    raw: dict[str, Any] = {}
    file = file or (Path(env[SETTINGS_FILE_ENV]) if env.get(SETTINGS_FILE_ENV) else None)
    if file is not None:
        raw.update(_read_file(file, known))
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == SETTINGS_FILE_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in known:
            names = [env_name(k) for k in known]
            raise SettingsError(
                f"unknown environment variable {name}{_did_you_mean(name, names)}. Known: " + ", ".join(sorted(names))
            )
        raw[key] = value
    check_keys(overrides)
    raw.update({key: value for key, value in overrides.items() if value is not None})
    return raw


def check_keys(keys: Iterable[str]) -> None:
    """Refuse a keyword of ``Settings.load`` or ``Settings.replace`` that is no flat key."""
    known = index()
    for key in keys:
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}{_did_you_mean(key, known)}. Known: {sorted(known)}")


def _read_file(path: Path, known: Mapping[str, Key]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"settings file {path} does not exist; fix {SETTINGS_FILE_ENV} or create it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(known))
    if unknown:
        hints = "".join(_did_you_mean(key, known, f" for {key!r}") for key in unknown)
        raise SettingsError(f"settings file {path}: unknown keys {unknown}{hints}. Known: {sorted(known)}")
    return data


def _did_you_mean(name: str, known: Iterable[str], where: str = "") -> str:
    close = close_match(name, known)
    return f" (did you mean {close!r}{where}?)" if close is not None else ""


def convert(key: str, value: Any) -> Any:
    """``value`` (text from a file or the environment, or a value given in code) as the type of ``key``."""
    target = index()[key]
    hint = target.hint
    try:
        if isinstance(hint, type) and issubclass(hint, Secret):
            return hint(value.reveal() if isinstance(value, Secret) else str(value))
        if target.annotation.startswith("Path"):
            return Path(value).expanduser() if value not in ("", None) else None
        if hint is int:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return int(value)
        if hint is bool:
            return _boolean(value)
        if hint is str or literal_choices(hint) is not None:
            return str(value)  # a Literal's choices are checked with the other problems
    except ValueError as exc:
        raise SettingsError(f"setting {key}: cannot read {value!r} as {target.annotation}: {exc}") from exc
    raise TypeError(f"setting {key}: no conversion to {target.annotation}")  # a new field type: add it above


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def env_value(value: Any) -> str | None:
    """A field's value as a ``LAKEGATE_*`` variable's text (secrets revealed: for a child's environment only);
    None when unset."""
    if value is None:
        return None
    if isinstance(value, Secret):
        return value.reveal()
    return str(value).lower() if isinstance(value, bool) else str(value)
