"""The append-only audit log of security-relevant events: who, what, which object, from where, when (stored in
UTC; shown and filtered in the platform's time zone)."""
from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Optional

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from models import AuditEvent, User

# The client address of the request being served (set by the web layer once per request).
_current_ip: ContextVar[Optional[str]] = ContextVar("audit_ip", default=None)

ACTIONS = ("auth.login", "auth.login_failed", "auth.logout", "auth.logout_everywhere", "auth.password_changed",
           "auth.totp_enabled", "auth.totp_failed", "user.created", "user.role_changed", "user.activated",
           "user.deactivated", "taxonomy.field_created", "taxonomy.field_changed",
           "listing.review", "intro.requested", "intro.accepted", "intro.declined", "intro.withdrawn",
           "contact.reveal", "backup.created", "backup.restored", "api.token_created", "api.token_revoked",
           "report.run", "export.download", "job.retried",
           # forgotten password: asked for (known address or not), link used, link refused
           "auth.password_reset_requested", "auth.password_reset", "auth.password_reset_failed",
           # the region hierarchy, the technology-contract register and its targets (issue 20)
           "region.created", "region.changed", "contract.created", "contract.changed", "contract.imported",
           "region_target.set",
           # organisation accounts: invitations, joining, removal and role changes (issue 21 part 3)
           "organisation.invite", "organisation.join", "organisation.remove", "organisation.role")
# broker operations: routing rules, (re)assignments, demands entered for a company (issue 21 part 4)
ACTIONS += ("routing.rule_saved", "routing.rule_deleted", "routing.assigned", "demand.entered_for")
ACTIONS += ("panel.review_dropped",)  # staff took a reviewed advisor off a panel, with their scores
# Keys that must never reach an audit detail: secrets and contact values.
SENSITIVE = ("password", "token", "secret", "totp", "code", "contact", "phone", "email", "csrf")


def set_request_ip(ip: Optional[str]) -> None:
    """Remember the client address for events recorded while serving this request."""
    _current_ip.set(ip)


def record(session: Session, action: str, *, actor: Optional[User] = None, target: Optional[str] = None,
           detail: Optional[dict[str, Any]] = None, ip: Optional[str] = None) -> AuditEvent:
    """Append one event (the caller commits with its unit of work)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    detail = dict(detail or {})
    bad = [k for k in detail if any(word in k.lower() for word in SENSITIVE)]
    if bad:
        raise ValueError(f"audit detail must not carry {bad}")
    row = AuditEvent(action=action, actor_id=actor.id if actor is not None else None, target=target,
                     detail=detail, ip=ip if ip is not None else _current_ip.get())
    session.add(row)
    return row


def email_ref(email: str) -> str:
    """A stable pseudonymous reference for an e-mail typed at sign-in (never the address itself)."""
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


@dataclass
class AuditFilter:
    """What the admin page filters on; empty fields do not filter."""

    action: str = ""
    actor_id: Optional[int] = None
    since: Optional[date] = None  # days in `zone` (the platform's time zone), inclusive
    until: Optional[date] = None
    target: str = ""
    zone: tzinfo = timezone.utc


def to_utc(day: date, zone: tzinfo) -> datetime:
    """The start of a day in a time zone, as the naive UTC time the database stores."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def day_range(since: Optional[date], until: Optional[date],
              zone: tzinfo) -> tuple[Optional[datetime], Optional[datetime]]:
    """The stored (naive UTC) bounds of the whole days since..until as they are in a time zone: the start is
    inclusive, the end exclusive; None where the range is open (or ends on the calendar's last day)."""
    def bound(day: Optional[date]) -> Optional[datetime]:
        try:
            return to_utc(day, zone) if day else None
        except OverflowError:  # the calendar's first or last day in a zone east or west of UTC: no bound
            return None

    return bound(since), bound(until + timedelta(days=1) if until and until < date.max else None)


def local_time(stored: datetime, zone: tzinfo) -> datetime:
    """A stored (naive UTC) time in a time zone."""
    return stored.replace(tzinfo=timezone.utc).astimezone(zone)


def search(session: Session, f: AuditFilter, limit: int = 200, offset: int = 0) -> list[AuditEvent]:
    """Events matching the filter, newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.actor_id:
        stmt = stmt.where(AuditEvent.actor_id == f.actor_id)
    if f.target:
        stmt = stmt.where(AuditEvent.target == f.target)
    start, end = day_range(f.since, f.until, f.zone)
    if start is not None:
        stmt = stmt.where(AuditEvent.created_at >= start)
    if end is not None:
        stmt = stmt.where(AuditEvent.created_at < end)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    """No update or delete path exists in the ORM for audit events."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError("audit events are append-only")
