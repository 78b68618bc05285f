# Set-up is implicit: every target creates .venv and installs pinned dependencies when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
SOAK_ARGS ?=

.PHONY: run demo test lint fuzz format migrate lock docs client-journey wheel-check clean bench bench-pages bench-counter screenshots soak soak-ci container-check soak-faults

run: $(RUNTIME_STAMP) ## serve the API on http://$(HOST):$(PORT) (embedded SQLite; make run PORT=9000)
	$(BIN)/movie-collections serve --host $(HOST) --port $(PORT)

# The whole service offline: the stand-in catalogue on :8001 (50 ms latency, 10% failures)
# and the API on :8000 wired to it (PORT, DEMO_UPSTREAM_PORT to move them). Ctrl-C stops both.
DEMO_UPSTREAM_ARGS ?= --latency 0.05 --failure-rate 0.1
DEMO_PORT ?= $(PORT)
DEMO_UPSTREAM_PORT ?= 8001
demo: $(RUNTIME_STAMP) ## serve the API against the bundled stand-in upstream, offline
	$(BIN)/movie-collections mock-upstream --port $(DEMO_UPSTREAM_PORT) --username demo --password demo-password $(DEMO_UPSTREAM_ARGS) & \
	upstream=$$!; trap 'kill $$upstream 2>/dev/null' EXIT INT TERM; \
	MOVIES_API_URL=http://127.0.0.1:$(DEMO_UPSTREAM_PORT)/api/v1/maya/movies/ \
	MOVIES_API_USERNAME=demo MOVIES_API_PASSWORD=demo-password \
	DATABASE_URL=$${DATABASE_URL:-sqlite:///./data/demo.db} \
	$(BIN)/movie-collections serve --host $(HOST) --port $(DEMO_PORT)

# The suite tests the benchmark harness too (its chart needs the bench extra). One worker more
# than cores: much of the suite waits on servers and timeouts; idle workers steal queued tests.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
test: $(BENCH_STAMP) ## the whole test suite (pytest-xdist, one worker more than cores)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

screenshots: $(DEV_STAMP) ## re-take docs/screenshots/*.png from the web client's end-to-end tests
	E2E_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -m e2e -p no:cacheprovider -q

lint: $(DEV_STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fuzz: $(DEV_STAMP) ## Schemathesis against a live server's /openapi.json (scripts/fuzz.sh)
	BIN=$(BIN) scripts/fuzz.sh

format: $(DEV_STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(BENCH_STAMP) ## load benchmark vs the ceiling: bench/results/*.json, docs/benchmarks.md
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-pages: $(BENCH_STAMP) ## GET /collection/ pages alone (1,000 collections): bench/results/pages/
	$(BIN)/python -m bench.run --scenarios list_pages --no-docs \
		--output-dir bench/results/pages $(BENCH_ARGS)

migrate: $(RUNTIME_STAMP) ## apply migrations to $$DATABASE_URL
	$(BIN)/movie-collections migrate

# A fresh venv with every extra, installed within the current pins: pins still needed stay,
# new packages get pinned, pins nothing needs any more go.
LOCK_VENV := $(VENV)-lock
lock: ## re-pin constraints.txt after changing pyproject.toml
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,bench,otel]'
	( head -n 2 constraints.txt; $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -iv '^movie-collections' ) > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

docs: $(RUNTIME_STAMP) ## regenerate docs/configuration.md from the settings model
	$(BIN)/movie-collections settings-doc > docs/configuration.md

client-journey: $(RUNTIME_STAMP) ## generate a typed client from a live /openapi.json and run a journey with it
	BIN=$(BIN) scripts/client_journey.sh

wheel-check: ## build the wheel, install it in a fresh venv, serve from it
	scripts/wheel_check.sh

soak: $(DEV_STAMP) ## soak test: 5 minutes of mixed load, then every write checked (docs/reliability.md)
	$(BIN)/python -m bench.soak --duration 300 $(SOAK_ARGS)

soak-ci: $(DEV_STAMP) ## the soak test at CI length (60 s)
	$(BIN)/python -m bench.soak --duration 60 $(SOAK_ARGS)

soak-faults: $(DEV_STAMP) ## the soak with faults at CI length (60 s; `make soak SOAK_ARGS=--faults`: 300 s); root
	$(BIN)/python -m bench.soak --faults --duration 60 $(SOAK_ARGS)

bench-counter: $(DEV_STAMP) ## throughput of GET /me/ with the request counter off, local, redis
	$(BIN)/python bench/counter_overhead.py $(BENCH_ARGS)

container-check: $(DEV_STAMP) ## build the image, run deploy/kubernetes here with podman (docs/deployment.md)
	BIN=$(BIN) scripts/container_check.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(RUNTIME_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[dev,otel]'
	touch $@

$(BENCH_STAMP): $(DEV_STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[dev,bench,otel]'
	touch $@
