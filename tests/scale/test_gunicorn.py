"""Several gunicorn workers share sessions, rate-limit counters, the match cache and the index."""
from __future__ import annotations

import time

import redis

from tests.conftest import PASSWORD

NEW_TITLE = "固态电池高镍正极界面稳定化包覆工艺"


def test_a_session_signed_in_on_one_worker_is_valid_on_every_worker(start_site, make_user):
    user = make_user("company")
    site = start_site(workers=2)
    client = site.client()
    assert site.login(client, user.email).status_code == 302
    answers = site.many(lambda _: site.get(client, "/demands/mine").status_code, 24)
    answers += site.until_workers(lambda _: site.get(client, "/demands/mine").status_code)
    assert set(answers) == {200}, answers
    assert len(site.pids()) >= 2, "the requests should have been answered by both workers"
    key = (site.instance / "secret_key").read_text()
    assert len(key) == 64 and sorted(p.name for p in site.instance.iterdir()) == ["secret_key"]


def test_failed_sign_ins_are_counted_once_across_workers(start_site, make_user):
    user = make_user("company")
    site = start_site(workers=2, LOGIN_LIMIT_ACCOUNT="6 per 15 minutes", LOGIN_LIMIT_ADDRESS="1000 per 10 minutes")

    def attempt(password: str) -> int:
        return site.login(site.client(), user.email, password).status_code

    failed = site.many(lambda _: attempt("wrong-password-123"), 6)
    assert failed == [200] * 6  # the form again, with its error
    # in one shared window every worker now refuses, even the right password
    refused = site.many(lambda _: attempt(PASSWORD), 6)
    refused += site.until_workers(lambda _: attempt(PASSWORD))
    assert set(refused) == {429}, refused
    assert len(site.pids()) >= 2


def test_redis_outage_falls_back_to_per_worker_counting_and_recovers(start_site, make_user, redis_server, redis_url):
    user = make_user("company")
    other = make_user("company")
    site = start_site(workers=2, LOGIN_LIMIT_ACCOUNT="3 per 15 minutes", LOGIN_LIMIT_ADDRESS="1000 per 10 minutes")
    redis_server.stop()
    client = site.client()
    assert site.login(client, user.email).status_code == 302  # signing in works without Redis
    assert site.many(lambda _: site.get(client, "/demands/mine").status_code, 8) == [200] * 8
    codes = site.many(lambda _: site.login(site.client(), other.email, "wrong-password-123").status_code, 10)
    assert 500 not in codes
    assert 429 in codes, "without Redis each worker still counts: the limit never fails open"
    redis_server.start()
    time.sleep(1.5)  # RATELIMIT_FALLBACK_SECONDS=1: the shared store is tried again
    r = redis.Redis.from_url(redis_url)
    assert not r.keys("*login_account*")
    assert site.login(site.client(), user.email, "wrong-password-123").status_code == 200
    assert r.keys("*login_account*"), "counting is back in Redis"


def test_a_published_listing_reaches_every_worker_and_the_cache_follows_the_index(
        start_site, make_user, make_listing, redis_url):
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    make_listing("achievement", make_user("university"), reviewer=broker)
    site = start_site(workers=2)
    client = site.client()
    assert site.login(client, broker.email).status_code == 302
    path = f"/matches/demand/{demand.id}"
    before = site.many(lambda _: site.get(client, path), 12)
    assert [r.status_code for r in before] == [200] * 12
    assert not any(NEW_TITLE in r.text for r in before)  # (the page marks shared terms inside titles)
    cache = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1")
    keys_before = set(cache.keys("techmatch:match:*"))
    assert keys_before, "match results are cached in Redis"

    new = make_listing("achievement", make_user("university"), reviewer=broker, title=NEW_TITLE)  # indexed inline
    link = f'href="/achievement/{new.id}"'

    after = site.many(lambda _: site.get(client, path), 12)
    after += site.until_workers(lambda _: site.get(client, path))
    assert {r.status_code for r in after} == {200}
    assert all(link in r.text for r in after), "every worker reloaded the index (manifest changed)"
    assert set(cache.keys("techmatch:match:*")) - keys_before, "a new index stamp means a new cache key"
    assert len(site.pids()) >= 2


def test_a_user_deactivated_in_another_process_is_signed_out_on_every_worker(
        app, start_site, make_user, session, redis_url):
    """Reading requests take the user from a snapshot in Redis (services/usercache.py); a change committed by
    any process sharing CACHE_URL (here: this test's, as a CLI command or job worker would) ends it."""
    from models import User
    from services import accounts
    from services.cache import build_cache

    cache_url = redis_url.rsplit("/", 1)[0] + "/1"
    app.extensions["signed_in_users"].cache = build_cache(cache_url)
    user, admin = make_user("company"), make_user("admin")
    site = start_site(workers=2)
    client = site.client()
    assert site.login(client, user.email).status_code == 302
    assert site.many(lambda _: site.get(client, "/demands/mine").status_code, 12) == [200] * 12
    assert redis.Redis.from_url(cache_url).keys("techmatch:user:v2:*"), "the workers keep user snapshots"
    accounts.set_active(session, session.get(User, user.id), False, actor=session.get(User, admin.id))
    session.commit()
    signed_out = site.many(lambda _: site.get(client, "/demands/mine").status_code, 12)
    signed_out += site.until_workers(lambda _: site.get(client, "/demands/mine").status_code)
    assert set(signed_out) == {302}, signed_out
    assert len(site.pids()) >= 2
