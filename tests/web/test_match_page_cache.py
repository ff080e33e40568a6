"""Rendered match results are cached (services/pagecache.py) and never outlive what they show."""
from __future__ import annotations

import re

import pytest

from services.cache import MemoryCache, NoCache, RedisCache
from services.pagecache import CSRF_SLOT, PageCache

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def market(app, market):  # the shared market (tests/web/conftest.py), with a shared page cache
    cache = MemoryCache(600)
    cache.shared = True  # as Redis would be: the test's writes and pages are all in this one process
    app.extensions["matching"].pages.cache = cache  # and, as with CACHE_URL=redis://..., the signed-in user
    app.extensions["signed_in_users"].cache = app.extensions["unread_counts"].cache = cache  # and the bell
    return market


def _pages(app) -> list[str]:
    return [k for k in app.extensions["matching"].pages.cache._items if k.startswith("techmatch:page:")]


def _no_engine(monkeypatch, app) -> None:
    """From here on the engine fails: a page that still renders came from the page cache."""
    def boom(*_a, **_kw):
        raise AssertionError("the engine was asked although the page is cached")

    monkeypatch.setattr(app.extensions["matching"], "find_matches", boom)


def test_a_second_view_is_served_from_the_cache_with_the_viewers_own_token(app, client, market, login, make_user,
                                                                          monkeypatch):
    url = f"/matches/demand/{market['demand'].id}"
    login(market["broker"])
    first = client.get(url).get_data(as_text=True)
    assert f'/achievement/{market["good"].id}"' in first and len(_pages(app)) == 1
    _no_engine(monkeypatch, app)
    login(make_user("broker"))  # another broker, another session
    second = client.get(url).get_data(as_text=True)
    assert f'/achievement/{market["good"].id}"' in second and len(_pages(app)) == 1
    assert CSRF_SLOT not in second and "\x00" not in second
    tokens = set(TOKEN_RE.findall(second))
    assert tokens and not tokens & set(TOKEN_RE.findall(first)), "each page carries its own session's token"
    # the forms of a cached page work: the token in them is this session's
    intro = client.post("/introductions/request", data={
        "csrf_token": TOKEN_RE.findall(second)[-1], "demand_id": market["demand"].id,
        "achievement_id": market["good"].id, "reason": "双方技术方向一致", "next": url})
    assert intro.status_code == 302


def test_owner_and_broker_pages_are_cached_apart(app, client, market, login, zh):
    url = f"/matches/demand/{market['demand'].id}"
    login(market["broker"])
    assert zh("Record feedback") in client.get(url).get_data(as_text=True)
    login(market["company"])
    page = client.get(url).get_data(as_text=True)
    assert f'/achievement/{market["good"].id}"' in page
    assert zh("Record feedback") not in page and zh("Possible duplicates among published listings") not in page
    assert len(_pages(app)) == 2


def test_a_change_to_anything_the_page_shows_renders_it_again(app, client, session, market, login, zh):
    from models import Achievement, Status

    url = f"/matches/demand/{market['demand'].id}"
    login(market["broker"])
    assert "秦岭理工大学" in client.get(url).get_data(as_text=True)
    # an organisation renamed (no listing or index change)
    market["uni"].organisation.name = "秦岭理工大学（新校名）"
    session.commit()
    assert "秦岭理工大学（新校名）" in client.get(url).get_data(as_text=True)
    # a broker's feedback on a pair
    page = client.get(url).get_data(as_text=True)
    resp = client.post(f"/feedback/{market['demand'].id}/{market['good'].id}", data={
        "csrf_token": TOKEN_RE.findall(page)[-1], "query_kind": "demand", "outcome": "not_relevant", "reason": "",
        "note": "方向不同", "score": "50", "features": "{}", "row_id": "", "next": url})
    assert resp.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "方向不同" in page
    assert page.index(f'/achievement/{market["off"].id}"') < page.index(f'/achievement/{market["good"].id}"'), \
        "judged not relevant: last"
    # a counterpart closed
    session.get(Achievement, market["off"].id).status = Status.CLOSED.value
    session.commit()
    assert f'/achievement/{market["off"].id}"' not in client.get(url).get_data(as_text=True)


def test_a_served_page_reads_no_listing_and_still_checks_who_may_see_it(app, client, session, market, login,
                                                                          make_user, monkeypatch):
    from sqlalchemy import event

    from models import Demand, Status

    from markupsafe import Markup

    from web import matches as matches_web

    # the service directory's panel is drawn per request by design (providers change apart from the matches; it reads
    # the demand's needs and the providers: tests/web/test_directory_web.py): here, the cached page's own reads
    monkeypatch.setattr(matches_web, "_directory_panel", lambda kind, listing_id: Markup(""))
    url = f"/matches/demand/{market['demand'].id}"
    stranger = make_user("company", org="别家公司")  # made now: a new organisation moves the version on
    login(market["company"])  # the owner: a page for the owner's side is stored
    assert client.get(url).status_code == 200 and len(_pages(app)) == 1
    statements: list[str] = []
    engine = app.extensions["db_engine"]
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        page = client.get(url).get_data(as_text=True)
        assert market["demand"].title in page and f'/achievement/{market["good"].id}"' in page
        assert statements == [], "a served page (user, listing, results, bell) reads nothing from the database"
        # another company: the same key (not a reviewer), served from the cache, refused all the same
        login(stranger)
        assert client.get(url).status_code == 404 and len(_pages(app)) == 1
        # the owner's own listing closed: the version moves on, the owner's page goes with it
        session.get(Demand, market["demand"].id).status = Status.CLOSED.value
        session.commit()
        login(market["company"])
        assert client.get(url).status_code == 404
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def test_a_bump_lost_to_an_outage_is_made_before_the_version_is_read_again():
    memory = MemoryCache(600)
    memory.shared = True
    pages = PageCache(memory, 600)
    before, _ = pages.lookup("x")
    real_incr = memory.incr
    memory.incr = lambda _key: None  # the store does not answer this bump
    pages.bump()
    assert pages.lookup("x") == (None, None), "while the bump is owed this process stores and serves no page"
    memory.incr = real_incr  # the store is back
    after, _ = pages.lookup("x")
    assert after and after != before and pages.lookup("x")[0] == after


