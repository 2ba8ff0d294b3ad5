# The two commands of the README: `make demo` (a real training run) and `make test` (lint + the test suite).
# Each builds .venv on first use from the project's own files and reuses it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml tools/install_torch_if_local.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	bash tools/install_torch_if_local.sh $(BIN)/python
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chainrule train --output runs/demo

lint: $(STAMP)
	$(BIN)/ruff check chainrule tests benchmarks examples
	$(BIN)/ruff format --check chainrule tests benchmarks examples

test: lint
	$(BIN)/python -m pytest

format: $(STAMP)
	$(BIN)/ruff format chainrule tests benchmarks examples
	$(BIN)/ruff check --fix chainrule tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
