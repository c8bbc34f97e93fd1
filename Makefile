# Two commands matter: `make plan STACK=staging` and `make test`.
# Both create the virtualenv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= staging

.PHONY: install plan test lint typecheck unit docs bench clean

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

PYTHON_SOURCES := infra stagecraft policy tests bench tools .ci bootstrap ephemeral

lint: install
	$(BIN)/ruff check $(PYTHON_SOURCES)
	$(BIN)/ruff format --check $(PYTHON_SOURCES)
	$(BIN)/zizmor --offline --quiet .github/workflows
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/python .ci/lint_run_blocks.py .github/workflows
	$(BIN)/shellcheck infra/sql/run.sh infra/data_sync/export.sh infra/data_sync/import.sh infra/smoke/smoke.sh .ci/run

typecheck: install
	$(BIN)/mypy

# Two workers (CI runners have 2 cores), whole files per worker so each
# file's expensive fixtures (planned stacks, scratch clones) are built once.
unit: install
	$(BIN)/pytest -n 2 --dist loadfile

## How long plan and the PR diff take, against the SDK import floor (not a test).
bench: install
	$(BIN)/python bench/speed.py

## Regenerate the README tables from the stack files and the config model.
docs: install
	$(BIN)/stagecraft docs --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
