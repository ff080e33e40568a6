"""Registration, sign-in and sessions through the real forms (CSRF on)."""
from __future__ import annotations

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
