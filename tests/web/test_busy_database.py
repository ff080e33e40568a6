"""A database that stays locked past the busy timeout, or a connection pool that stays empty past its
timeout, gives a clear 503 with Retry-After (pages and API), never a 500, and nothing is lost."""
from __future__ import annotations

import shutil
import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from tests.conftest import CSRF_RE, MODEL_DIR, PASSWORD, app_config, demand_data, dispose_app

BUSY_MESSAGE = "The service is very busy right now and nothing was changed. Please try again in a few seconds."
SQLITE_ONLY = pytest.mark.sqlite_only("a SQLite file held by another connection's BEGIN IMMEDIATE past the busy "
                                      "timeout; PostgreSQL's lock failures are tests/pg/test_retry_pg.py")


@pytest.fixture
def busy_app(tmp_path, template_db):
    from app import create_app

    db = tmp_path / "app.db"
    shutil.copy(template_db, db)
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "INDEX_DIR": str(tmp_path / "index"),
                      "INDEX_SYNC": "inline", "MATCHER_REFRESH": "inline", "JOBS_MODE": "inline",
                      "EMBEDDING_MODEL": MODEL_DIR,
                      "SECRET_KEY": "test-secret", "TESTING": True, "SERVER_NAME": "localhost",
                      "SQLITE_BUSY_TIMEOUT": 0.3})
    yield app, db
    app.extensions["db_engine"].dispose()
    app.extensions["db_write_engine"].dispose()


@SQLITE_ONLY
def test_locked_database_answers_503_with_retry_after(busy_app, zh):
    app, path = busy_app
    from services import accounts
    from web.db import sessionmaker_for
    with sessionmaker_for(app)() as s:
        user = accounts.create_user(s, email="busy@example.com", password=PASSWORD, display_name="b",
                                    role="broker")
        s.commit()
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    holder.execute("INSERT INTO regions (code, name_zh, name_en, position) VALUES ('zz', '测试', 'Test', 99)")
    try:
        resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert zh("The service is very busy right now and nothing was changed. Please try again in a few "
                  "seconds.") in resp.get_data(as_text=True)
        assert client.get("/").status_code == 200  # readers are not blocked by the writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


# --- the connection pool runs dry (issue 18: 100 concurrent POSTs of one session gave 73 server errors) ----------

@pytest.fixture
def tiny_pool_app(tmp_path, database_url):
    """The app with one pooled connection per engine, no overflow, and a short checkout timeout."""
    from app import create_app

    app = create_app(app_config(tmp_path, database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.2,
                                RATELIMIT_ENABLED=False))
    yield app
    dispose_app(app)


def _signed_in(app, role="company"):
    """A signed-in test client of a new user of the role, the user, and a CSRF token of its session."""
    from models import OrgKind
    from services import accounts
    from web.db import sessionmaker_for

    with sessionmaker_for(app)() as s:
        org = accounts.find_or_create_organisation(s, "繁忙测试公司", OrgKind.COMPANY, region="shaanxi")
        user = accounts.create_user(s, email="burst@example.com", password=PASSWORD, display_name="b", role=role,
                                    organisation=org)
        s.commit()
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}) \
        .status_code == 302
    token = CSRF_RE.search(client.get("/account/tokens").get_data(as_text=True)).group(1)
    return client, user, token


def _clone(app, client):
    """Another client of the same browser session (same cookie), as a second tab or a script would be."""
    other = app.test_client()
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    other.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return other


def _burst(n, send):
    """Run send(i) in n threads released together; their responses' (status, Retry-After, body)."""
    gate, out = threading.Barrier(n), [None] * n

    def run(i):
        gate.wait()
        resp = send(i)
        out[i] = (resp.status_code, resp.headers.get("Retry-After"), resp.get_data(as_text=True))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _hold_every_connection(app):
    """Check out the only pooled connection of each of the app's engines (PostgreSQL: one engine for both), as
    requests in flight would hold them."""
    engines = {id(e): e for e in (app.extensions["db_write_engine"], app.extensions["db_engine"])}
    return [engine.connect() for engine in engines.values()]


def _token_rows(app):
    from models import ApiToken
    from web.db import sessionmaker_for

    with sessionmaker_for(app)() as s:
        return s.scalar(select(func.count()).select_from(ApiToken))


def test_writes_while_every_pooled_connection_is_taken_answer_503_with_retry_after(tiny_pool_app, zh):
    app = tiny_pool_app
    client, _user, token = _signed_in(app)
    held = _hold_every_connection(app)
    try:
        results = _burst(8, lambda i: _clone(app, client).post("/account/tokens",
                                                               data={"name": f"ERP {i}", "csrf_token": token}))
    finally:
        for conn in held:
            conn.close()
    for status, retry_after, body in results:
        assert status == 503 and retry_after == "5", (status, body[:300])
        assert zh(BUSY_MESSAGE) in body
    assert _token_rows(app) == 0  # nothing was half-done
    resp = client.post("/account/tokens", data={"name": "ERP again", "csrf_token": token})
    assert resp.status_code == 200 and _token_rows(app) == 1  # the same request works once a connection is free


def test_api_writes_while_the_pool_is_empty_answer_json_503(tiny_pool_app):
    from services import tokens
    from web.db import sessionmaker_for

    app = tiny_pool_app
    _client, user, _token = _signed_in(app)
    with sessionmaker_for(app)() as s:
        _row, clear = tokens.create_token(s, s.get(type(user), user.id), "burst")
        s.commit()
    body = demand_data()
    body["deadline"] = body["deadline"].isoformat()
    headers = {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}
    held = _hold_every_connection(app)
    try:
        results = _burst(4, lambda i: app.test_client().post("/api/v1/demands/", json=body, headers=headers))
    finally:
        for conn in held:
            conn.close()
    for status, retry_after, text in results:
        assert status == 503 and retry_after == "5", (status, text[:300])
        assert '"code":"database_busy"' in text.replace(" ", "") and BUSY_MESSAGE in text


def test_a_burst_of_concurrent_posts_from_one_session_never_gets_a_500(tiny_pool_app):
    app = tiny_pool_app
    client, _user, token = _signed_in(app)
    results = _burst(40, lambda i: _clone(app, client).post("/account/tokens",
                                                            data={"name": f"burst {i}", "csrf_token": token}))
    statuses = sorted(status for status, _r, _b in results)
    assert set(statuses) <= {200, 422, 503}, statuses
    assert all(r == "5" for status, r, _b in results if status == 503)
    assert _token_rows(app) <= statuses.count(200)  # every saved token was answered as saved
