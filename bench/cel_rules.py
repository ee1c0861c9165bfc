"""Benchmark: what a CEL contract rule costs per event, and the evaluator it was chosen against.

Usage:  .venv/bin/python -m bench.cel_rules [--events 20000] [--repeats 5] [--no-record]

On generated tickets events (decoded payloads, as the router checks them) it times the tickets contract's
rules with and without its CEL rule, as the job runs it (CEL's common subset compiled to Python closures,
udfs/cel_subset.py), the same rule on the Rust evaluator (common-expression-language), and on cel-python
(pure Python) when that is installed (`.venv/bin/pip install cel-python==0.5.0`; not a dependency).
Best of the repeats, in µs per event. Appends to bench/results/cel_rules.jsonl.
"""

from __future__ import annotations

import argparse
import importlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.modes import append_result, result_header
from lakegate.events import EventFactory
from lakegate.settings import Settings
from udfs.contract import load_contracts
from udfs.expressions import Expression, on_rust
from udfs.rules import compile_rules, first_violation

RESULTS = Path(__file__).resolve().parent / "results" / "cel_rules.jsonl"


def best_us(run: Callable[[], object], events: int, repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``run`` over ``events`` events, in µs per event."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) / events * 1e6


def celpy_check(expression: Expression) -> Callable[[Mapping[str, object]], object] | None:
    """The expression on cel-python, or None when it is not installed."""
    try:  # optional, for the comparison only
        celpy = importlib.import_module("celpy")
        json_to_cel = importlib.import_module("celpy.adapter").json_to_cel
    except ImportError:
        return None
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression.source))
    fields = expression.fields

    def check(payload: Mapping[str, object]) -> object:
        try:
            return program.evaluate({f: json_to_cel(payload.get(f)) for f in fields})
        except Exception as exc:  # cel-python has no int != null overload: an error, as a violation would be
            return exc

    return check


def measure(payloads: Sequence[Mapping[str, Any]], repeats: int) -> dict[str, float | str | None]:
    contract = next(c for c in load_contracts(Settings.load(env={}).paths.schemas_dir) if c.name == "tickets")
    expressions = [r.expression for r in contract.rules if r.expression is not None]
    assert len(expressions) == 1, "the tickets contract ships one CEL rule"
    field_rules = compile_rules([r for r in contract.rules if r.expression is None])
    every_rule = compile_rules(contract.rules)
    events = len(payloads)

    def check_all(checks: Any) -> Callable[[], object]:
        return lambda: [first_violation(checks, p) for p in payloads]

    field_us = best_us(check_all(field_rules), events, repeats)
    every_us = best_us(check_all(every_rule), events, repeats)
    on_rust_rules = [replace(r, expression=on_rust(r.expression)) if r.expression else r for r in contract.rules]
    rust_us = best_us(check_all(compile_rules(on_rust_rules)), events, repeats)
    celpy = celpy_check(expressions[0])
    celpy_us = None if celpy is None else best_us(lambda: [celpy(p) for p in payloads], events, repeats)
    return {
        "field_rules_us": round(field_us, 2),
        "with_cel_rule_us": round(every_us, 2),
        "cel_rule_us": round(every_us - field_us, 2),
        "cel_rule_evaluator": "python-subset" if expressions[0].native else "rust",
        "cel_rust_rule_us": round(rust_us - field_us, 2),
        "cel_python_rule_us": None if celpy_us is None else round(celpy_us, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    contracts = load_contracts(Settings.load(env={}).paths.schemas_dir)
    tickets = next(c for c in contracts if c.name == "tickets")
    factory = EventFactory(tickets, random.Random(1))  # noqa: S311 - test data
    payloads = [factory.next() for _ in range(args.events)]
    result = measure(payloads, args.repeats)
    print(f"tickets, {args.events:,} events, best of {args.repeats} (µs per event):")
    print(f"  field rules only            {result['field_rules_us']:>8}")
    print(f"  field rules + the CEL rule  {result['with_cel_rule_us']:>8}")
    print(f"  the CEL rule (as run)       {result['cel_rule_us']:>8}  ({result['cel_rule_evaluator']})")
    print(f"  the CEL rule (Rust)         {result['cel_rust_rule_us']:>8}")
    shown = result["cel_python_rule_us"]
    print(f"  the CEL rule (cel-python)   {shown if shown is not None else 'not installed':>8}")
    if not args.no_record:
        append_result(RESULTS, {**result_header(), "events": args.events, "repeats": args.repeats, **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
