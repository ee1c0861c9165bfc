"""The one wrapper every ``main()`` runs through: the `lakegate` command, each job, the benchmark scripts.

:func:`entry_point` decorates ``main(argv=None) -> int``. Around the body it configures logging, turns SIGTERM
into ``SystemExit`` (so ``finally`` blocks run: the demo stops its stack, a job closes its exporter), and
ends the two ways an entry point ends on purpose without a traceback: a :class:`LakegateError` (every
domain error, including the contract and registry errors from udfs) prints ``lakegate: error: <message>``
on stderr and exits 2; Ctrl-C exits 130. Anything else is a bug and keeps its traceback.

A ``RegistryUnavailable`` raised inside a running Flink task never gets here: it fails the task in the
worker, and Flink restarts it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec

from lakegate import logs
from lakegate.errors import LakegateError

ERROR_EXIT = 2
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a Ctrl-C

P = ParamSpec("P")


def entry_point(main: Callable[P, int]) -> Callable[P, int]:
    """``main`` with logging configured, SIGTERM turned into ``SystemExit``, and domain errors and Ctrl-C
    turned into their exit codes."""

    @functools.wraps(main)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> int:
        logs.configure()
        logs.exit_on_sigterm()
        try:
            return main(*args, **kwargs)
        except LakegateError as exc:
            print(f"lakegate: error: {exc}", file=sys.stderr)
            return ERROR_EXIT
        except KeyboardInterrupt:
            return INTERRUPTED_EXIT

    return wrapped
