# The front door. `make run` and `make test` work on a fresh Debian machine from nothing.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
DEV := scripts/dev.sh
export DATABASE_URL ?= $(shell $(DEV) db-url)
export CELERY_BROKER_URL ?= $(shell $(DEV) redis-url)
export DJANGO_SETTINGS_MODULE := sor_admin.settings
DEMO_OWNERS ?= 500

.PHONY: help setup venv system-deps services db-up db-stop db-url migrate run test lint bench clean messages

help:
	@echo "make run      set everything up and serve the staff admin on http://127.0.0.1:8000/admin/"
	@echo "make test     set everything up, then ruff, makemigrations --check and the pytest suite"
	@echo "make setup    venv, dependencies, PostgreSQL + Redis up, migrated (idempotent)"
	@echo "make bench    national-scale figures (25,000 owners); takes a while"
	@echo "make db-stop  stop the local PostgreSQL and Redis;  make db-url  print the database URL"

.venv/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: .venv/.installed

# The browser tests' page tools (axe-core), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system-deps:
	@$(DEV) system-deps $(if $(BROWSER),--browser,)

services: system-deps
	@$(DEV) db-up
	@$(DEV) redis-up

db-up: services

db-stop:
	@$(DEV) db-stop

db-url:
	@echo $(DATABASE_URL)

messages: venv
	@$(PY) manage.py compilemessages --ignore=.venv -v 0

migrate: venv services
	@$(PY) manage.py migrate --noinput -v 0

setup: venv services messages migrate
	@echo "[sor] setup done: database $(DATABASE_URL)"

run: setup
	@$(PY) manage.py sor_demo --owners $(DEMO_OWNERS)
	@bash scripts/run.sh

lint: venv
	$(PY) -m ruff check .

test: BROWSER=1
test: setup node_modules/.installed
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run -v 1
	$(PY) -m pytest --create-db $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean: db-stop
	rm -rf .data .venv
