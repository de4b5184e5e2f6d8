# Parley: `make dev` runs the platform locally, `make test` runs every check and test.
# Both install what they need (uv into ~/.cache/parley/tools, servers into ~/.cache/parley).

SHELL := /bin/bash
VENV := .venv/bin
PARLEY := $(VENV)/parley

.PHONY: dev down status test lint typecheck imports pytest bootstrap

bootstrap:
	@./scripts/bootstrap.sh

## dev: start every backing server and every service built so far, then print where they are
dev: bootstrap
	$(PARLEY) dev up all

## down: stop everything `make dev` started (data is kept under ~/.cache/parley/dev)
down: bootstrap
	$(PARLEY) dev down

status: bootstrap
	$(PARLEY) dev status

## test: lint, type check, import contracts, then every test against the real servers
test: bootstrap lint typecheck imports
	$(PARLEY) dev up all
	$(VENV)/pytest

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy
	$(VENV)/mypy bench
	# Test directories are no packages: each directory is checked on its own (two conftest modules).
	MYPYPATH=operator/tests $(VENV)/mypy operator/tests/*.py
	MYPYPATH=operator/tests:operator/tests/live $(VENV)/mypy operator/tests/live/*.py

imports:
	$(VENV)/lint-imports
