# Atelier — the two commands of the README's quick start are `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
SITE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: setup demo test test-fast worker web lint clean

# Idempotent: reinstalls only when requirements.lock or pyproject.toml changed.
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	@echo "$(CURDIR)/platform" > $(SITE)/atelier-paths.pth
	@echo "$(CURDIR)" >> $(SITE)/atelier-paths.pth
	@touch $(STAMP)

# Embedded default: SQLite, in-process worker, in-memory channel layer, demo models and collection.
demo: setup
	ATELIER_MODE=demo $(BIN)/python manage.py demo --port $(PORT)

# The whole suite. CI (.ci/run) starts PostgreSQL, Redis and Chromium first and sets
# ATELIER_REQUIRE_SERVICES=1 so that a missing service fails instead of skipping.
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Unit tests only (no services, no browser).
test-fast: setup
	$(BIN)/python -m pytest -m "not services and not browser" $(PYTEST_ARGS)

web: setup
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) atelier.asgi:application

worker: setup
	$(BIN)/celery -A atelier.celery_app worker -Q gpu,io -l info

clean:
	rm -rf $(VENV) var
