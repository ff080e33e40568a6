"""Optional TOTP second factor: enrolment, sign-in with a code, no replays, required roles."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.conftest import PASSWORD, Client


def _code(secret: str, offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset)


def _enrol(client) -> str:
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7]+)<', page).group(1)
    resp = client.submit("/account/two-factor", {"code": _code(secret)}, form_url="/account/two-factor")
    assert resp.status_code == 302
    return secret


def test_enrolled_user_needs_a_fresh_code_to_sign_in(app, login_as, client, session, zh):
    user = login_as("broker")
    secret = _enrol(client)
    other = Client(app.test_client())
    resp = other.submit("/login", {"email": user.email, "password": PASSWORD})
    assert resp.status_code == 302 and "/login/code" in resp.headers["Location"]
    assert "/login" in other.get("/review/").headers["Location"]  # not signed in yet
    wrong = other.submit("/login/code", {"code": "000000" if _code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert zh("This code is wrong or was already used. Enter the current code.") in wrong.get_data(as_text=True)
    code = _code(secret, 30)  # the next step's code: not used at enrolment
    assert other.submit("/login/code", {"code": code}).status_code == 302
    assert other.get("/review/").status_code == 200
    third = Client(app.test_client())
    third.submit("/login", {"email": user.email, "password": PASSWORD})
    assert third.submit("/login/code", {"code": code}).status_code == 200  # a used code is not accepted again


def test_code_page_without_a_password_step_sends_to_sign_in(client):
    assert "/login" in client.get("/login/code").headers["Location"]


def test_wrong_enrolment_code_is_explained(login_as, client, zh):
    login_as("company")
    client.get("/account/two-factor")
    resp = client.submit("/account/two-factor", {"code": "12345"}, form_url="/account/two-factor")
    assert resp.status_code == 422
    assert zh("Enter the six digits your authenticator app shows.") in resp.get_data(as_text=True)


@pytest.mark.parametrize("role,forced", [("broker", True), ("admin", True), ("company", False)])
def test_required_roles_must_enrol_before_anything_else(app, login_as, client, role, forced):
    app.config["TOTP_REQUIRED_ROLES"] = "broker,admin"
    login_as(role)
    resp = client.get("/introductions/")
    assert (resp.status_code == 302 and "/account/two-factor" in resp.headers["Location"]) == forced
    if forced:
        _enrol(client)
        assert client.get("/introductions/").status_code == 200
