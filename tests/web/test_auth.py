"""Registration, sign-in and sessions through the real forms (CSRF on)."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

REGISTER = {"role": "company", "org_name": "西安测试科技有限公司", "credit_code": "", "region": "shaanxi",
            "industry": "new_energy", "display_name": "张三", "email": "zhang@example.com",
            "password": "a-long-password"}


def test_company_registers_and_lands_on_its_demands(client):
    resp = client.submit("/register", REGISTER)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").headers["Location"].endswith("/demands/mine")


def test_register_errors_keep_what_was_typed(client, zh):
    bad = dict(REGISTER, email="not-an-email", password="short", credit_code="123")
    page = client.submit("/register", bad).get_data(as_text=True)
    assert zh("Enter a valid e-mail address, like name@example.com.") in page
    assert "西安测试科技有限公司" in page and "张三" in page
    assert page.count('class="error"') >= 3


def test_register_in_english_gives_english_messages(client):
    client.submit("/lang/en", {"next": "/register"}, form_url="/register")
    page = client.submit("/register", dict(REGISTER, email="bad")).get_data(as_text=True)
    assert "Enter a valid e-mail address" in page


def test_duplicate_email_is_refused(client, make_user, zh):
    make_user("company", email="zhang@example.com")
    page = client.submit("/register", REGISTER).get_data(as_text=True)
    assert "zhang@example.com" in page
    assert zh("This e-mail is already registered. Sign in, or use another address.") in page


def test_brokers_cannot_self_register(client):
    resp = client.submit("/register", dict(REGISTER, role="broker"))
    assert resp.status_code == 200


def test_wrong_password_is_refused(client, make_user):
    user = make_user("company")
    resp = client.submit("/login", {"email": user.email, "password": "wrong-password"})
    assert resp.status_code == 200 and client.get("/dashboard").status_code == 302


def test_post_without_csrf_is_refused(client, make_user):
    user = make_user("company")
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 400


def test_next_only_follows_local_paths(client, make_user):
    user = make_user("company")
    resp = client.submit("/login?next=https://evil.example.com/", {"email": user.email, "password": PASSWORD})
    assert resp.headers["Location"].endswith("/dashboard")


def test_next_local_path_is_followed(client, make_user):
    user = make_user("company")
    resp = client.submit("/login?next=/demands/new", {"email": user.email, "password": PASSWORD})
    assert resp.headers["Location"].endswith("/demands/new")


def test_deactivation_ends_the_session(client, login_as, session):
    from services import accounts
    user = login_as("company")
    assert client.get("/demands/mine").status_code == 200
    admin = accounts.create_user(session, email="root@example.com", password=PASSWORD, display_name="root",
                                 role="admin")
    accounts.set_active(session, session.merge(user), False, actor=admin)
    session.commit()
    assert client.get("/demands/mine").status_code == 302


def test_logout(client, login_as):
    login_as("company")
    client.submit("/logout", {}, form_url="/demands/mine")
    assert client.get("/demands/mine").status_code == 302


# --- signing out ends the session on the server (issue 18) -------------------------------------------------

def _replay(app, cookie):
    """A second browser holding a copy of a session cookie (as an attacker who copied it would)."""
    from tests.conftest import Client
    other = Client(app.test_client())
    other.c.set_cookie("session", cookie.value, domain=cookie.domain or "localhost")
    return other


def _token_rows(session, user):
    from sqlalchemy import select

    from models import ApiToken
    session.expire_all()
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))


def _shared_snapshots(app):
    from services.cache import MemoryCache
    users = app.extensions["signed_in_users"]
    users.cache = MemoryCache(600)
    users.cache.shared = True  # as Redis would be: reading requests take the user from a snapshot
    return users


@pytest.mark.parametrize("snapshots", [False, True], ids=["database", "snapshot"])
def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, client, login_as, session, snapshots):
    if snapshots:
        _shared_snapshots(app)
    user = login_as("company")
    assert client.get("/account/security").status_code == 200
    assert client.get("/account/security").status_code == 200  # with snapshots: served from the cached one
    copied = client.c.get_cookie("session")
    client.submit("/logout", {}, form_url="/account/security")
    thief = _replay(app, copied)
    resp = thief.get("/account/security")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    # a form page gives the copied session's CSRF token back, so the POST below is a well-formed one
    resp = thief.submit("/account/tokens", {"name": "stolen"}, form_url="/login")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert _token_rows(session, user) == []


def test_signing_out_in_one_browser_keeps_the_others(app, client, make_user):
    from tests.conftest import Client
    user = make_user("company")
    other = Client(app.test_client())
    for browser in (client, other):
        assert browser.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302
    client.submit("/logout", {}, form_url="/demands/mine")
    assert client.get("/demands/mine").status_code == 302
    assert other.get("/demands/mine").status_code == 200


def test_a_cookie_of_a_password_change_is_not_revived(app, client, login_as):
    """Changing the password ends every session, this browser's old cookie too: only the new one works."""
    login_as("company")
    before = client.c.get_cookie("session")
    resp = client.submit("/account/password", {"current": PASSWORD, "password": "a brand new passphrase",
                                                "confirm": "a brand new passphrase"}, form_url="/account/security")
    assert resp.status_code == 302
    assert client.get("/account/security").status_code == 200
    assert _replay(app, before).get("/account/security").status_code == 302


