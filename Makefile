# Loopgate: `make demo` runs the product with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test lint typecheck check schema bench-ingest bench-claim bench-audit bench-metrics simulate clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Loopgate needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo_seed
	$(PY) manage.py runstack --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

schema: $(STAMP)
	$(PY) manage.py spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml

check: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py $(BENCH_ARGS)

bench-claim: $(STAMP)
	$(PY) bench/claim.py $(BENCH_ARGS)

bench-audit: $(STAMP)
	$(PY) bench/audit_export.py $(BENCH_ARGS)

bench-metrics: $(STAMP)
	$(PY) bench/metrics.py $(BENCH_ARGS)

simulate: $(STAMP)
	$(PY) manage.py simulate $(SIM_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
