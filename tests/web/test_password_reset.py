"""Forgotten password: an e-mailed link that works once, expires, is throttled and audited, answers the same for
unknown addresses, stores only a hash, and ends every session of the account (real forms, CSRF on)."""
from __future__ import annotations

import email
import hashlib
import re
from datetime import timedelta
from email import policy as email_policy
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import CSRF_RE, PASSWORD, Client

NEW_PASSWORD = "seven quiet lanterns drifting"
LINK_RE = re.compile(r"https?://\S+/password/reset/(\S+)")


def _mails(app) -> list:
    folder = Path(app.config["MAIL_DIR"])
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in files]


def _ask(client, address: str):
    return client.submit("/password/forgot", {"email": address})


def _link(app, to: str) -> str:
    """The path of the reset link in the newest mail to this address."""
    mails = [m for m in _mails(app) if m["To"] == to]
    assert mails, f"no mail to {to}"
    found = LINK_RE.search(mails[-1].get_body(("plain",)).get_content())
    assert found
    return "/password/reset/" + found.group(1)


def _reset(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.submit(link, {"password": password, "confirm": password if confirm is None else confirm})


def _sign_in(app, user, password: str):
    browser = Client(app.test_client())
    return browser, browser.submit("/login", {"email": user.email, "password": password})


def _events(session, action: str) -> list:
    from models import AuditEvent
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_sign_in_page_links_to_the_forgotten_password_form(client, zh):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and zh("Forgot password?") in page
    assert CSRF_RE.search(client.get("/password/forgot").get_data(as_text=True))


def test_a_mailed_link_sets_a_new_password_and_ends_every_session(app, client, make_user, session):
    user = make_user("company")
    elsewhere, resp = _sign_in(app, user, PASSWORD)
    assert resp.status_code == 302 and elsewhere.get("/demands/mine").status_code == 200
    resp = _ask(client, user.email.upper())  # typed in capitals: the same account
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/password/forgot")
    link = _link(app, user.email)
    form = client.get(link)
    assert form.status_code == 200 and CSRF_RE.search(form.get_data(as_text=True))
    resp = _reset(client, link)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert elsewhere.get("/demands/mine").status_code == 302, "the other browser was signed out"
    assert _sign_in(app, user, PASSWORD)[1].status_code == 200, "the old password no longer works"
    assert _sign_in(app, user, NEW_PASSWORD)[1].status_code == 302
    (done,) = _events(session, "auth.password_reset")
    assert done.actor_id == user.id and done.target == f"user:{user.id}"


def test_the_mail_is_in_the_users_language_and_says_how_long_the_link_works(app, client, make_user, session, zh):
    from models import User
    user = make_user("company")
    _ask(client, user.email)
    (mail,) = _mails(app)
    body = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == zh("[TechMatch] Choose a new password")
    assert zh("Someone, hopefully you, asked to choose a new password for your TechMatch account. Open this link "
              "within %(n)s minutes; it works once:", n=60) in body
    session.get(User, user.id).locale = "en"
    session.commit()
    _ask(client, user.email)
    assert _mails(app)[-1]["Subject"] == "[TechMatch] Choose a new password"


def test_the_link_works_once(app, client, make_user, session, zh):
    user = make_user("company")
    _ask(client, user.email)
    link = _link(app, user.email)
    assert _reset(client, link).status_code == 302
    again = client.get(link)
    assert again.status_code == 302 and again.headers["Location"].endswith("/password/forgot")
    page = client.get("/password/forgot").get_data(as_text=True)
    assert zh("This link is not valid: it was already used, has expired or was copied incompletely. Ask for a "
              "new one.") in page
    # a POST with the used link (the form was kept open in another tab) changes nothing
    resp = client.post(link, data={"password": "another fine passphrase", "confirm": "another fine passphrase",
                                    "csrf_token": CSRF_RE.search(page).group(1)})
    assert resp.status_code == 302
    assert _sign_in(app, user, NEW_PASSWORD)[1].status_code == 302
    (refused,) = _events(session, "auth.password_reset_failed")
    assert refused.detail == {"reason": "used"} and refused.target == f"user:{user.id}"


def test_an_earlier_link_is_used_up_by_a_later_reset(app, client, make_user):
    user = make_user("company")
    _ask(client, user.email)
    first = _link(app, user.email)
    _ask(client, user.email)
    second = _link(app, user.email)
    assert first != second
    assert _reset(client, second).status_code == 302
    assert client.get(first).headers["Location"].endswith("/password/forgot")


def test_the_link_expires(app, client, make_user, session):
    from models import PasswordReset, utcnow
    user = make_user("company")
    _ask(client, user.email)
    link = _link(app, user.email)
    reset = session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert timedelta(minutes=59) < reset.expires_at - reset.created_at <= timedelta(minutes=60)
    reset.expires_at = utcnow() - timedelta(seconds=1)  # an hour has passed
    session.commit()
    assert client.get(link).headers["Location"].endswith("/password/forgot")
    assert _sign_in(app, user, PASSWORD)[1].status_code == 302, "the password is unchanged"


def test_the_lifetime_is_a_setting(monkeypatch):
    from config import Config
    assert Config().PASSWORD_RESET_TTL_MINUTES == 60
    monkeypatch.setenv("PASSWORD_RESET_TTL_MINUTES", "15")
    assert Config().PASSWORD_RESET_TTL_MINUTES == 15


def test_only_a_hash_of_the_link_is_stored(app, client, make_user, session):
    from models import PasswordReset
    user = make_user("company")
    _ask(client, user.email)
    token = _link(app, user.email).rsplit("/", 1)[1]
    (reset,) = session.scalars(select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert reset.token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = session.execute(select(PasswordReset.__table__)).one()
    assert not any(token in str(value) for value in row), "the token itself is nowhere in the row"


def _answer_page(client, resp) -> str:
    """What the browser shows after the request: the page it is sent to, flashed message included."""
    assert resp.status_code == 302
    return CSRF_RE.sub("", client.get(resp.headers["Location"]).get_data(as_text=True))


def test_unknown_and_known_addresses_get_the_same_answer(app, make_user, session, zh):
    user = make_user("company")
    known, unknown = Client(app.test_client()), Client(app.test_client())
    r_known, r_unknown = _ask(known, user.email), _ask(unknown, "nobody.here@example.com")
    assert r_known.headers["Location"] == r_unknown.headers["Location"]
    assert _answer_page(known, r_known) == _answer_page(unknown, r_unknown)
    assert [m["To"] for m in _mails(app)] == [user.email]
    asked = _events(session, "auth.password_reset_requested")
    assert [e.detail for e in asked] == [{"known": True}, {"known": False}]
    assert asked[1].target.startswith("email:") and "nobody" not in asked[1].target


def test_a_deactivated_account_gets_no_link(app, client, make_user, session):
    from models import User
    from services import accounts
    admin, user = make_user("admin"), make_user("company")
    accounts.set_active(session, session.get(User, user.id), False, actor=session.get(User, admin.id))
    session.commit()
    assert _ask(client, user.email).status_code == 302
    assert _mails(app) == []


def test_requests_are_throttled_per_address_known_or_not(app, make_user):
    user = make_user("company")
    for address in (user.email, "nobody.here@example.com"):
        browser = Client(app.test_client())
        for _ in range(3):  # RESET_LIMIT_ACCOUNT: 3 per hour
            assert _ask(browser, address).status_code == 302
        resp = _ask(browser, address)
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert len(_mails(app)) == 3


def test_requests_are_throttled_per_client_address(app, client):
    app.config["RESET_LIMIT_ADDRESS"] = "4 per hour"
    for n in range(4):
        assert _ask(client, f"person{n}@example.com").status_code == 302
    assert _ask(client, "person9@example.com").status_code == 429


def test_the_reset_form_explains_refusals(app, client, make_user, zh):
    user = make_user("company")
    _ask(client, user.email)
    link = _link(app, user.email)
    resp = _reset(client, link, "bbbbbbbbbb")
    assert resp.status_code == 422 and zh("This password is too common or too easy to guess. Choose another, "
                                          "e.g. a phrase of several words.") in resp.get_data(as_text=True)
    resp = _reset(client, link, NEW_PASSWORD, "something else entirely")
    assert resp.status_code == 422 and zh("The two new passwords differ.") in resp.get_data(as_text=True)
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 400  # no CSRF
    assert _reset(client, link).status_code == 302, "the refusals did not use the link up"


def test_the_reset_form_in_english(app, client, make_user):
    user = make_user("company")
    client.submit("/lang/en", {"next": "/password/forgot"}, form_url="/password/forgot")
    page = _answer_page(client, _ask(client, user.email))
    assert "If an account uses this e-mail address, a link to choose a new password is on its way" in page
    resp = _reset(client, _link(app, user.email), "a1a1a1a1a1")
    assert resp.status_code == 422 and "too easy to guess" in resp.get_data(as_text=True)


def test_the_reset_page_is_not_cached_and_sends_no_referrer(app, client, make_user):
    user = make_user("company")
    _ask(client, user.email)
    resp = client.get(_link(app, user.email))
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 500])
def test_a_made_up_link_is_refused_without_an_error(client, token):
    resp = client.get(f"/password/reset/{token}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/password/forgot")


def test_a_mail_server_outage_is_not_an_error_page(app, client, make_user):
    class Down:
        def send(self, message):
            raise ConnectionRefusedError("mail server down")

    app.extensions["job_context"].provide(mailer=Down())
    user = make_user("company")
    resp = _ask(client, user.email)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/password/forgot")
