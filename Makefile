# The two commands that matter: `make demo` and `make test`. Both start from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
MARIADBD ?= /usr/sbin/mariadbd

.PHONY: demo test lint typecheck unit unit-fast test-reliability test-frameworks bench schemas screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,ray]'
	touch $(STAMP)

# The workbench's charting library (uPlot from npm, at the version frontend/package-lock.json
# pins), built into the package's static files; the wheel's build hook does the same, and so
# did the editable install above, unless the files were removed since.
VENDOR := submarine/server/workbench/static/vendor/uPlot.iife.min.js
$(VENDOR): frontend/package-lock.json
	$(PYTHON) frontend/vendor.py

## make demo: start a local server, run the distributed parameter-server example, show it train.
demo: $(STAMP) $(VENDOR)
	$(PY) examples/demo.py

## make test: lint, type-check and the whole test suite (what CI runs).
test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy submarine

# --durations: the slowest tests, so that where the time goes stays visible.
unit: $(STAMP) $(VENDOR) $(CHROMIUM) $(MARIADBD)
	$(VENV)/bin/pytest -m "(not reliability or bounded) and not frameworks" --durations=25

## make unit-fast: the tests that start no process (no server, replica, browser or command
## line): under a minute, for the edit-test loop. `make test` runs them too.
unit-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not slow and (not reliability or bounded) and not frameworks" --durations=10

# The workbench's browser tests drive Debian's chromium; install it when it is missing
# (CI runs as root; elsewhere, say what to run).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	else \
		echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	fi

# The tests of tracking into a Submarine 0.8.0 database start a private MariaDB server of
# their own (Debian's mariadb-server); install it when it is missing, as chromium above.
$(MARIADBD):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server; \
	else \
		echo "the tracking database tests need Debian's mariadb-server: sudo apt-get install mariadb-server" >&2; exit 1; \
	fi

## make screenshots: the README's pictures of the workbench (docs/), taken by its browser tests.
screenshots: $(STAMP) $(CHROMIUM)
	SUBMARINE_SCREENSHOTS=docs $(VENV)/bin/pytest tests/e2e/test_workbench.py tests/e2e/test_workbench_templates.py \
		tests/e2e/test_workbench_environments.py tests/e2e/test_workbench_charts.py \
		tests/e2e/test_workbench_list.py tests/e2e/test_workbench_logs.py tests/e2e/test_workbench_form.py -q

## make test-reliability: the full fault, fuzz and load suite.
test-reliability: $(STAMP)
	$(VENV)/bin/pytest tests/reliability -m "reliability"

## make test-frameworks: save_model with real PyTorch (the CPU build) and TensorFlow (CPU), in
## an environment of their own (FRAMEWORKS_VENV, about 2 GB): models saved by replicas of a
## local server, listed, downloaded and loaded again, and Submarine 0.8.0's quickstart and
## nn-pytorch example scripts (tests/frameworks/upstream/) run to Succeeded.
FRAMEWORKS_VENV ?= .venv-frameworks
FRAMEWORKS_STAMP := $(FRAMEWORKS_VENV)/.installed
TORCH_CPU ?= torch==2.13.0+cpu
# Keras 2 for TensorFlow >= 2.16 (whose tf.keras is Keras 3), the release of the installed
# TensorFlow's; without its dependencies, which name `tensorflow` and not `tensorflow-cpu`.
# 0.8.0's quickstart needs it: Keras 3 cannot fit under MultiWorkerMirroredStrategy.
FRAMEWORKS_TF_RELEASE = $$($(FRAMEWORKS_VENV)/bin/python -c \
	'import importlib.metadata as m; print(*m.version("tensorflow-cpu").split(".")[:2], sep=".")')

$(FRAMEWORKS_STAMP): pyproject.toml Makefile
	test -x $(FRAMEWORKS_VENV)/bin/python || $(PYTHON) -m venv $(FRAMEWORKS_VENV)
	$(FRAMEWORKS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FRAMEWORKS_VENV)/bin/python -m pip install --quiet -e '.[server,dev,tensorboard]' '$(TORCH_CPU)' tensorflow-cpu
	$(FRAMEWORKS_VENV)/bin/python -m pip install --quiet --no-deps "tf-keras==$(FRAMEWORKS_TF_RELEASE).*"
	touch $(FRAMEWORKS_STAMP)

test-frameworks: $(FRAMEWORKS_STAMP)
	$(FRAMEWORKS_VENV)/bin/pytest tests/frameworks -m frameworks -p no:cacheprovider

## make bench: ratio benchmarks against baselines measured in the same run.
bench: $(STAMP)
	$(PY) -m benchmarks

## make schemas: regenerate the JSON Schemas in schemas/ from the models.
schemas: $(STAMP)
	$(PY) -m submarine.models schemas

clean:
	rm -rf $(VENV) $(FRAMEWORKS_VENV) .mypy_cache .ruff_cache .pytest_cache
