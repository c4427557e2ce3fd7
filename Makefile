# The README's two commands: `make run` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
PG_URL ?= $(if $(TEST_DATABASE_URL),$(TEST_DATABASE_URL),postgresql://postgres@127.0.0.1:5432/postgres)

.PHONY: run check test test-sqlite test-postgresql audit-deps install install-dev translations assets messages chromium pgbench bench audit lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations assets
install-dev: $(VENV)/.installed-dev translations assets

# Compiled catalogs are build products, not sources.
translations: $(VENV)/.installed
	@$(BIN)/pybabel compile -d mkassa/translations >/dev/null

# gzip and Brotli copies of the static files, built ahead (mkassa/assets.py): build products too.
assets: $(VENV)/.installed
	@$(BIN)/python -m mkassa.assets >/dev/null

# Refresh the catalogs from the code (then translate the new entries in ru/ky/en).
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k lazy_gettext --no-location --sort-output -o mkassa/translations/messages.pot mkassa
	$(BIN)/pybabel update -i mkassa/translations/messages.pot -d mkassa/translations --no-fuzzy-matching

run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	@echo "MKASSA web: http://127.0.0.1:$(PORT)  (bank console: flask --app wsgi admin create --login operator)"
	$(FLASK) run --host 127.0.0.1 --port $(PORT) --no-reload --with-threads

# Debian's Chromium for the browser tests (never a browser download of Playwright's own).
chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium as root); browser tests will be skipped"; fi; fi

# Quick feedback while working: SQLite only, no browser tests, no tests marked slow, Hypothesis' dev
# profile (fewer examples), on two processes (pytest-xdist). Under 3 minutes on two idle cores.
# Not a substitute for `make test`, which runs everything before a merge.
check: install-dev
	$(BIN)/python -m pytest --db=sqlite -m "not e2e and not slow" -n 2 -q

# Everything: both databases, browser tests, slow tests, Hypothesis' full (ci) profile.
test: install-dev chromium audit-deps
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

# pip-audit over the pinned requirements (PyPI's vulnerability data): a known vulnerability fails, unless
# pip-audit-ignore.toml lists it with a reason and a review date. See scripts/audit_deps.py.
audit-deps: install-dev
	$(BIN)/python scripts/audit_deps.py

test-sqlite:
	$(BIN)/python -m pytest --db=sqlite --hypothesis-profile=ci

# PostgreSQL when one is reachable; under CI a missing PostgreSQL is a failure, not a skip.
test-postgresql:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  TEST_DATABASE_URL='$(PG_URL)' $(BIN)/python -m pytest --db=postgresql --hypothesis-profile=ci; \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL is not reachable at $(PG_URL): CI requires it" >&2; exit 1; \
	else echo "PostgreSQL not reachable at $(PG_URL): skipping the PostgreSQL run"; fi

# pgbench for the webhook benchmark. Debian 12 ships it in the server package (postgresql-15, pulled in by
# postgresql-contrib); /usr/bin/pgbench alone is only postgresql-common's wrapper, so run it to check.
pgbench:
	@if ! pgbench --version >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib >/dev/null; \
	  else echo "pgbench is missing (apt-get install postgresql-contrib as root); the webhook benchmark will skip it"; fi; fi

bench: install-dev chromium pgbench
	$(BIN)/python -m bench

# Lighthouse (pinned, from npm, into .audit/ which git ignores) on the main screens of a live app with
# demo data, in Debian's Chromium; prints scores against the targets of issue #11. Not part of `make test`.
LIGHTHOUSE_VERSION := 12.8.2
AUDIT_DIR := .audit

$(AUDIT_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION):
	mkdir -p $(AUDIT_DIR)
	npm install --prefix $(AUDIT_DIR) --no-save --no-audit --no-fund --loglevel=error lighthouse@$(LIGHTHOUSE_VERSION)
	touch $@

audit: install chromium $(AUDIT_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION)
	CHROME_PATH=$${CHROME_PATH:-/usr/bin/chromium} $(BIN)/python scripts/audit.py

lint: install-dev
	$(BIN)/python -m compileall -q mkassa tests

clean:
	rm -rf $(VENV) instance $(AUDIT_DIR) mkassa/static-build
