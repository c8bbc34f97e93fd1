# Two commands matter: `make plan STACK=staging` and `make test`.
# Both create the virtualenv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= staging

.PHONY: install plan test lint typecheck unit docs clean

# The stamp file re-runs the install whenever the pinned dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Offline plan of one stack (no Pulumi CLI, no AWS account needed).
plan: install
	$(BIN)/stagecraft plan --stack $(STACK)

## Every check CI runs: lint, types, unit and stack tests, README freshness.
test: lint typecheck unit

lint: install
	$(BIN)/ruff check infra stagecraft policy tests
	$(BIN)/ruff format --check infra stagecraft policy tests

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

## Regenerate the README tables from the stack files and the config model.
docs: install
	$(BIN)/stagecraft docs --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
