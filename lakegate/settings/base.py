"""What every settings section is made of: fields that declare their flat key, and checks run per section.

A section field is declared as ``field(default=..., metadata=known_as(key, ...))``: its flat key (the one
name users see: ``kafka_bootstrap`` in TOML, ``LAKEGATE_KAFKA_BOOTSTRAP`` in the environment,
``Settings.load(kafka_bootstrap=...)`` in code) and, optionally, a minimum or that it is a name for
Kafka/Iceberg/Flink. :class:`Section` checks those declarations and every ``Literal`` field's choices
generically in :meth:`Section.problems`, then adds the section's own rules (:meth:`Section.rules`);
problems name the flat key, never the attribute path.

Invariant: a section's problems depend on that section's values only; rules spanning sections belong to
:class:`lakegate.settings.Settings`.
"""

from __future__ import annotations

import typing
import urllib.parse
from dataclasses import Field, fields
from typing import Any, ClassVar, Literal

# Metadata keys of a section field.
KEY, MINIMUM, NAME, CHOICES = "key", "minimum", "name", "choices"


def known_as(key: str, *, minimum: int | None = None, name: bool = False, choices: str | None = None) -> dict[str, Any]:
    """The metadata of a section field known outside as ``key``: ``field(default=..., metadata=known_as(...))``.
    ``minimum``: the smallest value allowed; ``name``: a Kafka/Iceberg/Flink name (letters, digits, '.', '_',
    '-'); ``choices``: how the refusal of a value outside a ``Literal`` type describes the choices (default:
    ``one of (...)``)."""
    return {KEY: key, MINIMUM: minimum, NAME: name, CHOICES: choices}


def flat_key(f: Field[Any]) -> str:
    return str(f.metadata[KEY])


_HINTS: dict[type[object], dict[str, Any]] = {}


def type_hints(cls: type[object]) -> dict[str, Any]:
    """The resolved annotations of a section (they are strings under ``from __future__ import annotations``)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def literal_choices(hint: Any) -> tuple[str, ...] | None:
    """The choices of a ``Literal[...]`` type, in declaration order; None for any other type."""
    return tuple(typing.get_args(hint)) if typing.get_origin(hint) is Literal else None


class Section:
    """Base of the settings sections (frozen, slotted dataclasses): generic checks plus the section's rules."""

    __slots__ = ()
    # The section's attribute on Settings and its heading in `lakegate settings`.
    title: ClassVar[str]

    def problems(self) -> list[str]:
        """Everything wrong with this section's values, one message each (empty when valid)."""
        found: list[str] = []
        hints = type_hints(type(self))
        for f in fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            key, value = flat_key(f), getattr(self, f.name)
            choices = literal_choices(hints[f.name])
            if choices is not None and value not in choices:
                found.append(f"{key} must be {f.metadata[CHOICES] or f'one of {choices}'}, got {value!r}")
            minimum = f.metadata[MINIMUM]
            if minimum is not None and value < minimum:
                found.append(f"{key} must be at least {minimum}, got {value}")
            if f.metadata[NAME] and not is_name(value):
                found.append(f"{key} must be non-empty letters, digits, '.', '_' or '-', got {value!r}")
        return found + self.rules()

    def rules(self) -> list[str]:
        """The section's own checks beyond the declared ones."""
        return []


def is_name(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "._-" for c in value)


def is_http_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def has_numeric_port(parts: urllib.parse.SplitResult) -> bool:
    """Whether a split URL's port, if it names one, is a number (reading one that is not raises)."""
    try:
        parts.port  # noqa: B018
    except ValueError:
        return False
    return True


def is_port_range(value: str) -> bool:
    first, _, last = value.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return False
    return 0 < int(first) <= int(last or first) <= 65535


def port_range(value: str) -> range:
    """The ports of a validated ``metrics_port``-style value (``9249`` or ``9249-9259``)."""
    first, _, last = value.partition("-")
    return range(int(first), int(last or first) + 1)
