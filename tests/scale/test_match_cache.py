"""The match cache: keyed so it is never stale, re-checked against the database on every hit, and a store
outage is a miss, never an error."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from services.cache import MemoryCache, NoCache, RedisCache, build_cache
from services.pagecache import VERSION_KEY, PageCache


def _keys(cache: MemoryCache, what: str) -> set[str]:
    return {k for k in cache._items if k.startswith(f"techmatch:{what}:")}


def test_build_cache_refuses_an_unknown_url():
    assert isinstance(build_cache("none"), NoCache)
    assert isinstance(build_cache("memory"), MemoryCache)
    with pytest.raises(ValueError):
        build_cache("memcached://x")


def test_a_cached_result_is_rechecked_and_a_changed_listing_gets_a_new_key(app, session, make_user, make_listing):
    from models import Achievement, Status

    runtime = app.extensions["matching"]
    runtime.cache = cache = MemoryCache(600)
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    first = make_listing("achievement", make_user("university"), reviewer=broker)
    second = make_listing("achievement", make_user("university"), reviewer=broker, title="高镍正极包覆改性新方法")

    assert {v.listing.id for v in runtime.find_matches(session, demand)} == {first.id, second.id}
    assert len(_keys(cache, "match")) == 1 and len(_keys(cache, "qvec")) == 2  # the text's and the title's
    # closed behind the index's back (no index update, same stamp): the cached list still names it
    session.execute(update(Achievement).where(Achievement.id == second.id).values(status=Status.CLOSED.value))
    session.commit()
    assert {v.listing.id for v in runtime.find_matches(session, demand)} == {first.id}
    assert len(_keys(cache, "match")) == 1, "that was a cache hit, re-checked against the database"

    demand.title = "高镍三元正极材料循环寿命与安全性提升"
    session.commit()
    runtime.find_matches(session, demand)
    assert len(_keys(cache, "match")) == 2, "a changed listing is a new key"

    make_listing("achievement", make_user("university"), reviewer=broker, title="正极材料表面包覆")
    runtime.find_matches(session, demand)
    assert len(_keys(cache, "match")) == 3, "a changed counterpart index is a new key"


def test_results_from_the_listings_own_organisation_are_never_shown(app, session, make_user, make_listing):
    from models import Achievement

    runtime = app.extensions["matching"]
    runtime.cache = MemoryCache(600)
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    own = make_listing("achievement", make_user("university"), reviewer=broker)
    other = make_listing("achievement", make_user("university"), reviewer=broker)
    # e.g. an organisation whose research institute publishes achievements too
    session.execute(update(Achievement).where(Achievement.id == own.id)
                    .values(organisation_id=demand.organisation_id))
    session.commit()
    for _ in range(2):  # fresh, then from the cache
        assert [v.listing.id for v in runtime.find_matches(session, demand)] == [other.id]


def test_a_redis_outage_is_a_cache_miss(redis_server, redis_url):
    cache = RedisCache(redis_url, ttl=60)
    cache.set("k", [1, 2])
    assert cache.get("k") == [1, 2]
    redis_server.stop()
    assert cache.get("k") is None
    cache.set("k", [3])  # no error either


def test_a_redis_counter_reads_zero_until_started_or_bumped_and_then_counts_on(redis_server, redis_url):
    """Counters (page version, user generations) start from the clock when new or lost: reading must not create
    one at 0, and neither a read nor a bump may count again over values stored before it was lost."""
    import redis

    cache, client = RedisCache(redis_url, ttl=60), redis.Redis.from_url(redis_url)
    client.delete("c:new", "c:bumped")
    assert cache.counter("c:new") == 0 and not client.exists("c:new"), "reading leaves a missing counter missing"
    cache.start_counter("c:new", 1_000)
    cache.start_counter("c:new", 5)  # only a missing counter is started
    assert cache.counter("c:new") == 1_000
    assert cache.incr("c:new") == 1_001 and cache.counter("c:new") == 1_001
    first = cache.incr("c:bumped")  # a missing counter bumped starts from the clock too
    assert first > 10 ** 15 and cache.counter("c:bumped") == first
    pages = PageCache(cache, 60)
    client.delete(VERSION_KEY)
    slot, _ = pages.lookup("page", 1)
    assert int(client.get(VERSION_KEY)) > 10 ** 15, "a new page version starts from the clock, not from 0"
    pages.store(slot, {"title": "t"})
    assert pages.lookup("page", 1) == (slot, {"title": "t"})
    pages.bump()
    assert pages.lookup("page", 1)[0] != slot and pages.lookup("page", 1)[1] is None
    redis_server.stop()
    assert cache.counter("c:new") is None and pages.lookup("page", 1) == (None, None)


def test_a_query_vector_is_encoded_once_per_text_in_a_process_even_without_a_cache(
        app, session, make_user, make_listing, monkeypatch):
    runtime = app.extensions["matching"]
    runtime.cache = NoCache()
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    make_listing("achievement", make_user("university"), reviewer=broker)
    encoder = runtime.encoder
    texts: list[str] = []
    real = encoder.encode_queries

    def counting(batch, *a, **kw):
        texts.extend(batch)
        return real(batch, *a, **kw)

    monkeypatch.setattr(encoder, "encode_queries", counting)
    first = runtime.find_matches(session, demand)
    again = runtime.find_matches(session, demand)
    # the whole text and the title (the calibration compares the title too), each once
    assert len(texts) == 2 and [v.listing.id for v in again] == [v.listing.id for v in first]
    demand.title = "高镍三元正极材料循环寿命与安全性提升"
    session.commit()
    runtime.find_matches(session, demand)
    assert len(texts) == 4 and texts[3] == demand.title and "高镍三元正极材料循环寿命" in texts[2], \
        "a changed text is encoded again"


def test_query_vectors_outlive_results_in_redis(app, session, make_user, make_listing, redis_url):
    """A result depends on the index and expires with CACHE_TTL; a query vector depends only on (model, text)."""
    import redis

    runtime = app.extensions["matching"]
    runtime.cache = RedisCache(redis_url, ttl=60)
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    make_listing("achievement", make_user("university"), reviewer=broker)
    runtime.find_matches(session, demand)
    client = redis.Redis.from_url(redis_url)
    qvecs = client.keys("techmatch:qvec:*")  # the text's and the title's
    (match,) = client.keys("techmatch:match:*")
    assert len(qvecs) == 2 and 0 < client.ttl(match) <= 60 and all(client.ttl(q) > 29 * 24 * 3600 for q in qvecs)
