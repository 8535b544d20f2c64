# gridgov: `make run` brings the platform up with the demo city; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests use their own state directory and ports, so they never touch a running `make run`.
TEST_ENV := GRIDGOV_ENV=test GRIDGOV_STATE_DIR=$(CURDIR)/.gridgov-test \
	GRIDGOV_LOCAL_PG_PORT=55433 GRIDGOV_LOCAL_BROKER_PORT=59093 GRIDGOV_REQUIRE_SERVICES=1

.PHONY: help install run test lint bench clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install the project

run: install ## Start services, migrate, load the demo city, API, workers, simulator
	$(BIN)/gridgov run

test: install ## Start test services on their own ports and run the whole suite
	$(TEST_ENV) $(BIN)/gridgov services up
	$(TEST_ENV) $(BIN)/pytest; rc=$$?; $(TEST_ENV) $(BIN)/gridgov services down; exit $$rc

lint: install ## ruff and mypy
	$(BIN)/ruff check geo streams api maps tests bench data
	$(BIN)/ruff format --check geo streams api maps tests bench data
	$(BIN)/mypy geo streams api maps

bench: install ## Run the benchmarks in bench/ (prints ratios against baselines)
	$(BIN)/gridgov services up
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Stop local services and remove their data
	-$(BIN)/gridgov services down
	rm -rf .gridgov .gridgov-test
