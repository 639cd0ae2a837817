# The two commands: `make run` (the back office) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test services bench lint format clean-data

run: $(VENV)/.runtime
	$(PY) scripts/dev.py run

test: $(VENV)/.dev
	$(PY) scripts/dev.py test $(ARGS)

# Start the embedded PostgreSQL and Redis (if no URL is set) and leave them running,
# so that `.venv/bin/python manage.py ...` works by hand.
services: $(VENV)/.runtime
	$(PY) scripts/dev.py services

bench: $(VENV)/.runtime
	$(PY) scripts/dev.py bench $(BENCH)

format: $(VENV)/.dev
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean-data:
	rm -rf .data
