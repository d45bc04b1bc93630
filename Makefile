# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
PORT ?= 8080
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test bench lint demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
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

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
