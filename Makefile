# Two commands for a newcomer:  make demo  (run the example formation)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo demo-stop test unit integration stress-test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q procman  # bytecode up front: the CLI and daemon start faster
	touch $(STAMP)

# Starts examples/procman.yaml (web x CPU count on port 8000, worker x1), shows status,
# sends a few requests to show different instances answering. `make demo-stop` ends it.
demo: setup
	cd examples && procman start
	cd examples && procman status
	@for i in 1 2 3 4 5 6; do $(BIN)/python -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/').read().decode().strip())"; done
	@echo
	@echo "The formation keeps running. Try:  cd examples && ../$(BIN)/procman logs -f"
	@echo "                                   cd examples && ../$(BIN)/procman scale web=4"
	@echo "Stop it with:                      make demo-stop"

demo-stop: setup
	cd examples && procman shutdown

test: setup lint
	$(BIN)/pytest -q

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration

# The whole suite RUNS times (default 10) beside two busy loops that load the CPUs; the loops
# stop at the end, even on a failure or Ctrl-C. Prints one line per run and a pass/fail tally.
RUNS ?= 10
stress-test: setup
	$(BIN)/python -m tests.stress --runs $(RUNS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache examples/.procman
