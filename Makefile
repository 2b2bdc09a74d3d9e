# Two commands on a fresh clone: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint typecheck clean services install

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "ogi needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# ogi and every ogi-metrics-*/ogi-check-* plugin into the checkout's .venv, and where they are.
install: $(STAMP)
	@echo "ogi is installed: $(abspath $(BIN))/ogi ($$($(BIN)/ogi --version))"
	@echo "put it on PATH with:  export PATH=\"$(abspath $(BIN)):\$$PATH\""

# Each run gets its own folder for the demo's event file (the `show` handler writes to $$TMPDIR).
run: $(STAMP)
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/ogi-demo.XXXXXX") && echo "events of this run: $$dir/ogi-demo-events.json" && \
	TMPDIR=$$dir exec $(BIN)/ogi run -c examples/config.json -d examples/conf.d

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.client
	$(BIN)/python -m bench.graphite
	$(BIN)/python -m bench.prometheus
	$(BIN)/python -m bench.server
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.webhook
	$(BIN)/python -m bench.dashboard

lint: $(STAMP)
	$(BIN)/ruff check pipeline handlers mutators filters plugins tests bench
	$(BIN)/mypy

typecheck: lint

services:
	bash .ci/packages
	bash .ci/services

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
