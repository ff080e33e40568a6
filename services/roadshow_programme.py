"""The year-round roadshow programme: the public calendar, open registration with a waiting list, universities'
applications to present, live/recording links per presentation and meeting links per 1:1 slot.

Registration and cancellation serialise on the roadshow's row: their first statement is an UPDATE of its
`tickets` counter (SQLite: the database's write lock; PostgreSQL: the row lock, held to the commit), so the
seat count, the waiting list and its order (the ticket drawn) are decided one registration at a time, and the
seat itself is still the conditional UPDATE of services.roadshows.register. Public pages and feeds carry
titles, organisation names, places and links only: no contact details.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Optional

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from models import (PARTICIPANT_KINDS, ROADSHOW_KINDS, Achievement, Field, Role, Roadshow, RoadshowApplication,
                    RoadshowInvitation, RoadshowMeeting, RoadshowPresenter, RoadshowWish, Region, Status, User, utcnow)

from . import clock, notifications
from .errors import NotFound, ServiceError
from .listings import can_edit_listing, owning_side
from .roadshow_seats import lock, release_seat
from .roadshows import MAX_LINK, add_presenter, flush_unique, is_manager, meeting_link_for

LINK_RE = re.compile(r"^https?://\S+$")


# ------------------------------------------------------------------------------------------ calendar

@dataclass
class CalendarPage:
    """One page of the calendar and how many roadshows match in all."""

    rows: list[Roadshow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _filtered(stmt: Any, *, field_code: str = "", city: str = "", kind: str = "") -> Any:
    if field_code:
        stmt = stmt.join(Field, Roadshow.field_id == Field.id).where(
            or_(Field.code == field_code, Field.code.startswith(f"{field_code}.", autoescape=True)))
    if city:
        stmt = stmt.where(Roadshow.city == city)
    if kind:
        stmt = stmt.where(Roadshow.kind == kind)
    return stmt


def calendar(session: Session, *, past: bool = False, field_code: str = "", city: str = "", kind: str = "",
             page: int = 1, per_page: int = 20, today: Optional[date] = None) -> CalendarPage:
    """Upcoming roadshows (soonest first) or past ones (latest first), filtered and paged in SQL."""
    today = today or clock.today()
    when = Roadshow.held_on < today if past else Roadshow.held_on >= today
    base = _filtered(select(Roadshow.id).where(when), field_code=field_code, city=city, kind=kind)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = (Roadshow.held_on.desc(), Roadshow.id.desc()) if past else (Roadshow.held_on, Roadshow.start_time,
                                                                         Roadshow.id)
    page = max(1, page)
    ids = list(session.scalars(base.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    rows = {r.id: r for r in session.scalars(select(Roadshow).where(Roadshow.id.in_(ids)))} if ids else {}
    return CalendarPage([rows[i] for i in ids], total, page, per_page)


def cities(session: Session) -> list[str]:
    """Cities with at least one roadshow, for the filter."""
    return [c for c in session.scalars(select(Roadshow.city).distinct().order_by(Roadshow.city)) if c]


def feed_rows(session: Session, *, field_code: str = "", city: str = "", kind: str = "", days_back: int = 90,
              limit: int = 500, today: Optional[date] = None) -> list[Roadshow]:
    """Roadshows for the iCalendar feed: recent past and every upcoming one (capped), soonest first."""
    from datetime import timedelta
    since = (today or clock.today()) - timedelta(days=days_back)
    stmt = _filtered(select(Roadshow).where(Roadshow.held_on >= since), field_code=field_code, city=city, kind=kind)
    return list(session.scalars(stmt.order_by(Roadshow.held_on, Roadshow.id).limit(limit)))


def region_choices(session: Session, locale: str) -> list[tuple[str, str]]:
    """(code, name) of every region, parents before children (names indented by depth)."""
    rows = session.scalars(select(Region).order_by(Region.path, Region.position, Region.id)).all()
    return [(r.code, "\u3000" * max(0, (r.path or "/").count("/") - 2) + r.name(locale)) for r in rows]


def get_public(session: Session, roadshow_id: int) -> Roadshow:
    """Any roadshow: the programme is public."""
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound()
    return roadshow


def org_name(achievement: Achievement) -> str:
    """What public pages show of a presenter's side: its organisation's name only."""
    return achievement.organisation.name if achievement.organisation else ""


def counts(session: Session, roadshow: Roadshow) -> dict[str, int]:
    """Registered companies and investors and the waiting list's length."""
    rows = session.execute(select(RoadshowInvitation.status, RoadshowInvitation.participant, func.count())
                           .where(RoadshowInvitation.roadshow_id == roadshow.id)
                           .group_by(RoadshowInvitation.status, RoadshowInvitation.participant)).all()
    out = {"company": 0, "investor": 0, "waiting": 0}
    for status, participant, n in rows:
        if status == "registered":
            out[participant if participant in out else "company"] += n
        elif status == "waiting":
            out["waiting"] += n
    return out


