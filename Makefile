# Kezekshi: `make demo` installs and runs everything; `make test` runs every test.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export DEBUG ?= 1

.PHONY: demo install migrate seed run test lint bench messages clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The demo's local settings: development mode and a secret of its own (never committed).
.env:
	printf 'DEBUG=1\nSECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@

migrate: install .env
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

# One command: install, migrate, demo school, then the web server and the task worker.
demo: seed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Kezekshi: http://$(HOST):$(PORT)/  (staff portal), http://$(HOST):$(PORT)/app/ (parents)"
	$(PY) manage.py run_worker & WORKER=$$!; \
	trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	$(PY) -m uvicorn kezekshi.asgi:application --host $(HOST) --port $(PORT)

# The whole test suite (SQLite; set DATABASE_URL to run it on PostgreSQL).
test: install
	DEBUG=0 $(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy kezekshi bench
	$(PY) manage.py makemigrations --check --dry-run

messages: install
	$(PY) manage.py makemessages -l kk -l ru -l en --no-obsolete \
	  --ignore '.venv/*' --ignore 'var/*' --ignore 'bench/*' --ignore '*/tests/*' --ignore 'kezekshi/e2e/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

bench: install
	DEBUG=0 $(PY) bench/import_people.py
	DEBUG=0 $(PY) bench/access_decide.py
	DEBUG=0 $(PY) bench/access_events.py
	DEBUG=0 $(PY) bench/morning_rush.py
	DEBUG=0 $(PY) bench/zkteco_ingest.py
	DEBUG=0 $(PY) bench/hikvision_push.py
	DEBUG=0 $(PY) bench/device_sync.py
	DEBUG=0 $(PY) bench/edge_decide.py
	DEBUG=0 $(PY) bench/outage_drill.py
	DEBUG=0 $(PY) bench/canteen_stress.py
	DEBUG=0 $(PY) bench/canteen_sale.py

clean:
	rm -rf $(VENV) var
