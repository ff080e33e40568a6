"""A database that stays locked past the busy timeout gives a clear 503 page, and nothing is lost."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from tests.conftest import CSRF_RE, MODEL_DIR, PASSWORD

pytestmark = pytest.mark.sqlite_only("a SQLite file held by another connection's BEGIN IMMEDIATE past the busy "
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