# ------------------------------------------------------------------------------------ registration

def entry_of(session: Session, roadshow_id: int, user: Any) -> Optional[RoadshowInvitation]:
    """The user's row for this roadshow (invited, registered, waiting or declined), if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return session.scalar(select(RoadshowInvitation).where(RoadshowInvitation.roadshow_id == roadshow_id,
                                                           RoadshowInvitation.company_id == user.id))


def register_open(session: Session, roadshow_id: int, user: User, participant: str = "company") -> RoadshowInvitation:
    """A company (or an investor: a company account registering as one) takes a seat, or the next place on the
    waiting list when the seats are taken. The caller commits (on error it rolls back)."""
    if user.role != Role.COMPANY.value:
        raise ServiceError("programme.register_role")
    if participant not in PARTICIPANT_KINDS:
        raise ServiceError("programme.bad_participant")
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound()
    if roadshow.held_on < clock.today():
        raise ServiceError("roadshow.over")
    if not roadshow.open_registration:
        raise ServiceError("programme.registration_closed")
    ticket = lock(session, roadshow_id)
    row = entry_of(session, roadshow_id, user)
    if row is not None and row.status == "registered":
        raise ServiceError("roadshow.already_registered")
    if row is not None and row.status == "waiting":
        raise ServiceError("programme.already_waiting", position=waiting_position(session, row))
    seated = session.execute(
        update(Roadshow).where(Roadshow.id == roadshow_id, Roadshow.seats_taken < Roadshow.seats)
        .values(seats_taken=Roadshow.seats_taken + 1).execution_options(synchronize_session=False)).rowcount
    if row is None:
        row = RoadshowInvitation(roadshow_id=roadshow_id, company_id=user.id, source="self", score=0.0)
        session.add(row)
    row.status, row.participant, row.ticket = ("registered" if seated else "waiting"), participant, ticket
    row.registered_at = utcnow() if seated else None
    flush_unique(session, "roadshow.already_registered")
    session.expire(roadshow)
    return row


def waiting_position(session: Session, row: RoadshowInvitation) -> int:
    """1 for the first on the waiting list."""
    return int(session.scalar(select(func.count()).select_from(RoadshowInvitation).where(
        RoadshowInvitation.roadshow_id == row.roadshow_id, RoadshowInvitation.status == "waiting",
        RoadshowInvitation.ticket <= row.ticket)) or 0)


def waiting_list(session: Session, roadshow_id: int) -> list[RoadshowInvitation]:
    """The waiting list in order."""
    return list(session.scalars(select(RoadshowInvitation).where(
        RoadshowInvitation.roadshow_id == roadshow_id, RoadshowInvitation.status == "waiting")
        .order_by(RoadshowInvitation.ticket, RoadshowInvitation.id)))


def cancel(session: Session, roadshow_id: int, user: User) -> RoadshowInvitation:
    """Cancel a registration (the seat goes to the first waiting) or leave the waiting list."""
    lock(session, roadshow_id)
    row = entry_of(session, roadshow_id, user)
    if row is None or row.status not in ("registered", "waiting"):
        raise ServiceError("programme.not_registered")
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow.held_on < clock.today():
        raise ServiceError("roadshow.over")
    held = row.status == "registered"
    row.status, row.registered_at = "declined", None
    session.flush()
    if held:
        release_seat(session, roadshow)
        for table in (RoadshowWish, RoadshowMeeting):
            session.execute(delete(table).where(table.roadshow_id == roadshow_id, table.company_id == user.id))
    session.expire(roadshow)
    return row


# ------------------------------------------------------------------------------ applications to present

def apply_to_present(session: Session, roadshow: Roadshow, user: User, achievement_id: Optional[int],
                     pitch: str = "") -> RoadshowApplication:
    """A university or institute asks to present one of its published achievements."""
    if user.role != Role.UNIVERSITY.value:
        raise ServiceError("programme.apply_role")
    if roadshow.held_on < clock.today():
        raise ServiceError("roadshow.over")
    achievement = session.get(Achievement, achievement_id) if achievement_id else None
    # one of its organisation's achievements, a colleague's too (listings.can_edit_listing)
    if achievement is None or not can_edit_listing(user, achievement) or achievement.status != Status.PUBLISHED.value:
        raise ServiceError("programme.apply_achievement")
    if any(p.achievement_id == achievement.id for p in roadshow.presenters):
        raise ServiceError("roadshow.presenter_exists")
    taken = session.scalar(select(RoadshowApplication.id).where(RoadshowApplication.roadshow_id == roadshow.id,
                                                                RoadshowApplication.achievement_id == achievement.id))
    if taken is not None:
        raise ServiceError("programme.already_applied")
    application = RoadshowApplication(roadshow_id=roadshow.id, achievement_id=achievement.id, applicant_id=user.id,
                                      pitch=(pitch or "").strip()[:2000], status="submitted")
    session.add(application)
    flush_unique(session, "programme.already_applied")
    return application


def applications(session: Session, roadshow: Roadshow, user: Any = None) -> list[RoadshowApplication]:
    """Applications to present: all for its managers; otherwise the user's own and those of achievements on the
    user's side (a colleague's application for their organisation's achievement)."""
    stmt = select(RoadshowApplication).where(RoadshowApplication.roadshow_id == roadshow.id)
    if not is_manager(user, roadshow):
        if not getattr(user, "is_authenticated", False):
            return []
        side = select(Achievement.id).where(owning_side(Achievement, user))
        stmt = stmt.where(or_(RoadshowApplication.applicant_id == user.id, RoadshowApplication.achievement_id.in_(side)))
    return list(session.scalars(stmt.order_by(RoadshowApplication.id)))


