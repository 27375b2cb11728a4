# Kairos — the two commands of the README's Quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test lint typecheck openapi migrate bench clean install dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kairos needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## Serve on http://127.0.0.1:8000 (embedded PostgreSQL unless KAIROS_DATABASE_URL is set) with
## the demo: seeded on an empty database, its push relay on :8025, a simulation clock.
run: $(VENV)/.installed
	$(BIN)/kairos serve --with-worker --demo

migrate: $(VENV)/.installed
	$(BIN)/kairos migrate

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

openapi: $(VENV)/.installed
	$(BIN)/kairos openapi

## Lint, type-check, OpenAPI drift check, then the whole test suite (pytest exits non-zero
## when it collects no tests, so an empty run fails).
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/kairos openapi --check
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(BIN)/kairos bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
