# lakegate: the two commands that matter are `make demo` and `make test`; `make help` lists the rest.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup demo demo-object-store test lint format typecheck unit job bench bench-setup clean

## help: this list
help:
	@awk 'sub(/^## /, "") { split($$0, a, ": "); printf "  make %-12s %s\n", a[1], substr($$0, length(a[1]) + 3) }' $(MAKEFILE_LIST)

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

## demo-object-store: the demo with the lake in an S3 bucket behind an Iceberg REST catalog, both on loopback
# (deploy/local/lake-on-object-store.toml; a home of its own, so its topics start empty)
demo-object-store: setup
	LAKEGATE_SETTINGS_FILE=deploy/local/lake-on-object-store.toml LAKEGATE_HOME=$(CURDIR)/.lakegate/object-store-demo \
	  LAKEGATE_ARTIFACTS_DIR=$(CURDIR)/.lakegate/jvm $(BIN)/lakegate demo --with object-store,rest-catalog

## test: lint (format check, ruff, mypy, import contracts), unit tests, then job tests (MiniCluster + real services)
test: setup bench-setup lint
	$(BIN)/pytest

## lint: format check, ruff, mypy (strict), import contracts (lint-imports: which folder may import which)
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

## format: apply ruff's formatter and its safe fixes
format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

## unit: the unit tests only (no JVM, seconds)
unit: $(STAMP)
	$(BIN)/pytest tests/unit

## job: the job tests only (MiniCluster + real broker, registry, Iceberg)
job: setup bench-setup
	$(BIN)/pytest -m job

## bench: lakegate (local folder, S3 bucket) vs pure-Java Flink SQL vs a plain Python consumer on 2M events (bench/README.md). Long
bench: setup bench-setup
	$(BIN)/python -m bench.compare --events 2000000

## bench-setup: the plain consumer's virtualenv (.lakegate/bench-venv, from bench/requirements-plain.txt)
bench-setup: $(STAMP)
	$(BIN)/python -m bench.plain_env

## clean: stop the local stack, remove the venv and everything under .lakegate
clean:
	-$(BIN)/lakegate stack down
	rm -rf $(VENV) .lakegate .mypy_cache .ruff_cache .pytest_cache
