# plan-harness developer tasks; `make help` lists them.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help setup run test lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/plan-harness:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -e '.[dev]'

setup: $(BIN)/plan-harness ## create .venv and install the project with its dev tools

run: setup ## the main job: seed, run every scenario, write reports/
	$(BIN)/plan-harness run

test: setup ## the test suite (unit, database, plugin, and the plan checks at ci)
	$(BIN)/pytest

lint: setup ## ruff and mypy
	$(BIN)/ruff check harness tests fixtures conftest.py benchmarks
	$(BIN)/mypy

bench: setup ## wall time and peak memory of pytest -m plans at ci
	$(BIN)/python benchmarks/pytest_plans_ci.py

clean: ## remove generated reports and caches (keeps .venv)
	rm -rf reports/index.html reports/results.json .pytest_cache .mypy_cache .ruff_cache
