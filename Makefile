# plan-harness developer tasks; `make help` lists them.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help setup browser ci-tools citus run test unit lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/plan-harness:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -e '.[dev]'

setup: $(BIN)/plan-harness ## create .venv and install the project with its dev tools

run: setup ## the main job: build the database, run every scenario, write reports/
	$(BIN)/plan-harness run

browser: ## install Debian's chromium for the report's browser test, unless one is there
	sh tools/install-browser.sh

ci-tools: ## install gitlab-ci-local and action-validator (npm) for the tests of docs/ci
	sh tools/install-ci-tools.sh

test: browser ci-tools setup ## the test suite (unit, database, plugin, browser, and the plan checks at ci)
	$(BIN)/pytest

citus: setup ## build Citus for the embedded server (once), then the tests marked citus
	sh tools/install-citus.sh >/dev/null
	$(BIN)/pytest -m citus tests/citus

unit: setup ## the unit tests alone (tests/unit, pytest -m "not db": no server, seconds)
	$(BIN)/pytest -m "not db"

lint: setup ## ruff, mypy and the engine's layers contract (lint-imports)
	$(BIN)/ruff check harness tests fixtures conftest.py benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup ## wall time and peak memory of pytest -m plans at ci
	$(BIN)/python benchmarks/pytest_plans.py

clean: ## remove generated reports and caches (keeps .venv)
	rm -rf reports/index.html reports/summary.md reports/results.json .pytest_cache .mypy_cache .ruff_cache
