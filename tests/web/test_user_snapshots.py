"""Reading requests take the signed-in user from a snapshot in the shared cache (services/usercache.py); every
change to the user reaches the next request, and nothing secret is stored."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from services.cache import MemoryCache
from services.usercache import SNAPSHOT, UserSnapshots


@pytest.fixture
def snapshots(app) -> UserSnapshots:
    users = app.extensions["signed_in_users"]
    users.cache = MemoryCache(600)
    users.cache.shared = True  # as Redis would be: the test's commits and requests are all in this one process
    return users


@pytest.fixture
def user_queries(app):
    """The statements that read the users table, from here on."""
    seen: list[str] = []

    def listen(_conn, _cursor, statement, *_a):
        if "FROM users" in statement:
            seen.append(statement)

    engines = {app.extensions["db_engine"], app.extensions["db_write_engine"]}  # SQLite: writes have their own
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listen)
    yield seen
    for engine in engines:
        event.remove(engine, "before_cursor_execute", listen)


def _stored(users: UserSnapshots) -> list[dict]:
    return [json.loads(v.partition("\n")[2]) for k, (_t, v) in users.cache._items.items()
            if k.startswith("techmatch:user:v2:")]


def test_a_second_reading_request_reads_no_user_row_and_stores_nothing_secret(client, login_as, snapshots,
                                                                              user_queries):
    user = login_as("company")
    assert client.get("/demands/mine").status_code == 200
    first = len(user_queries)
    assert first >= 1
    assert client.get("/demands/mine").status_code == 200
    assert len(user_queries) == first, "the second page took the user from the snapshot"
    (snap,) = _stored(snapshots)
    assert set(snap) == set(SNAPSHOT) and snap["display_name"] == user.display_name
    assert not {"password_hash", "totp_secret", "email"} & set(snap)


def test_what_the_snapshot_lacks_is_loaded_when_a_page_needs_it(client, login_as, session, snapshots, zh):
    from models import User

    user = login_as("company")
    session.get(User, user.id).totp_secret = "JBSWY3DPEHPK3PXP"  # enrolled (set here, not through the form)
    session.commit()
    client.get("/account/security")
    page = client.get("/account/security")  # from the snapshot: totp_secret is loaded on access
    assert page.status_code == 200 and zh("Two-step sign-in is on for your account.") in page.get_data(as_text=True)


def test_deactivation_and_a_role_change_reach_the_next_request(client, login_as, make_user, session, snapshots):
    from models import User
    from services import accounts

    admin = make_user("admin")
    user = login_as("broker")
    assert client.get("/review/").status_code == 200
    assert client.get("/review/").status_code == 200  # served with the snapshot
    accounts.set_role(session, session.get(User, user.id), "company", actor=session.get(User, admin.id))
    session.commit()
    assert client.get("/review/").status_code == 302, "the role change ended the session at once"
    user = login_as("company")
    assert client.get("/demands/mine").status_code == 200
    accounts.set_active(session, session.get(User, user.id), False, actor=session.get(User, admin.id))
    session.commit()
    assert client.get("/demands/mine").status_code == 302


def test_a_changed_name_shows_on_the_next_page(client, login_as, session, snapshots):
    from models import User

    user = login_as("company")
    client.get("/demands/mine")
    session.get(User, user.id).display_name = "新名字有限公司联系人"
    session.commit()
    assert "新名字有限公司联系人" in client.get("/demands/mine").get_data(as_text=True)


def test_write_requests_read_the_row(client, login_as, snapshots, user_queries):
    login_as("company")
    client.get("/demands/mine")
    client.get("/demands/mine")
    before = len(user_queries)
    client.submit("/logout", {}, form_url="/demands/mine")
    assert len(user_queries) > before


def test_a_bump_lost_to_an_outage_turns_snapshots_off_in_this_process_until_it_is_made(
        client, login_as, session, snapshots, user_queries, monkeypatch):
    from models import User

    from services import usercache

    warnings: list[str] = []  # the module's logger itself (another test's logging set-up may disable caplog's)
    monkeypatch.setattr(usercache.log, "warning", lambda msg, *a: warnings.append(msg % a))
    user = login_as("company")
    client.get("/demands/mine")
    real_incr = snapshots.cache.incr
    snapshots.cache.incr = lambda _key: None  # the store does not answer the bump
    session.get(User, user.id).display_name = "停电期间改的名字"
    session.commit()
    assert snapshots.owed == {user.id}
    before = len(user_queries)
    assert "停电期间改的名字" in client.get("/demands/mine").get_data(as_text=True)
    assert len(user_queries) > before, "read from the database while the bump is owed"
    client.get("/demands/mine")  # tries to pay again, and fails again: no second warning
    assert len(warnings) == 1 and "could not bump 1 signed-in user" in warnings[0]
    snapshots.cache.incr = real_incr  # the store is back: the owed bump is made on the next request
    assert "停电期间改的名字" in client.get("/demands/mine").get_data(as_text=True)
    assert not snapshots.owed


def test_without_a_shared_store_every_request_reads_the_row(client, login_as, user_queries):
    login_as("company")
    client.get("/demands/mine")
    before = len(user_queries)
    client.get("/demands/mine")
    assert len(user_queries) > before


def test_a_session_ended_elsewhere_stays_ended_while_the_new_one_is_served_from_a_snapshot(app, client, make_user,
                                                                                          snapshots):
    from tests.conftest import PASSWORD, Client

    user = make_user("company")
    old = Client(app.test_client())
    for browser in (old, client):
        assert browser.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302
    assert old.get("/demands/mine").status_code == 200
    client.submit("/account/logout-everywhere", {}, form_url="/account/security")
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302
    assert client.get("/demands/mine").status_code == 200  # stores the new session's snapshot
    assert _stored(snapshots)[-1]["session_version"] == user.session_version + 1
    assert old.get("/demands/mine").status_code == 302, "the old cookie names the old session version"


def test_a_snapshot_not_signed_with_this_deployments_key_is_never_used(app, client, login_as, snapshots,
                                                                     user_queries):
    """Redis may be shared with another deployment, or written by someone without SECRET_KEY: a role read from it
    must carry this deployment's signature."""
    login_as("company")
    client.get("/demands/mine")
    (key,) = [k for k in snapshots.cache._items if k.startswith("techmatch:user:v2:")]
    expires, raw = snapshots.cache._items[key]
    head, _, body = raw.partition("\n")
    altered = json.loads(body)
    altered["role"] = "admin"
    snapshots.cache._items[key] = (expires, head + "\n" + json.dumps(altered))  # the old signature kept
    before = len(user_queries)
    assert client.get("/admin/users").status_code in (403, 404), "not an admin"
    assert len(user_queries) > before, "the altered snapshot was refused and the row read"
    assert _stored(snapshots)[-1]["role"] == "company"
