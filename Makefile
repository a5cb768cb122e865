# One-command entry points. Each creates .venv (pip only) when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DOCS_STAMP := $(VENV)/.docs-stamp

.PHONY: setup demo test test-all lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

$(DOCS_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

setup: $(STAMP)  ## create .venv and install nasjax with its dependencies

demo: $(STAMP)  ## run the default job on the bundled real data
	$(BIN)/python -m nasjax

test: $(STAMP)  ## run the fast test suite (slow tests deselected), in two worker processes
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-all: $(STAMP)  ## run every test, slow ones included
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "slow or not slow"

lint: $(STAMP)  ## ruff lint + format check + pyright
	$(BIN)/ruff check nasjax hydra_plugins tests benchmarks examples
	$(BIN)/ruff format --check nasjax hydra_plugins tests benchmarks examples
	$(BIN)/pyright nasjax hydra_plugins

bench: $(STAMP)  ## run the morph/forward benchmark
	$(BIN)/python benchmarks/bench_morph.py

docs: $(DOCS_STAMP)  ## build the user guide + API reference into site/ (strict: a broken reference fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis outputs multirun site
