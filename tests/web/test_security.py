"""Hardening through the test client: headers, cookies, sessions, throttling, passwords, redirects."""
from __future__ import annotations

import time

import pytest

from tests.conftest import CSRF_RE, PASSWORD, Client

NEW_PASSWORD = "a brand new passphrase"


def _login(client, user, password=PASSWORD):
    return client.submit("/login", {"email": user.email, "password": password})


@pytest.mark.parametrize("url", ["/", "/login", "/no-such-page", "/static/css/app.css", "/search/demand"])
def test_security_headers_on_every_response(client, url):
    resp = client.get(url)
    resp.close()
    csp = resp.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert part in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in resp.headers


def test_hsts_only_over_https(client):
    resp = client.get("/", base_url="https://localhost")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_templates_have_no_inline_script_or_style_the_csp_would_block():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8").lower()
        for bad in ("<script>", "<style", " style=", "onclick=", "onsubmit=", "onchange=", "javascript:"):
            assert bad not in text, (path.name, bad)


def _session_cookie(resp) -> str:
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_session_cookie_flags(client, make_user):
    resp = _login(client, make_user("company"))
    cookie = _session_cookie(resp)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = Client(client.c.application.test_client())
    https.c.get("/login", base_url="https://localhost")
    page = https.c.get("/login", base_url="https://localhost").get_data(as_text=True)
    user = make_user("company")
    resp = https.c.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                        data={"email": user.email, "password": PASSWORD, "csrf_token": CSRF_RE.search(page).group(1)})
    assert resp.status_code == 302 and "Secure" in _session_cookie(resp)


def test_sign_in_starts_a_new_session(client, make_user):
    client.get("/login")
    with client.c.session_transaction() as s:
        s["planted"] = "by an attacker"
    _login(client, make_user("company"))
    with client.c.session_transaction() as s:
        assert "planted" not in s and "_user_id" in s


def test_logout_everywhere_ends_other_sessions(app, make_user):
    user = make_user("company")
    a, b = Client(app.test_client()), Client(app.test_client())
    _login(a, user), _login(b, user)
    assert b.get("/dashboard").status_code == 302 and "/demands/mine" in b.get("/dashboard").headers["Location"]
    resp = a.submit("/account/logout-everywhere", {}, form_url="/account/security")
    assert resp.status_code == 302
    assert "/login" in b.get("/dashboard").headers["Location"]
    assert "/login" in a.get("/dashboard").headers["Location"]


