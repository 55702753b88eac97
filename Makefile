# Atelier — the two commands of the README's quick start are `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
GPU ?= 0
# GPU=1: faiss's CUDA build instead of faiss-cpu (requirements-gpu.lock); never both.
LOCK := $(if $(filter 1,$(GPU)),requirements-gpu.lock,requirements.lock)
OTHER_FAISS := $(if $(filter 1,$(GPU)),faiss-cpu,faiss-gpu-cu12)
STAMP := $(VENV)/.installed-$(if $(filter 1,$(GPU)),gpu,cpu)
SITE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: setup demo test test-fast worker web lint clean

# Idempotent: reinstalls only when a lock file or pyproject.toml changed. `make setup GPU=1` on CUDA machines.
setup: $(STAMP)

$(STAMP): requirements.lock requirements-gpu.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@# switching builds: both own faiss/, so remove both and let the lock put the right one back
	@if $(BIN)/pip show -q $(OTHER_FAISS) 2>/dev/null; then $(BIN)/pip uninstall -q -y faiss-cpu faiss-gpu-cu12; fi
	$(BIN)/pip install -q --disable-pip-version-check -r $(LOCK)
	@rm -f $(VENV)/.installed-*
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
