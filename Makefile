# `make demo` and `make test` set everything up themselves (scripts/bootstrap.sh).
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONHASHSEED := 0
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: setup demo test lint typecheck rules-test pytest bench clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(BIN)/secaudit assess samples/assessment.yaml -o reports/

lint: setup
	$(BIN)/ruff check secaudit tests bench
	$(BIN)/ruff format --check secaudit tests bench

typecheck: setup
	$(BIN)/mypy

rules-test: setup
	@mkdir -p reports
	$(BIN)/secaudit rules test rules/ --junit reports/rules-junit.xml

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest rules-test

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf reports .cache .pytest_cache .mypy_cache .ruff_cache