def test_password_change_ends_other_sessions_keeps_this_one(app, make_user, zh):
    user = make_user("company")
    a, b = Client(app.test_client()), Client(app.test_client())
    _login(a, user), _login(b, user)
    resp = a.submit("/account/password", {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                    form_url="/account/security")
    assert resp.status_code == 302
    assert "/demands/mine" in a.get("/dashboard").headers["Location"]
    assert "/login" in b.get("/dashboard").headers["Location"]
    c = Client(app.test_client())
    assert _login(c, user).status_code == 200  # the old password no longer works
    assert _login(c, user, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("data,message", [
    ({"current": "wrong-password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "The current password is wrong."),
    ({"current": PASSWORD, "password": "password1234", "confirm": "password1234"},
     "This password is too common or too easy to guess. Choose another, e.g. a phrase of several words."),
    ({"current": PASSWORD, "password": "short", "confirm": "short"}, "Use a password of at least %(n)s characters."),
    ({"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "something else"}, "The two new passwords differ."),
])
def test_password_change_refusals_are_explained(client, login_as, zh, data, message):
    login_as("company")
    resp = client.submit("/account/password", data, form_url="/account/security")
    kw = {"n": 10} if "%(n)s" in message else {}
    assert resp.status_code == 422 and zh(message, **kw) in resp.get_data(as_text=True)


def test_registration_refuses_common_passwords(client, zh):
    from tests.web.test_auth import REGISTER
    page = client.submit("/register", dict(REGISTER, password="qwertyuiop")).get_data(as_text=True)
    assert zh("This password is too common or too easy to guess. Choose another, e.g. a phrase of several words.") \
        in page


def test_no_composition_rules(client):
    from tests.web.test_auth import REGISTER
    resp = client.submit("/register", dict(REGISTER, password="all lower case words"))
    assert resp.status_code == 302


def test_idle_session_times_out(client, login_as, zh):
    login_as("company")
    with client.c.session_transaction() as s:
        s["seen_at"] = time.time() - 121 * 60
    resp = client.get("/demands/mine")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_absolute_session_timeout(client, login_as):
    login_as("company")
    with client.c.session_transaction() as s:
        s["auth_at"] = time.time() - 12 * 3600 - 5
    assert "/login" in client.get("/demands/mine").headers["Location"]


def test_active_session_stays(client, login_as):
    login_as("company")
    with client.c.session_transaction() as s:
        s["seen_at"] = time.time() - 60 * 60
    assert client.get("/demands/mine").status_code == 200


class _Clock:
    """time for the rate limiter's memory storage, moved forward by hand: the window's end is reached by moving
    the clock, not by sleeping (a slow machine's three password checks can outlast a window of seconds)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_failed_sign_ins_are_throttled_per_account_with_retry_after(app, client, make_user, zh, monkeypatch):
    import limits.storage.memory

    clock = _Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    app.config["LOGIN_LIMIT_ACCOUNT"] = "3 per 10 minutes"
    user, other = make_user("company"), make_user("company")
    for _ in range(3):
        assert _login(client, user, "wrong-password").status_code == 200
    resp = _login(client, user)  # even the right password waits until the window ends
    assert resp.status_code == 429 and 1 <= int(resp.headers["Retry-After"]) <= 601
    assert zh("Too many attempts. Wait %(n)s seconds and try again.", n=resp.headers["Retry-After"]) \
        in resp.get_data(as_text=True)
    assert _login(client, other).status_code == 302  # another account from the same address is not blocked
    clock.offset = 601.0
    assert _login(client, user).status_code == 302  # no permanent lockout


def test_sign_ins_are_throttled_per_address(app, client, make_user):
    app.config["LOGIN_LIMIT_ADDRESS"] = "4 per minute"
    for n in range(4):
        assert client.submit("/login", {"email": f"x{n}@example.com", "password": "whatever-pw"}).status_code == 200
    assert client.submit("/login", {"email": "y@example.com", "password": "whatever-pw"}).status_code == 429
    other_address = app.test_client()
    page = other_address.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.9"}).get_data(as_text=True)
    resp = other_address.post("/login", environ_base={"REMOTE_ADDR": "10.0.0.9"}, data={
        "email": "z@example.com", "password": "whatever-pw", "csrf_token": CSRF_RE.search(page).group(1)})
    assert resp.status_code == 200


def test_registration_is_throttled_per_address(app, client):
    from tests.web.test_auth import REGISTER
    app.config["REGISTER_LIMIT_ADDRESS"] = "2 per minute"
    client.submit("/register", dict(REGISTER, email="bad"))
    client.submit("/register", dict(REGISTER, email="bad2"))
    assert client.submit("/register", REGISTER).status_code == 429


@pytest.mark.parametrize("target,expected", [
    ("/demands/mine", "/demands/mine"), ("https://evil.example/", None), ("//evil.example", None),
    ("/\t/evil.example", None), ("/\\evil.example", None), ("javascript:alert(1)", None), ("", None),
    ("/%0a/evil.example", "/%0a/evil.example"),
])
def test_next_targets_are_allowlisted(target, expected):
    from web.auth import safe_next
    assert safe_next(target) == expected


def _failed_login(application, forwarded_for: str):
    c = application.test_client()
    env = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": forwarded_for}
    page = c.get("/login", environ_base=env).get_data(as_text=True)
    return c.post("/login", environ_base=env, data={"email": "nobody@example.com", "password": "whatever-pw",
                                                   "csrf_token": CSRF_RE.search(page).group(1)})


@pytest.mark.parametrize("proxies", [0, 1])
def test_behind_a_trusted_proxy_the_limit_counts_the_forwarded_client(tmp_path, database_url, proxies):
    """TRUSTED_PROXIES=1 (one nginx): X-Forwarded-For names the client; 0: the header is ignored, so a client
    cannot dodge the per-address limit by sending it."""
    from app import create_app
    from tests.conftest import app_config, dispose_app

    application = create_app(app_config(tmp_path, database_url, TRUSTED_PROXIES=proxies,
                                        LOGIN_LIMIT_ADDRESS="2 per minute"))
    try:
        codes = [_failed_login(application, "203.0.113.7").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        other = _failed_login(application, "198.51.100.4").status_code
        assert other == (200 if proxies else 429)
    finally:
        dispose_app(application)


def _no_store(resp) -> bool:
    resp.close()
    return resp.headers.get("Cache-Control") == "no-store"


@pytest.mark.model  # publishes listings or shows the statistics page: the index (the embedding model)
def test_a_listing_page_with_contacts_is_not_cached_one_without_may_be(client, make_user, make_listing, login):
    owner, broker = make_user("company"), make_user("broker")
    item = make_listing("demand", owner, reviewer=broker)
    assert not _no_store(client.get(f"/demand/{item.id}"))  # anonymous: no contacts
    login(broker)
    resp = client.get(f"/demand/{item.id}")
    assert "canary.demand@example.com" in resp.get_data(as_text=True) and _no_store(resp)


@pytest.mark.parametrize("url", ["/introductions/", "/export/mine.csv", "/export/mine.xlsx", "/account/security",
                                 "/account/tokens"])
def test_pages_and_exports_with_contacts_or_account_data_are_not_cached(client, login_as, url):
    login_as("company")
    resp = client.get(url)
    assert resp.status_code == 200 and _no_store(resp)


@pytest.mark.model  # publishes listings or shows the statistics page: the index (the embedding model)
def test_every_download_is_not_cached(client, make_user, make_listing):
    make_listing("demand", make_user("company"), reviewer=make_user("broker"))
    resp = client.get("/export/search/demand.csv")
    assert resp.status_code == 200 and _no_store(resp)


def test_public_pages_stay_cacheable(client):
    assert not _no_store(client.get("/"))
    assert not _no_store(client.get("/search/demand"))


def test_a_failed_sign_in_that_fills_the_window_keeps_its_audit_record(app, client, make_user, session, monkeypatch):
    """Two attempts racing at the limit: both passed allowed(), the second one's hit() overflows. Its 429 is an
    answer, not an error, so the unit still commits the failed attempt's audit record."""
    from sqlalchemy import select

    from models import AuditEvent
    from web import security

    app.config["LOGIN_LIMIT_ACCOUNT"] = "1 per minute"
    user = make_user("company")
    throttle = security.throttle
    monkeypatch.setattr(security, "throttle", lambda: _AlwaysAllowed(throttle()))
    assert _login(client, user, "wrong-password").status_code == 200
    assert _login(client, user, "wrong-password").status_code == 429
    session.expire_all()
    actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.actor_id == user.id))]
    assert actions == ["auth.login_failed", "auth.login_failed"]


class _AlwaysAllowed:
    """A throttle whose allowed() lost the race: it always says yes; hit() counts as the real one does."""

    def __init__(self, real):
        self.real = real

    def allowed(self, name, key):
        return True

    def __getattr__(self, name):
        return getattr(self.real, name)