def test_a_session_id_without_a_server_side_session_is_refused(app, client, make_user):
    """A cookie naming the user and version but no live session (e.g. from before sessions were kept) is out."""
    user = make_user("company")
    with client.c.session_transaction() as s:
        s["_user_id"], s["_fresh"] = f"{user.id}:{user.session_version}:made-up-token", True
        s["auth_at"] = s["seen_at"] = __import__("time").time()
    assert client.get("/account/security").status_code == 302


# --- registration never joins an existing organisation (issue 18) -------------------------------------------

@pytest.mark.model  # publishes listings or shows the statistics page: the index (the embedding model)
def test_registering_with_an_existing_organisations_name_creates_a_new_unverified_one(client, make_user,
                                                                                        make_listing, session):
    from models import Organisation, User
    from services import accounts
    owner = make_user("company", org=REGISTER["org_name"])
    org = session.get(Organisation, owner.organisation_id)
    org.credit_code, org.verified = "91610000MA6TG1234X", True
    session.commit()
    draft = make_listing("demand", owner, status="draft", title="秦川电池内部草稿：固态电解质")
    resp = client.submit("/register", dict(REGISTER, credit_code="91610000MA6TG1234X"))
    assert resp.status_code == 302
    session.expire_all()
    newcomer = accounts.get_user_by_email(session, REGISTER["email"])
    assert newcomer.organisation_id != owner.organisation_id
    assert newcomer.organisation.name == REGISTER["org_name"] and newcomer.organisation.verified is False
    page = client.get("/demands/mine").get_data(as_text=True)
    assert "固态电解质" not in page
    assert client.get(f"/demands/{draft.id}/edit").status_code in (403, 404)
    assert client.get(f"/demand/{draft.id}").status_code in (403, 404)
    edit = client.submit(f"/demands/{draft.id}/edit", {"title": "被篡改"}, form_url="/demands/new")
    assert edit.status_code in (403, 404)
    session.expire_all()
    org = session.get(Organisation, owner.organisation_id)
    assert org.verified is True and [u.id for u in org.users] == [owner.id]
    assert session.get(type(draft), draft.id).title == "秦川电池内部草稿：固态电解质"
    assert session.get(User, owner.id).organisation_id == org.id


# --- password strength (issue 18) ----------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["bbbbbbbbbb", "a1a1a1a1a1"])
def test_registration_refuses_easily_guessed_passwords_in_chinese(client, zh, weak):
    page = client.submit("/register", dict(REGISTER, password=weak))
    assert page.status_code == 200 and client.get("/dashboard").status_code == 302
    assert zh("This password is too common or too easy to guess. Choose another, e.g. a phrase of several words.") \
        in page.get_data(as_text=True)


@pytest.mark.parametrize("weak", ["bbbbbbbbbb", "a1a1a1a1a1"])
def test_password_change_refuses_easily_guessed_passwords_in_english(client, login_as, weak):
    login_as("company")
    client.submit("/lang/en", {"next": "/account/security"}, form_url="/account/security")
    resp = client.submit("/account/password", {"current": PASSWORD, "password": weak, "confirm": weak},
                         form_url="/account/security")
    assert resp.status_code == 422
    assert "This password is too common or too easy to guess" in resp.get_data(as_text=True)


def test_admin_created_accounts_get_the_same_password_check(client, login_as, session, zh):
    from services import accounts
    login_as("admin")
    resp = client.submit("/admin/users/new", {"email": "new.broker@example.com", "display_name": "新经纪人",
                                              "role": "broker", "password": "a1a1a1a1a1"}, form_url="/admin/users")
    assert resp.status_code == 422
    assert zh("This password is too common or too easy to guess. Choose another, e.g. a phrase of several words.") \
        in resp.get_data(as_text=True)
    assert accounts.get_user_by_email(session, "new.broker@example.com") is None
