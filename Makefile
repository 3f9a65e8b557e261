# Stir Stream: every target CI and the README run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STIR := $(BIN)/stir
STAMP := $(VENV)/.installed

.PHONY: setup up down status demo test test-unit test-integration test-faults lint bench clean-state help

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## setup: virtualenv with `stir`, Debian packages (PostgreSQL 15), Kafka/Connect/Debezium jars (idempotent)
setup: $(STAMP)
	$(STIR) setup

## up / down / status: the local stack (PostgreSQL, Kafka KRaft, Kafka Connect + Debezium)
up: setup
	$(STIR) up

down:
	@if [ -x $(STIR) ]; then $(STIR) down; else echo "nothing to stop (no .venv)"; fi

status: $(STAMP)
	$(STIR) status

## demo: the main job end to end on the embedded warehouse
demo: setup
	$(STIR) demo

## test: lint, unit and integration tests; starts the stack once and stops what it started
test: setup lint
	@set +e; $(BIN)/python -m pytest tests/unit tests/integration; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: setup
	$(BIN)/python -m pytest tests/integration

## test-faults: only the fault-injection tests (kill -9 of components, broker restart; all are also in `make test`)
test-faults: setup
	$(BIN)/python -m pytest tests/integration -m faults -s

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy streams connectors schemas clickhouse_ddl serving_loader deploy tests
	$(BIN)/kubernetes-validate -k 1.30.0 --strict --quiet --no-warn deploy/kubernetes/*.yaml

## bench: benchmarks against the real local stack; results in tests/benchmarks/results/
bench: setup
	@set +e; $(BIN)/python -m pytest tests/benchmarks -q -p no:cacheprovider -o python_files='bench_*.py' -s; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no benchmarks yet"; rc=0; fi; exit $$rc

## clean-state: stop the stack and delete its data (STIR_STATE_DIR, default .stir/, and its PostgreSQL cluster); keeps the jar cache
clean-state: down
	@if [ -x $(STIR) ]; then $(STIR) clean-state; else echo "nothing to clean (no .venv)"; fi

## help: this list of targets
help:
	@awk '/^## / { line = substr($$0, 4); i = index(line, ": "); \
	  if (i) printf "  %-22s %s\n", substr(line, 1, i - 1), substr(line, i + 2); else print "  " line }' $(MAKEFILE_LIST)
