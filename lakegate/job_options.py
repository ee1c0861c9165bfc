"""The jobs' command-line options, declared once for the job and for the `lakegate` command that starts it.

Each job's ``main`` builds its parser with the function here, and so does the matching `lakegate`
subcommand: both accept the same arguments, and the CLI forwards what the user typed to the job unchanged
(through lakegate/launcher.py) instead of rebuilding it. Defaults and help texts live here only.
"""

from __future__ import annotations

import argparse


def add_ingest_options(parser: argparse.ArgumentParser) -> None:
    """``jobs.ingest``; `lakegate run ingest`."""
    parser.add_argument("--drain", action="store_true", help="stop once the topics are read to their end")


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """``jobs.replay``; `lakegate quarantine replay`."""
    parser.add_argument("--reason", action="append", default=[], help="only this reason (repeatable)")
    parser.add_argument("--contract", action="append", default=[], help="only this contract (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="report what would be replayed, write nothing")


def add_maintain_options(parser: argparse.ArgumentParser) -> None:
    """``jobs.maintain``; `lakegate maintain`."""
    parser.add_argument(
        "--model", action="append", default=[], help="only this read model (repeatable; default: every table)"
    )
    parser.add_argument("--target-file-mb", type=int, default=128, help="size compaction aims at (default 128)")
    parser.add_argument("--retain-last", type=int, default=10, help="snapshots always kept (default 10)")
    parser.add_argument("--older-than-s", type=int, default=3600, help="snapshots newer than this are kept")
    parser.add_argument("--every-s", type=int, default=0, help="repeat every N seconds (default: once)")


def add_rebuild_options(parser: argparse.ArgumentParser) -> None:
    """``jobs.rebuild_model``; `lakegate readmodels rebuild`."""
    parser.add_argument("name", help="the read model, as declared in its contract")
    parser.add_argument("--swap", action="store_true", help="then make the rebuilt table the live one (job stopped)")