def decide(session: Session, roadshow: Roadshow, application_id: int, accept: bool,
           reason: str = "") -> RoadshowApplication:
    """The broker accepts (the achievement presents) or declines an application; the applicant is told."""
    application = session.get(RoadshowApplication, application_id)
    if application is None or application.roadshow_id != roadshow.id:
        raise NotFound()
    if application.status != "submitted":
        raise ServiceError("programme.already_decided")
    if accept:
        add_presenter(session, roadshow, application.achievement_id)
    application.status = "accepted" if accept else "declined"
    application.reason, application.decided_at = (reason or "").strip()[:2000], utcnow()
    notifications.notify(session, application.applicant_id, "roadshow_application", {
        "roadshow_id": roadshow.id, "title": roadshow.title, "achievement": application.achievement.title,
        "accepted": bool(accept), "reason": application.reason})
    session.flush()
    return application


# ------------------------------------------------------------------------------------------ online

def clean_link(value: Optional[str]) -> str:
    """An http(s) link of at most 300 characters, or empty; anything else is refused."""
    value = (value or "").strip()
    if value and (len(value) > MAX_LINK or not LINK_RE.match(value)):
        raise ServiceError("programme.bad_link", max=MAX_LINK)
    return value


def set_presenter_links(session: Session, roadshow: Roadshow, presenter_id: int, live: str,
                        recording: str) -> RoadshowPresenter:
    """The live-stream and recording links of one presentation."""
    presenter = next((p for p in roadshow.presenters if p.id == presenter_id), None)
    if presenter is None:
        raise NotFound()
    presenter.live_link, presenter.recording_link = clean_link(live), clean_link(recording)
    session.flush()
    return presenter


def set_meeting_link(session: Session, roadshow: Roadshow, meeting_id: int, link: str) -> RoadshowMeeting:
    """The online meeting link of one scheduled 1:1."""
    meeting = session.get(RoadshowMeeting, meeting_id)
    if meeting is None or meeting.roadshow_id != roadshow.id:
        raise NotFound()
    meeting.meeting_link = clean_link(link)
    session.flush()
    return meeting
