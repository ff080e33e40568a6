"""Audit events recorded through the web, with the client address; the admin page filters them."""
from __future__ import annotations

import pytest

from sqlalchemy import select

from models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def _actions(session):
    session.expire_all()
    return [(e.action, e.actor_id, e.ip) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_sign_in_failed_sign_in_and_logout_everywhere_are_recorded_with_address(client, make_user, session):
    user = make_user("company")
    client.submit("/login", {"email": user.email, "password": "wrong-password"})
    client.submit("/login", {"email": user.email, "password": PASSWORD})
    client.submit("/account/logout-everywhere", {}, form_url="/account/security")
    assert _actions(session) == [("auth.login_failed", user.id, "127.0.0.1"), ("auth.login", user.id, "127.0.0.1"),
                                 ("auth.logout_everywhere", user.id, "127.0.0.1")]


def test_admin_browses_and_filters_the_log(client, make_user, login, session, zh):
    admin, other = make_user("admin"), make_user("company")
    client.submit("/login", {"email": other.email, "password": "wrong-password"})
    login(admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.count('class="audit-event"') == 2 and "wrong-password" not in page
    only_failed = client.get("/admin/audit?action=auth.login_failed").get_data(as_text=True)
    assert only_failed.count('class="audit-event"') == 1
    by_user = client.get(f"/admin/audit?actor={admin.email}").get_data(as_text=True)
    assert by_user.count('class="audit-event"') == 1 and 'data-action="auth.login"' in by_user
    future = client.get("/admin/audit?since=2999-01-01").get_data(as_text=True)
    assert future.count('class="audit-event"') == 0
    bad = client.get("/admin/audit?since=yesterday&actor=ghost@example.com")
    assert bad.status_code == 200
    assert zh("Dates look like 2026-01-31; the date filter was ignored.") in bad.get_data(as_text=True)
    assert zh("No user matches this id or e-mail.") in bad.get_data(as_text=True)


def test_only_admins_see_the_audit_log(client, login_as):
    login_as("broker")
    assert client.get("/admin/audit").status_code == 403


def test_application_logs_carry_no_passwords_or_contacts(client, make_user, make_listing, login, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    broker, owner = make_user("broker"), make_user("company")
    item = make_listing("demand", owner, reviewer=broker)
    client.submit("/login", {"email": owner.email, "password": "typed-wrong-secret"})
    login(broker)
    assert "canary.demand@example.com" in client.get(f"/demand/{item.id}").get_data(as_text=True)
    client.submit("/account/password", {"current": "typed-wrong-secret", "password": "new-secret-phrase-x",
                                        "confirm": "new-secret-phrase-x"}, form_url="/account/security")
    text = caplog.text
    for secret in ("typed-wrong-secret", "new-secret-phrase-x", PASSWORD, "canary.demand@example.com",
                   "13800000001"):
        assert secret not in text
