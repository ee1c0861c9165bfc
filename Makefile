# lakegate: the two commands that matter are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck unit job bench bench-setup clean

## setup: Python venv from pinned files, the pinned JVM artifacts, promtool (all no-ops when up to date)
setup: $(STAMP)
	$(BIN)/lakegate setup
	deploy/install-prometheus.sh

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --progress-bar off -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## demo: start the local stack, produce events (some bad), ingest until drained, print a summary, stop
demo: setup
	$(BIN)/lakegate demo

## test: ruff, mypy, unit tests (no JVM), then job tests (MiniCluster + real broker, registry, Iceberg)
test: setup bench-setup lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

job: setup bench-setup
	$(BIN)/pytest -m job

## bench: lakegate vs pure-Java Flink SQL vs a plain Python consumer on 2M events (bench/README.md);
## appends to bench/results/compare.jsonl. Long: run it on an otherwise idle machine.
bench: setup bench-setup
	$(BIN)/python -m bench.compare --events 2000000

## bench-setup: the plain consumer's virtualenv (.lakegate/bench-venv, from bench/requirements-plain.txt)
bench-setup: $(STAMP)
	$(BIN)/python -m bench.plain_env

clean:
	-$(BIN)/lakegate stack down
	rm -rf $(VENV) .lakegate .mypy_cache .ruff_cache .pytest_cache
