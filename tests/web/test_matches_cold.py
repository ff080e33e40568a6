"""A match page that misses the cache does only the work its view needs (issue 17): a listing's near
duplicates are found once per change of the listing or of the index, not on every view; its text is segmented
once however many times the page asks for its terms."""
from __future__ import annotations

import pytest

from matchmaking import lexical
from matchmaking.engine import HybridMatcher
from services import listings

pytestmark = pytest.mark.model  # publishing listings updates the index (the embedding model)


def test_near_duplicates_are_found_once_per_listing_change(app, session, market, monkeypatch):
    rt = app.extensions["matching"]
    calls = []
    real = HybridMatcher.similar
    monkeypatch.setattr(HybridMatcher, "similar", lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    good = market["good"]
    first = [v.listing.id for v in rt.similar(session, good)]
    assert [v.listing.id for v in rt.similar(session, good)] == first and len(calls) == 1
    listings.update_listing(session, good, good.owner, {"title": "单晶高镍正极原子层沉积包覆及补锂技术"})
    session.commit()
    rt.similar(session, good)
    assert len(calls) == 2  # the listing changed: its duplicates are looked for again


def test_a_new_listing_of_the_kind_is_a_new_possible_duplicate(app, session, market, make_listing, monkeypatch):
    rt = app.extensions["matching"]
    good = market["good"]
    before = {v.listing.id for v in rt.similar(session, good)}
    twin = make_listing("achievement", market["uni"], reviewer=market["broker"], title=good.title + "（二期）")
    rt.wait_for_refresh("achievement", 60)
    after = {v.listing.id for v in rt.similar(session, good)}
    assert twin.id not in before and twin.id in after


def test_a_listing_text_is_segmented_once_for_all_its_uses(app, session, market, monkeypatch):
    rt = app.extensions["matching"]
    lexical._query_tokens.cache_clear()
    cut = []
    real = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda *a, **kw: cut.append(a[0]) or real(*a, **kw))
    demand = market["demand"]
    rt.find_matches(session, demand)
    rt.find_matches(session, demand, k=5)
    texts = [t for t in cut if demand.description in t]
    assert texts and len(texts) == len(set(texts)) * 2  # search mode and whole words, once each per text