def test_without_a_readable_version_nothing_is_cached():
    assert PageCache(NoCache(), 600).lookup("x") == (None, None)
    # a per-process store never hears of other processes' commits: no pages on it
    assert PageCache(MemoryCache(600), 600).lookup("x") == (None, None)
    down = PageCache(RedisCache("redis://127.0.0.1:1/0", 600), 600)  # nothing listens on port 1
    assert down.lookup("x") == (None, None)
    down.store(None, {"results": "<ol></ol>"})  # a no-op, not an error
    down.bump()
    memory = PageCache(MemoryCache(600), 600)
    memory.cache.shared = True
    before, _ = memory.lookup("x")
    assert before and memory.lookup("x")[0] == before and memory.lookup("y")[0] != before
    memory.store(before, {"title": "t"})
    assert memory.lookup("x") == (before, {"title": "t"})
    memory.bump()
    after, page = memory.lookup("x")
    assert after != before and page is None, "a page stored at an older version is never served"
    memory.store(before, {"title": "late"})  # rendered before the bump, stored after it
    assert memory.lookup("x") == (after, None)


def test_index_writes_bump_the_version(app, session, market):
    from services.pagecache import VERSION_KEY

    rt = app.extensions["matching"]
    version = lambda: rt.pages.cache.counter(VERSION_KEY)  # noqa: E731
    before = version()
    rt.sync(session)
    session.commit()
    assert version() == before, "nothing changed in the index"
    store = rt.store("achievement")
    store.remove([market["good"].id])  # the index lost a listing behind the database's back
    rt.sync(session)  # ... and gets it back
    session.commit()
    assert version() > before
    before = version()
    rt.rebuild(session)
    session.commit()
    assert version() > before


def test_a_listings_fingerprint_is_the_same_in_every_process():
    """Workers share cached pages and results only if they compute the same key: a set's repr differs with
    each process's string hashing (PYTHONHASHSEED), the fingerprint must not."""
    import os
    import subprocess
    import sys

    code = ("from models import Demand; from services.indexing import doc_fingerprint, to_doc; "
            "d = Demand(id=7, title='t', description='b', keywords='a,b', region='610000', "
            "modes=['joint', 'license', 'transfer', 'service'], budget_min=1, budget_max=2); "
            "print(doc_fingerprint(d), repr(to_doc(d).modes))")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=str(seed))).stdout.split(" ", 1)
            for seed in (1, 2, 3, 4)]
    assert len({fp for fp, _ in outs}) == 1
    assert len({modes for _, modes in outs}) > 1, "the plain repr does differ between processes"


@pytest.mark.parametrize("broken", ["stamps", "find_matches"])
def test_matching_unavailable_is_said_on_the_page_and_not_cached(app, client, market, login, monkeypatch, broken):
    """pgvector's stamps need the model (ModelNotReady without it): the page is rendered without the cache (and
    says what is wrong if the engine cannot answer either). The engine can fail on its own (an index built by
    another model): the page says so. Either way nothing is stored, and it is never a 500."""
    from matchmaking.encoders import ModelNotReady
    from matchmaking.vectorstore import IndexMismatchError

    err = ModelNotReady("no model") if broken == "stamps" else IndexMismatchError("other model")

    def fail(*_a, **_kw):
        raise err

    monkeypatch.setattr(app.extensions["matching"], broken, fail)
    login(market["broker"])
    page = client.get(f"/matches/demand/{market['demand'].id}")
    assert page.status_code == 200 and _pages(app) == []
    said = "flask index rebuild" in page.get_data(as_text=True)
    assert said == (broken == "find_matches")


def test_a_lost_bump_is_not_cleared_by_a_bump_that_started_before_it():
    """Threads of one process bump at once: a success that was already under way when another bump was lost may
    have reached Redis before that bump's commit, so it does not pay the debt; a later one does."""
    memory = MemoryCache(600)
    memory.shared = True
    pages = PageCache(memory, 600)
    real_incr = memory.incr

    def first_incr(key):  # while the first bump is in flight, a second one starts and is lost
        memory.incr = lambda _key: None
        assert pages.bump() is False
        memory.incr = real_incr
        return real_incr(key)

    memory.incr = first_incr
    assert pages.bump() is True
    assert pages._owed, "the success started before the lost bump: still owed"
    assert pages.lookup("x") != (None, None), "the lookup made the owed bump itself"
    assert not pages._owed
    assert pages.bump() is True and pages.lookup("x")[0] is not None
