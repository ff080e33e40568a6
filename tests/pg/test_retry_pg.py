"""PostgreSQL: a write request that hits a serialization failure (SQLSTATE 40001) runs again as a whole (its
unit of work: the view and the commit, web/db.py); one that keeps failing gets the 503 page; reads are not
retried."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from web import policy
from web.db import db

FAIL = "DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = 'serialization_failure'; END $$"


@pytest.fixture
def probe(app, monkeypatch):
    """A test-only view that inserts a row, then fails with 40001 for the first `fail` tries; the request's unit
    of work commits (the view does not)."""
    state = {"calls": 0, "fail": 1}
    engine = app.extensions["db_engine"]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE retry_probe (attempt integer NOT NULL)"))

    @app.route("/_probe", methods=["GET", "POST"], endpoint="pg_probe")
    def pg_probe():
        state["calls"] += 1
        s = db()
        s.execute(text("INSERT INTO retry_probe (attempt) VALUES (:n)"), {"n": state["calls"]})
        if state["calls"] <= state["fail"]:
            s.execute(text(FAIL))
        return "saved"

    for method in ("GET", "POST"):
        monkeypatch.setitem(policy.RULES, ("pg_probe", method), policy.Rule(policy.ALL_ROLES))
    app.config["WTF_CSRF_ENABLED"] = False

    def rows() -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT attempt FROM retry_probe ORDER BY attempt")).scalars())

    state["rows"] = rows
    return state


def test_post_is_retried_after_a_serialization_failure(app, probe):
    resp = app.test_client().post("/_probe")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "saved"
    assert probe["calls"] == 2
    assert probe["rows"]() == [2]  # the failed try left nothing behind


def test_post_that_keeps_failing_gets_503_after_the_retries(app, probe):
    probe["fail"] = 99
    resp = app.test_client().post("/_probe")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert probe["calls"] == app.config["DB_RETRIES"] == 3
    assert probe["rows"]() == []


def test_get_is_not_retried(app, probe):
    resp = app.test_client().get("/_probe")
    assert resp.status_code == 503
    assert probe["calls"] == 1
