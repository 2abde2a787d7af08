# `make run` starts Opscord; `make test` runs the linters and the test suite.
# Both create .venv and install the project on first use (only Python 3.11+ is needed).
# `make fuzz` runs the fuzz suite 20 times longer than CI does, with fresh random examples (FUZZ_SCALE=N for N times).
# `make bench` measures Opscord against its baselines (BENCH_ARGS="--quick --json bench.json" for a shorter run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint unit fuzz bench clean

run: $(STAMP)
	$(BIN)/python -m bot

test: lint $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot cogs integrations tests scripts
	$(BIN)/mypy

fuzz: $(STAMP)
	OPSCORD_FUZZ_SCALE=$(or $(FUZZ_SCALE),20) $(BIN)/python -m pytest -q -m fuzz tests/fuzz

bench: $(STAMP)
	$(BIN)/python -m bot bench $(BENCH_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not prometheus and not packaging"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Opscord needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
