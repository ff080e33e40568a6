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


def _events(session, action):
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_privileged_changes_are_recorded(client, make_user, login, session):
    admin, target = make_user("admin"), make_user("company")
    login(admin)
    client.submit("/admin/users/new", {"email": "b9@example.com", "display_name": "经纪人九", "role": "broker",
                                       "password": "long-enough-pw"}, form_url="/admin/users")
    client.submit(f"/admin/users/{target.id}/role", {"role": "broker"}, form_url="/admin/users")
    client.submit("/admin/fields/new", {"code": "new_energy.tidal", "name_zh": "潮汐能", "name_en": "Tidal",
                                        "parent_code": "new_energy", "active": "y"})
    from models import Field
    field = session.scalar(select(Field).where(Field.code == "new_energy.tidal"))
    client.submit(f"/admin/fields/{field.id}/edit", {"code": "new_energy.tidal", "name_zh": "潮汐发电",
                                                     "name_en": "Tidal", "parent_code": "new_energy"})
    created = _events(session, "user.created")
    assert [(e.actor_id, e.detail) for e in created] == [(admin.id, {"role": "broker"})]
    assert "b9@example.com" not in str(created[0].detail) and created[0].target.startswith("user:")
    assert [(e.actor_id, e.target) for e in _events(session, "user.role_changed")] == [(admin.id, f"user:{target.id}")]
    added = _events(session, "taxonomy.field_created")
    assert [(e.actor_id, e.target, e.detail["name_zh"]) for e in added] == [(admin.id, "field:new_energy.tidal", "潮汐能")]
    changed = _events(session, "taxonomy.field_changed")
    # the edit renamed the field and unticked "active": both changes are kept, before and after
    assert [(e.actor_id, e.detail) for e in changed] == [
        (admin.id, {"name_zh": ["潮汐能", "潮汐发电"], "active": [True, False]})]


def test_self_registration_is_not_an_admin_created_account(client, session):
    from tests.web.test_auth import REGISTER
    assert client.submit("/register", REGISTER).status_code == 302
    assert _events(session, "user.created") == []


def test_every_audit_action_has_a_label_in_both_languages():
    from babel.messages.pofile import read_po

    from services import audit
    from tests.web.test_i18n import PO
    from web.admin import AUDIT_LABELS
    with open(PO, "rb") as fileobj:
        catalog = read_po(fileobj)
    assert set(AUDIT_LABELS) == set(audit.ACTIONS)
    for action, label in AUDIT_LABELS.items():
        message = catalog.get(label._args[0])
        assert message is not None and message.string and message.string != label._args[0], action


def test_the_log_shows_actions_in_words_and_times_in_the_platform_zone(client, make_user, login, session, zh):
    from datetime import timedelta
    login(make_user("admin"))
    row = _events(session, "auth.login")[-1]
    page = client.get("/admin/audit").get_data(as_text=True)
    shanghai = (row.created_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")  # UTC+8, no summer time
    assert zh("Signed in") in page and zh("Time (%(zone)s)", zone="Asia/Shanghai") in page and shanghai in page
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    english = client.get("/admin/audit").get_data(as_text=True)
    assert ">Signed in<" in english and "Time (Asia/Shanghai)" in english


def test_date_filters_are_days_in_the_platform_zone(session, make_user):
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from services import audit
    user = make_user("company")
    # 2026-03-01 17:30 UTC is 2026-03-02 01:30 in Shanghai
    session.add(AuditEvent(action="auth.login", actor_id=user.id, created_at=datetime(2026, 3, 1, 17, 30), detail={}))
    session.commit()
    shanghai = ZoneInfo("Asia/Shanghai")
    on = audit.AuditFilter(since=date(2026, 3, 2), until=date(2026, 3, 2), zone=shanghai)
    before = audit.AuditFilter(since=date(2026, 3, 1), until=date(2026, 3, 1), zone=shanghai)
    assert len(audit.search(session, on)) == 1 and audit.search(session, before) == []
    assert audit.local_time(datetime(2026, 3, 1, 17, 30), shanghai).strftime("%Y-%m-%d %H:%M") == "2026-03-02 01:30"


def test_platform_timezone_setting(monkeypatch, tmp_path):
    from config import Config, ConfigError
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    assert Config().PLATFORM_TIMEZONE == "Asia/Shanghai"
    monkeypatch.setenv("PLATFORM_TIMEZONE", "Europe/Berlin")
    assert Config().PLATFORM_TIMEZONE == "Europe/Berlin"
    monkeypatch.setenv("PLATFORM_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="(?s)PLATFORM_TIMEZONE.*不是有效的时区.*is not a time zone"):
        Config()
