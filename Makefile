# trilho — every target sets itself up: a fresh machine needs nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUICK ?=
export QUICK

.PHONY: help install system-deps demo test test-fast fuzz lint format clean bench bench-% dist

help:
	@echo "make demo    - set up and run the end-to-end demo on embedded defaults"
	@echo "make test    - set up and run the test suite"
	@echo "make fuzz    - schemathesis over the gateway's and the control API's OpenAPI (under 3 min)"
	@echo "make lint    - ruff"
	@echo "make dist    - build the sdist and wheel into dist/ and check them with twine"
	@echo "make bench-<name> [QUICK=1] - run one benchmark (contracts, serving, exposure, rollout, measure, evals, recsys)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the pins or the project metadata change.
$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash scripts/ensure-system-deps.sh

demo: $(STAMP)
	$(BIN)/trilho demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not slow"

fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz_http.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks

bench-%: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.bench_$(subst -,_,$*) $(if $(QUICK),--quick,)

dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

clean:
	rm -rf $(VENV) .trilho .pytest_cache .ruff_cache dist build
