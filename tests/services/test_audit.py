"""The audit log is append-only and carries no secrets."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from models import AuditEvent
from services import accounts, audit
from services.audit import AppendOnlyError

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def test_events_cannot_be_updated_or_deleted_through_the_orm(session, make_user):
    event = audit.record(session, "auth.login", actor=make_user("company"), target="user:1")
    session.commit()
    event.action = "auth.logout"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    session.delete(event)
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()


def test_events_cannot_be_updated_or_deleted_in_the_database(session, make_user):
    audit.record(session, "auth.login", actor=make_user("company"), target="user:1")
    session.commit()
    for stmt in (update(AuditEvent).values(action="x"), delete(AuditEvent),
                 text("UPDATE audit_events SET ip = '1.2.3.4'"), text("DELETE FROM audit_events")):
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(stmt)
        session.rollback()
    assert session.query(AuditEvent).count() == 1


def test_secrets_and_contacts_are_refused_in_details(session):
    for key in ("password", "new_password", "token", "contact_email", "phone", "totp_code"):
        with pytest.raises(ValueError):
            audit.record(session, "auth.login", detail={key: "x"})
    with pytest.raises(ValueError):
        audit.record(session, "made.up.action")


def test_sign_in_outcomes_are_recorded_without_the_password(session, make_user):
    user = make_user("company")
    assert accounts.authenticate(session, user.email, "wrong-password-typed") is None
    assert accounts.authenticate(session, "nobody@example.com", "another-secret") is None
    assert accounts.authenticate(session, user.email, "correct-horse-battery") is user
    session.commit()
    rows = session.query(AuditEvent).order_by(AuditEvent.id).all()
    assert [r.action for r in rows] == ["auth.login_failed", "auth.login_failed", "auth.login"]
    assert rows[1].target.startswith("email:") and "nobody" not in rows[1].target
    dump = repr([(r.target, r.detail) for r in rows])
    assert "wrong-password-typed" not in dump and "another-secret" not in dump and "correct-horse" not in dump


def test_role_and_activation_changes_are_recorded(session, make_user):
    admin, user = make_user("admin"), make_user("company")
    accounts.set_role(session, user, "broker", actor=admin)
    accounts.set_active(session, user, False, actor=admin)
    accounts.set_active(session, user, True, actor=admin)
    session.commit()
    rows = session.query(AuditEvent).order_by(AuditEvent.id).all()
    assert [(r.action, r.actor_id, r.target) for r in rows] == [
        ("user.role_changed", admin.id, f"user:{user.id}"), ("user.deactivated", admin.id, f"user:{user.id}"),
        ("user.activated", admin.id, f"user:{user.id}")]
    assert rows[0].detail == {"from": "company", "to": "broker"}


def test_review_decisions_are_recorded(session, make_user, make_listing):
    broker, owner = make_user("broker"), make_user("company")
    item = make_listing("demand", owner, status="submitted")
    from services import listings
    listings.transition(session, item, broker, "return", "补充指标")
    session.commit()
    row = session.query(AuditEvent).filter_by(action="listing.review").one()
    assert (row.actor_id, row.target, row.detail["decision"]) == (broker.id, f"demand:{item.id}", "return")
    assert session.query(AuditEvent).filter_by(actor_id=owner.id).count() == 0  # owner's own submit is not audited


def test_api_tokens_created_and_revoked_are_recorded_without_the_secret(session, make_user):
    from services import tokens

    user = make_user("company")
    row, clear = tokens.create_token(session, user, "ERP sync")
    tokens.revoke_token(session, user, row.id)
    tokens.revoke_token(session, user, row.id)  # revoking twice records once
    session.commit()
    events = session.query(AuditEvent).filter(AuditEvent.action.like("api.%")).order_by(AuditEvent.id).all()
    assert [(e.action, e.actor_id, e.target) for e in events] == [
        ("api.token_created", user.id, f"api_token:{row.id}"), ("api.token_revoked", user.id, f"api_token:{row.id}")]
    secret = clear.rsplit("_", 1)[1]
    assert all(secret not in str(e.detail) and row.token_hash not in str(e.detail) for e in events)
    assert events[0].detail == {"name": "ERP sync", "prefix": row.prefix}
