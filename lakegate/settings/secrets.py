"""The one secret type of the settings: a value that is masked wherever shown and read only on purpose.

:class:`Secret` wraps a string (the Kafka SASL password, the PII salt): ``str`` and ``repr`` show ``***``
(nothing when unset) and the value itself comes only from :meth:`Secret.reveal`. :class:`SecretUrl` is a URL
whose userinfo (``user:password@``) is the secret part: shown as ``***@``, the rest as it is. Settings name
no secret by hand: every field typed as a :class:`Secret` is masked when printed, replaced by
:meth:`Secret.stripped` before the settings are pickled into Flink functions, and put back in a worker by
:meth:`Secret.restored_from` (the worker's own settings).

Invariant: only :meth:`Secret.reveal` returns the secret part; pickling or copying a secret that is not
stripped raises, so a secret cannot reach a job graph by accident.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Self

from lakegate.errors import SettingsError

MASK = "***"


@dataclass(frozen=True, slots=True, repr=False)
class Secret:
    """A secret string. Compares by value; ``bool`` is whether it is set."""

    _value: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self._value, str):
            raise TypeError(f"{type(self).__name__} holds a str, got {type(self._value).__name__}")

    def reveal(self) -> str:
        """The secret itself: for the one place that hands it to a client, never for printing."""
        return self._value

    def stripped(self) -> Self:
        """This value without its secret part, for copies that travel (an empty secret)."""
        return type(self)("")

    def restored_from(self, own: Self) -> Self:
        """In a worker: the secret of the worker's own settings in place of this stripped one."""
        return own

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        if self != self.stripped():
            raise SettingsError(
                f"refusing to pickle or copy a {type(self).__name__} that holds a secret: "
                "pickle Settings.without_secrets() instead"
            )
        return (type(self), (self._value,))

    def __copy__(self) -> Self:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


@dataclass(frozen=True, slots=True, repr=False)
class SecretUrl(Secret):
    """A URL that may carry credentials (``https://user:password@host/path``): they are its secret part."""

    def stripped(self) -> Self:
        """The URL without its userinfo."""
        return type(self)(_replace_userinfo(self._value, ""))

    def restored_from(self, own: Self) -> Self:
        """The worker's own URL, with its credentials, only if it names the same place as this one."""
        return own if own.stripped() == self else self

    def __str__(self) -> str:
        return _replace_userinfo(self._value, MASK + "@")

    @property
    def public(self) -> str:
        """The URL without credentials, safe to show and to send anywhere."""
        return self.stripped().reveal()


def _replace_userinfo(url: str, userinfo: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    # The text after the userinfo as written (not parsed: a malformed port must still be masked, not raise).
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, userinfo + host, parts.path, parts.query, parts.fragment))
