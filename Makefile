# Every target bootstraps .venv from requirements.lock when it is missing or stale.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo chaos test check lint layers typecheck unit sandbox bench clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip==26.3" "setuptools==80.9.0" "wheel==0.45.1"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m deployments.demo $(DEMO_ARGS)

chaos: $(STAMP)
	$(BIN)/bridge chaos $(CHAOS_ARGS)

test: check unit

check: lint layers typecheck

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

sandbox: $(STAMP)
	$(BIN)/bridge sandbox --seed 40

bench: $(STAMP)
	$(BIN)/python bench/returnly_listing.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
