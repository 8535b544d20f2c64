# gridgov: `make run` brings the platform up with the demo city; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := cli api streams cases registers web maps geo db
# Tests use their own state directory and ports, so they never touch a running `make run`.
# GRIDGOV_ENV=test refuses the built-in signing secret, so the run gets a random one.
TEST_SECRET := $(shell head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Personal data is sealed with a key of the run's own (GRIDGOV_PII_KEY), as production must have one.
TEST_PII_KEY := $(shell head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
TEST_ENV := GRIDGOV_ENV=test GRIDGOV_STATE_DIR=$(CURDIR)/.gridgov-test GRIDGOV_SECRET_KEY=$(TEST_SECRET) \
	GRIDGOV_PII_KEY=$(TEST_PII_KEY) \
	GRIDGOV_LOCAL_PG_PORT=55433 GRIDGOV_LOCAL_BROKER_PORT=59093 GRIDGOV_REQUIRE_SERVICES=1
# The suite shares two cores with Chromium: its posts get the 6 s the producer always had, its other
# requests 120 s. The fault tests (`make faults`) run at the defaults (a post answered within 2 s).
SUITE_BOUNDS := GRIDGOV_POST_TIMEOUT_S=6 GRIDGOV_REQUEST_TIMEOUT_S=120
# Benchmarks too: stopping their services afterwards never stops those of a running `make run`.
BENCH_ENV := GRIDGOV_STATE_DIR=$(CURDIR)/.gridgov-bench GRIDGOV_LOCAL_PG_PORT=55434 GRIDGOV_LOCAL_BROKER_PORT=59094

.PHONY: help install browser run test faults screenshots lint bench clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

ASSETS := web/assets/node_modules/leaflet/dist/leaflet.js

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The map's JavaScript and CSS come from the npm registry and are served by the API (no CDN).
$(ASSETS): web/assets/package.json
	cd web/assets && npm install --no-audit --no-fund --silent
	touch $(ASSETS)

install: $(STAMP) $(ASSETS) ## Create the virtualenv, install the project and the map assets

browser: ## Headless Chromium and a Chinese font for the browser test (Debian packages; needs root)
	@{ command -v chromium >/dev/null && fc-list | grep -qi wenquanyi; } || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }

run: install ## Start services, migrate, load the demo city, API, workers, simulator
	$(BIN)/gridgov run

test: install browser ## Start test services on their own ports and run the whole suite
	$(TEST_ENV) $(BIN)/gridgov services up
	$(TEST_ENV) $(SUITE_BOUNDS) $(BIN)/pytest --ignore=tests/faults; rc=$$?; $(TEST_ENV) $(BIN)/gridgov services down; exit $$rc

faults: install ## The fault tests at the default bounds: a hung database or broker, killed workers, lost topics
	$(TEST_ENV) $(BIN)/gridgov services up
	$(TEST_ENV) $(BIN)/pytest -rP tests/faults; rc=$$?; $(TEST_ENV) $(BIN)/gridgov services down; exit $$rc

screenshots: install browser ## Write the screenshots in docs/ (map, screen, workbench, monthly report, phone app) from the browser tests
	$(TEST_ENV) $(BIN)/gridgov services up
	$(TEST_ENV) GRIDGOV_SCREENSHOTS=$(CURDIR)/docs $(BIN)/pytest tests/test_map_browser.py tests/test_screen_browser.py \
		tests/test_workbench_browser.py \
		tests/test_app_browser.py; rc=$$?; \
		$(TEST_ENV) $(BIN)/gridgov services down; exit $$rc

lint: install ## ruff, mypy, and ESLint on the pages' scripts and their tests
	$(BIN)/ruff check $(PACKAGES) tests bench data
	$(BIN)/ruff format --check $(PACKAGES) tests bench data
	$(BIN)/mypy $(PACKAGES)
	web/assets/node_modules/.bin/eslint web/static tests/js

bench: install browser ## Run the benchmarks in bench/ on services of their own (prints ratios against baselines)
	$(BENCH_ENV) $(BIN)/gridgov services up
	@rc=0; for b in bench/locate.py bench/placement.py bench/pipeline.py bench/post_parts.py bench/map_scale.py bench/registers_import.py bench/components.py bench/indicators.py bench/search.py bench/read_side.py bench/screen_heap.py; do echo "== $$b"; \
		$(BENCH_ENV) $(BIN)/python $$b || { rc=1; break; }; done; $(BENCH_ENV) $(BIN)/gridgov services down; exit $$rc

clean: ## Stop local services and remove their data
	-$(BIN)/gridgov services remove
	-$(TEST_ENV) $(BIN)/gridgov services remove
	-$(BENCH_ENV) $(BIN)/gridgov services remove
	rm -rf .gridgov .gridgov-test .gridgov-bench
