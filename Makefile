# The two commands that matter: `make demo` and `make test`. Both start from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit test-reliability bench schemas clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,ray]'
	touch $(STAMP)

## make demo: start a local server, run the distributed parameter-server example, show it train.
demo: $(STAMP)
	$(PY) examples/demo.py

## make test: lint, type-check and the whole test suite (what CI runs).
test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy submarine

unit: $(STAMP)
	$(VENV)/bin/pytest -m "not reliability or bounded"

## make test-reliability: the full fault, fuzz and load suite.
test-reliability: $(STAMP)
	$(VENV)/bin/pytest tests/reliability -m "reliability"

## make bench: ratio benchmarks against baselines measured in the same run.
bench: $(STAMP)
	$(PY) -m benchmarks

## make schemas: regenerate the JSON Schemas in schemas/ from the models.
schemas: $(STAMP)
	$(PY) -m submarine.models schemas

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
