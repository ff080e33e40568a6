"""Matchers start from the lexical snapshot on disk and are rebuilt off the request path (MATCHER_REFRESH)."""
from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import event

from matchmaking import lexical
from matchmaking.lexical import LexicalIndex
from services.indexing import published_docs
from services.matching import LEXICAL_DIR, MatchingRuntime
from tests.conftest import app_config, dispose_app

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

KIND = "achievement"


@pytest.fixture
def people(make_user):
    return {"uni": make_user("university"), "broker": make_user("broker")}


@pytest.fixture
def publish(make_listing, people):
    def make(title):
        return make_listing(KIND, people["uni"], reviewer=people["broker"], title=title)
    return make


@pytest.fixture
def tokenised(monkeypatch):
    """The texts (sentences) jieba is asked to tokenise from now on (the real tokenizer still runs)."""
    seen, real = [], lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda s, **kw: seen.append(s) or real(s, **kw))
    return seen


def _runtime(app) -> MatchingRuntime:
    return app.extensions["matching"]


def _snapshot(runtime):
    return LexicalIndex.load(runtime.index_dir(KIND) / LEXICAL_DIR)


def test_first_matcher_saves_a_snapshot_that_a_new_process_loads(app, session, publish, tokenised):
    a, b = publish("固态电解质膜的干法制备"), publish("钙钛矿光伏组件封装")
    runtime = _runtime(app)
    first = runtime.matcher(KIND, session)
    assert _snapshot(runtime).ids().tolist() == [a.id, b.id]
    runtime.matchers.forget()  # as a new web process would start
    tokenised.clear()
    again = runtime.matcher(KIND, session)
    assert tokenised == [] and again is not first
    assert again.lexical.search("钙钛矿 封装", k=2) == first.lexical.search("钙钛矿 封装", k=2)


def test_snapshot_catches_up_with_listings_published_since(app, session, publish, tokenised):
    publish("固态电解质膜的干法制备")
    runtime = _runtime(app)
    runtime.matcher(KIND, session)
    runtime.matchers.forget()
    new = publish("钙钛矿光伏组件封装")
    tokenised.clear()
    matcher = runtime.matcher(KIND, session)
    assert tokenised and all("钙钛矿" in s or "固态" not in s for s in tokenised)  # only the new listing
    assert new.id in matcher.docs and _snapshot(runtime).ids().tolist() == sorted(matcher.docs)


def test_a_corrupt_snapshot_is_rebuilt_not_a_crash(app, session, publish):
    a = publish("固态电解质膜的干法制备")
    runtime = _runtime(app)
    runtime.matcher(KIND, session)
    (runtime.index_dir(KIND) / LEXICAL_DIR / "manifest.json").write_text("{not json")
    runtime.matchers.forget()
    assert a.id in runtime.matcher(KIND, session).docs
    assert _snapshot(runtime).ids().tolist() == [a.id]


def test_published_docs_loads_fields_with_the_rows(app, session, publish):
    for i in range(4):
        publish(f"固态电解质膜的干法制备 {i}")
    session.expunge_all()
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        docs = published_docs(session, KIND)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert len(docs) == 4 and all(d.field == "new_energy.battery" for d in docs.values())
    # the listings, their fields in one IN query, and the region tree once (regions' paths for the region fit)
    assert len(statements) == 3 and "FROM regions" in statements[2]


def test_unknown_matcher_refresh_is_refused(app):
    with pytest.raises(ValueError, match="MATCHER_REFRESH"):
        MatchingRuntime({**app.config, "MATCHER_REFRESH": "sometimes"}, app.extensions["db_sessionmaker"])


class Gate:
    """Holds background builds inside the lexical step (after they read the stamp and the listings)."""

    def __init__(self, runtime, monkeypatch, fail=False):
        self.entered, self.release, self.builds, self.fail = threading.Event(), threading.Event(), 0, fail
        real = runtime.matchers._lexical

        def gated(*args):
            self.builds += 1
            self.entered.set()
            assert self.release.wait(30)
            if self.fail:
                raise RuntimeError("simulated rebuild failure")
            return real(*args)

        monkeypatch.setattr(runtime.matchers, "_lexical", gated)


@pytest.fixture
def bg_app(tmp_path, database_url):
    from app import create_app

    application = create_app(app_config(tmp_path, database_url, MATCHER_REFRESH="background"))
    yield application
    dispose_app(application)


@pytest.fixture
def bg(bg_app, monkeypatch):
    """A background-refresh app: its session, a publisher, and its runtime."""
    import tests.conftest as c
    from web.db import sessionmaker_for

    with sessionmaker_for(bg_app)() as s:
        uni, broker = c.make_user.__wrapped__(s)("university"), c.make_user.__wrapped__(s)("broker")
        yield s, lambda title: c.make_listing.__wrapped__(s)(KIND, uni, reviewer=broker, title=title), \
            _runtime(bg_app)


def test_previous_matcher_serves_while_the_rebuild_runs(bg, monkeypatch):
    session, publish, runtime = bg
    publish("固态电解质膜的干法制备")
    old = runtime.matcher(KIND, session)  # the first one is built in the request: nothing to serve yet
    gate = Gate(runtime, monkeypatch)
    new = publish("钙钛矿光伏组件封装")
    assert runtime.matcher(KIND, session) is old and gate.entered.wait(30)
    assert runtime.matcher(KIND, session) is old and new.id not in old.docs
    gate.release.set()
    runtime.wait_for_refresh(KIND, 30)
    swapped = runtime.matcher(KIND, session)
    assert swapped is not old and new.id in swapped.docs and gate.builds == 1


def test_a_failing_rebuild_keeps_the_previous_matcher_and_logs(bg, monkeypatch, caplog):
    session, publish, runtime = bg
    publish("固态电解质膜的干法制备")
    old = runtime.matcher(KIND, session)
    gate = Gate(runtime, monkeypatch, fail=True)
    gate.release.set()
    publish("钙钛矿光伏组件封装")
    with caplog.at_level(logging.ERROR, logger="services.matching"):
        assert runtime.matcher(KIND, session) is old
        runtime.wait_for_refresh(KIND, 30)
    assert "rebuilding the achievement matcher failed" in caplog.text
    assert runtime.matcher(KIND, session) is old and gate.builds == 1  # not retried on every request
    runtime.matchers._refresh_retry_at.clear()  # the retry delay is over
    gate.fail = False
    runtime.matcher(KIND, session)
    runtime.wait_for_refresh(KIND, 30)
    assert len(runtime.matcher(KIND, session).docs) == 2


def test_two_changes_during_a_rebuild_give_one_more_rebuild(bg, monkeypatch):
    session, publish, runtime = bg
    publish("固态电解质膜的干法制备")
    old = runtime.matcher(KIND, session)
    gate = Gate(runtime, monkeypatch)
    publish("钙钛矿光伏组件封装")
    runtime.matcher(KIND, session)
    assert gate.entered.wait(30)
    last = publish("氢燃料电池催化剂")  # the running build read the listings before this one
    third = publish("硅碳负极喷雾干燥")
    for _ in range(5):
        assert runtime.matcher(KIND, session) is old  # no second thread, no pile-up
    gate.release.set()
    runtime.wait_for_refresh(KIND, 30)
    final = runtime.matcher(KIND, session)
    assert gate.builds == 2 and {last.id, third.id} <= set(final.docs) and len(final.docs) == 4
