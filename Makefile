# Run and test tooling. `make help` lists the targets.
# Configuration from the environment: HOST, PORT (web service), DATABASE_URL,
# TIMESERIES_DATABASE_URL, REDIS_URL (see scripts/ensure_services.py for the defaults),
# PYTHON (interpreter used to create .venv).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
# The Django apps mypy checks (pyproject.toml [tool.mypy] leaves out tests and migrations).
APPS := accounts apikeys apikit binance_api engine_client engine_worker exchange_site infra market_maker marketdata orders persistence realtime
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: help venv services migrate seed frontend static run test lint bench status clean

help: ## List the targets
	@echo "Usage: make <target>   (HOST=$(HOST) PORT=$(PORT))"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: ## Create .venv, pip install requirements.txt, compile the engine core (mypyc); each skipped when unchanged
	@scripts/ensure_venv.sh
	@$(PY) scripts/build_core.py

services: venv ## Ensure PostgreSQL and Redis answer (start/install locally) and the database exists
	@$(PY) scripts/ensure_services.py

migrate: services ## Apply database migrations (and the timeseries database's, when separate)
	@echo "==> migrate"
	$(PY) manage.py migrate --noinput
	@if [ -n "$${TIMESERIES_DATABASE_URL:-}" ] && [ "$${TIMESERIES_DATABASE_URL}" != "$${DATABASE_URL:-}" ]; then \
		echo "==> migrate --database timeseries"; $(PY) manage.py migrate --noinput --database timeseries; fi

seed: migrate ## Load the demo data (idempotent: manage.py seed_demo)
	@echo "==> seed_demo"
	$(PY) manage.py seed_demo

frontend: venv ## Build the web app if frontend/package.json has a build script (placeholder now)
	@scripts/frontend_build.sh

static: venv ## Collect the static files (admin, API docs) into var/static (skipped when unchanged)
	@$(PY) manage.py build_static

run: seed frontend static ## Set everything up, then run all services in the foreground (Ctrl-C stops)
	@exec scripts/run.sh

lint: venv ## ruff check and format check, mypy --strict on the engine core, mypy on the apps
	@echo "==> lint: ruff check"
	$(VENV)/bin/ruff check .
	@echo "==> lint: ruff format --check"
	$(VENV)/bin/ruff format --check .
	@echo "==> lint: mypy --strict engine_worker/core"
	$(VENV)/bin/mypy --strict engine_worker/core
	@echo "==> lint: mypy (django-stubs, djangorestframework-stubs) on the apps"
	$(VENV)/bin/mypy $(APPS)

test: venv services static lint ## Lint, then the web app's unit tests and the whole pytest suite
	@echo "==> frontend: install, build (when changed) and vitest"
	@scripts/frontend_build.sh && cd frontend && npx --no-install vitest run
	@echo "==> pytest (ENGINE_CORE=$${ENGINE_CORE:-compiled}: the compiled core, or an error if it is not built)"
	ENGINE_CORE=$${ENGINE_CORE:-compiled} $(VENV)/bin/pytest

bench: venv services ## Run every benchmark in bench/ (each prints its figures; several minutes)
	@command -v wrk >/dev/null || { echo "==> installing wrk (apt-get; e2e_orders.py drives HTTP with it)"; \
		apt-get install -y -q wrk || { echo "error: install wrk: apt-get install -y wrk" >&2; exit 1; }; }
	@for script in engine_core e2e_orders dbprocessor recovery klines ws_fanout; do \
		echo "==> bench: $$script"; $(PY) bench/$$script.py || exit 1; done

status: ## Show the state of the services of a running `make run`
	@$(VENV)/bin/supervisorctl -c deploy/supervisord.conf status

clean: ## Remove var/ (supervisord socket, pid and logs, local redis files, static files, compiled core)
	rm -rf var
