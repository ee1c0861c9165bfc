"""bench/cel_rules.py on a few events: it times the shipped tickets rules with and without the CEL rule."""

from __future__ import annotations

import pytest

from bench import cel_rules


def test_the_cel_rule_benchmark_reports_each_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert cel_rules.main(["--events", "300", "--repeats", "1", "--no-record"]) == 0
    shown = capsys.readouterr().out
    for line in ("field rules only", "field rules + the CEL rule", "the CEL rule (Rust)", "the CEL rule (cel-python)"):
        assert line in shown, shown
    assert "recorded" not in shown  # --no-record
