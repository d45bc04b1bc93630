# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
PORT ?= 8080
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
MUTSTAMP := $(VENV)/.installed-mutate

.PHONY: run test bench lint demo clean mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(MUTSTAMP): pyproject.toml $(DEVSTAMP)
	$(BIN)/pip install --quiet -e '.[dev,mutate]'
	touch $@

run: $(STAMP)
	$(BIN)/autoticket serve --port $(PORT)

demo: $(STAMP)
	$(BIN)/autoticket demo --port $(PORT)

# Coverage costs about half again the run time on Python 3.11; PYTEST_ARGS=--no-cov skips it.
test: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/autoticket bench --output bench/results.json

# Also checks the installed dependencies against known advisories (pip-audit);
# skipped with a message where its advisory data cannot be reached.
lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python scripts/audit_deps.py

# Mutation testing (docs/testing.md): the modules listed in pyproject.toml
# [tool.mutmut], in two parts run one after the other within MUTATE_BUDGET
# seconds (28 minutes, so the whole run fits 30 on 2 cores): first one mutmut
# run over all the modules with a score goal (one clean-test run for all of
# them), then engine/ and sources/ with what is left; what the budget does not
# reach is reported "not checked".
# MUTANTS names one part to run instead: make mutate MUTANTS='autoticket.lifecycle.*'
# Starts from scratch each time; SQLite only (PostgreSQL fixtures skip);
# CI=true for the fixed Hypothesis examples.
MUTATE_JOBS ?= 2
MUTATE_BUDGET ?= 1680
MUTATE_PARTS ?= 'autoticket.lifecycle.* autoticket.api.ingest.* \
	autoticket.store.correlation_state.* autoticket.pipeline.*' \
	'autoticket.engine.* autoticket.sources.*'
MUTANTS ?=
mutate: $(MUTSTAMP)
	rm -rf mutants
	CI=true AUTOTICKET_TEST_PG_URL=postgresql://postgres@127.0.0.1:1/none \
		nice -n 10 $(BIN)/python scripts/mutate.py --budget $(MUTATE_BUDGET) --jobs $(MUTATE_JOBS) \
		$(if $(MUTANTS),'$(MUTANTS)',$(MUTATE_PARTS))
	$(BIN)/python scripts/mutation_report.py

clean:
	rm -rf mutants mutants-report.* $(VENV) .pytest_cache build *.egg-info src/*.egg-info
