# The two commands of the README: `make demo` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-installed-stamp
# This machine's pip config lists local package mirrors that may not exist; pip warns once per
# package about them. Hide that noise, keep every other line and pip's exit status.
PIP_NOISE := is neither a file nor a directory

.PHONY: install demo test test-spark dev clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first time: about a minute)"
	@$(BIN)/python -m pip install -q --upgrade pip 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	@$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	@touch $(STAMP)

install: $(STAMP)

## Synthetic events -> lake -> marts -> alerts, with a printed summary (AIW_HOME, default ./.aiw).
demo: $(STAMP)
	$(BIN)/aiw demo

## The whole test suite: unit, definitions, end to end on temporary AIW_HOMEs.
test: $(STAMP)
	$(BIN)/pytest -q

$(SPARK_STAMP): $(STAMP)
	@echo "installing the spark extra into $(VENV) (first time: about a minute, pyspark is 630 MB)"
	@$(BIN)/python -m pip install -q -e '.[dev,spark]' 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	@touch $(SPARK_STAMP)

## The same dbt project on a local Spark, compared mart by mart with DuckDB (minutes; needs Java 17).
test-spark: $(SPARK_STAMP)
	@command -v java >/dev/null || { echo "make test-spark needs Java 17 on PATH (java not found)"; exit 1; }
	$(BIN)/pytest -q -m spark tests/spark
	@echo "dbt build times on both engines at the same data size (test-artifacts/spark-vs-duckdb.json):"
	@cat test-artifacts/spark-vs-duckdb.json

## The Dagster UI at http://127.0.0.1:3000 with the whole code location.
dev: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf .aiw dbt_project/target dbt_project/logs logs .pytest_cache test-artifacts .tmp_dagster_home_*
