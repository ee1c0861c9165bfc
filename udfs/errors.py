"""lakegate's one exception root, and the exceptions that separate bad data from broken infrastructure.

Every domain error of lakegate, here and in the control plane (lakegate/errors.py), subclasses
:class:`LakegateError`; it lives in this bottom room so that udfs needs nothing above it.

The split is the core routing invariant: :class:`BadRecord` means "this record is wrong" and ends in
quarantine; :class:`RegistryUnavailable` means "we cannot tell right now" and must propagate so Flink fails
the task and replays from the last checkpoint; :class:`ContractError` is a mistake in ``schemas/`` found
before any job starts.
"""

from __future__ import annotations

from pathlib import Path

from udfs.reasons import Reason


class LakegateError(Exception):
    """The root of every lakegate domain error. Its message says what went wrong and what to do: entry points
    (lakegate/entrypoint.py) print it without a traceback and exit 2."""


class BadRecord(LakegateError):  # noqa: N818 - name fixed by the interface
    """A record that cannot be accepted. ``message`` never contains payload values (they may be PII)."""

    def __init__(self, reason: Reason, message: str, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(f"{reason}: {message}" + (f" (field {field!r})" if field else ""))
        self.reason = reason
        self.message = message
        self.field = field
        self.rule = rule  # the contract rule's name, for Reason.rule_violation


class RegistryUnavailable(LakegateError):  # noqa: N818
    """The schema registry could not answer (network, 5xx, auth, misconfigured URL). Never quarantine."""


class RegistryRejected(LakegateError):  # noqa: N818
    """The registry refused a control-plane request (e.g. 409 incompatible, 422 invalid schema)."""

    def __init__(self, status: int, error_code: int | None, message: str) -> None:
        super().__init__(f"registry rejected the request: HTTP {status}, error_code {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message


class ContractError(LakegateError):
    """Invalid contract; renders as ``<path>: field '<field>': <problem>. Fix: <fix>``."""

    def __init__(self, path: Path | str, field: str | None, problem: str, fix: str) -> None:
        self.path = Path(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: field '{field}'" if field is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}. Fix: {fix}")
