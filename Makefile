# MedFed: two commands for a fresh machine.
#   make demo   set up, then run the server on the embedded defaults (SQLite, files in .medfed/)
#   make test   set up, then run the test suite (on PostgreSQL too when MEDFED_TEST_DATABASE_URL is set)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium; pdftoppm/pdftotext (poppler) read the PDF reports;
# nginx is the TLS proxy in front of two servers in the replicated-network test; docker-compose
# (Debian's, which needs no container engine for `config`) checks the compose files.
SYSTEM_TOOLS := /usr/bin/chromium /usr/bin/pdftoppm /usr/sbin/nginx /usr/bin/docker-compose
APT_PACKAGES := chromium poppler-utils nginx-light
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo setup test lint typecheck check bench bench-quick clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "MedFed needs Python 3.11 ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SYSTEM_TOOLS):
	@echo "installing Debian's chromium, poppler-utils, nginx-light and docker-compose for the tests"
	$(SUDO) apt-get install -y -q $(APT_PACKAGES) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(APT_PACKAGES); }
	@# Without its recommended docker.io: no container engine is wanted, only `config`.
	$(SUDO) apt-get install -y -q --no-install-recommends docker-compose

# `make demo PORT=8010` and `make demo DEMO_ARGS="--no-round"` pass through to `medfed demo`.
PORT ?=
DEMO_ARGS ?=
# Test processes at once (pytest-xdist); `make test WORKERS=0` runs in this process only.
WORKERS ?= auto

setup: $(STAMP) $(SYSTEM_TOOLS)

demo: $(STAMP)
	$(BIN)/medfed demo $(if $(PORT),--port $(PORT)) $(DEMO_ARGS)

test: $(STAMP) $(SYSTEM_TOOLS)
	$(BIN)/ruff check medfed tests bench
	$(BIN)/mypy medfed
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist worksteal --durations=15

lint: $(STAMP)
	$(BIN)/ruff check medfed tests bench
	$(BIN)/ruff format --check medfed tests bench

typecheck: $(STAMP)
	$(BIN)/mypy medfed

check: lint typecheck test

# Benchmarks: one harness writes bench/results/*.json and the README's tables (see README).
/usr/bin/wrk:
	@echo "installing Debian's wrk for the serving benchmark"
	$(SUDO) apt-get install -y -q wrk || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }

bench: $(STAMP) /usr/bin/wrk
	$(BIN)/python bench/run.py

bench-quick: $(STAMP) /usr/bin/wrk
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
