# The two commands a new user needs: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8000
SIMULATOR_PORT ?= 8999

.PHONY: install setup run test lint format audit audit-if-reachable bench drills migrate clean chromium

# Re-installs only when pyproject.toml changed since the last install.
$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (python3.11 on PATH)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(INSTALLED)

# Everything `make run` does before it starts the processes: install, the development `.env` (written the
# first time: DEBUG on, a generated SECRET_KEY, the embedded database and broker, the simulator's
# credentials; later runs only move its loopback ports to this run's), the database, the demo login. After
# it, `.venv/bin/python manage.py ...` works in any terminal with nothing exported by hand.
setup: $(INSTALLED)
	@mkdir -p var
	@DEBUG=true $(BIN)/python manage.py dev_env --port $(PORT) --simulator-port $(SIMULATOR_PORT)
	$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py demo_setup --port $(PORT)

# The embedded default: SQLite, a file-system Celery broker, web + worker + beat + the Plivo simulator in the
# foreground. Each reads `.env` through the settings, where a variable set in the shell wins over the file
# (so honcho is told not to inject the file itself: it would win over the shell).
run: export WEB_PORT = $(PORT)
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: setup
	$(BIN)/honcho --env /dev/null --procfile Procfile.dev start

test: $(INSTALLED) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The admin's browser tests drive Debian's chromium through Playwright (no browser download). Installed here
# when missing and we may (root); otherwise those tests are skipped and say why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# ruff, then the import direction of docs/architecture.md (import-linter's contracts in pyproject.toml).
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Known vulnerabilities in every installed dependency (pip-audit against PyPI's advisory data, so it needs a
# network that reaches that). --strict: a package that could not be checked fails the audit rather than
# passing unchecked. The project itself (installed editable, not on PyPI) is skipped.
audit: $(INSTALLED)
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off

# What CI runs: `make audit` where the advisory data can be reached, else one line saying it was skipped.
# The probe is a release with published advisories (requests 2.0.0): an audit that cannot see those sees
# nothing, and would otherwise report "No known vulnerabilities found" for packages it never checked.
audit-if-reachable: $(INSTALLED)
	@probe=$$(mktemp) && echo "requests==2.0.0" > $$probe; \
	if $(BIN)/pip-audit --no-deps --progress-spinner off -r $$probe 2>/dev/null | grep -Eq "PYSEC-|GHSA-|CVE-"; then \
		rm -f $$probe; $(MAKE) --no-print-directory audit; \
	else \
		rm -f $$probe; echo "Dependency audit SKIPPED: PyPI's vulnerability data cannot be reached from this network (make audit runs it where it can)"; \
	fi

bench: $(INSTALLED)
	$(BIN)/python -m bench

# Reliability drills on a private PostgreSQL + Redis + simulator + gunicorn + Celery stack (ports 8451-8459,
# or DRILLS_BASE_PORT+1..+9); DRILLS_ARGS="kills --scale 0.1" runs a part. Needs initdb/pg_ctl and redis-server.
drills: $(INSTALLED)
	$(BIN)/python -m drills $(DRILLS_ARGS)

migrate: $(INSTALLED)
	$(BIN)/python manage.py migrate --noinput

clean:
	rm -rf $(VENV) var db.sqlite3* test-db.sqlite3* staticfiles
