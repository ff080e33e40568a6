"""Broker-mediated introductions: double opt-in before a demand's and an achievement's owners see contacts."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import LIVE_STATUSES, Achievement, Demand, Introduction, IntroStatus, Status, User, utcnow

from . import audit, notifications, pipeline
from .errors import NotFound, ServiceError
from .listings import can_view, is_owner, is_reviewer, owning_side

MAX_REASON = 1000


def _side_of(user: User, intro_or_pair: Introduction) -> Optional[str]:
    """'demand' or 'achievement' if the user owns that side, else None."""
    if is_owner(user, intro_or_pair.demand):
        return "demand"
    if is_owner(user, intro_or_pair.achievement):
        return "achievement"
    return None


def live_for_pair(session: Session, demand_id: int, achievement_id: int) -> Optional[Introduction]:
    """The requested or accepted introduction of this pair, if any."""
    return session.scalar(select(Introduction).where(
        Introduction.demand_id == demand_id, Introduction.achievement_id == achievement_id,
        Introduction.status.in_(LIVE_STATUSES)))


def request_introduction(session: Session, user: User, demand_id: int, achievement_id: int,
                         reason: str) -> Introduction:
    """An owner of one side, or a broker, asks to introduce a published demand and achievement."""
    demand, achievement = session.get(Demand, demand_id), session.get(Achievement, achievement_id)
    if demand is None or achievement is None or not can_view(user, demand) or not can_view(user, achievement):
        raise NotFound()
    if demand.status != Status.PUBLISHED.value or achievement.status != Status.PUBLISHED.value:
        raise ServiceError("intro.not_published")
    intro = Introduction(demand=demand, achievement=achievement, requested_by=user,
                         status=IntroStatus.REQUESTED.value)
    side = _side_of(user, intro)
    if side is None and not is_reviewer(user):
        raise ServiceError("intro.not_a_party")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("intro.reason_required")
    if len(reason) > MAX_REASON:
        raise ServiceError("intro.reason_long", max=MAX_REASON)
    if live_for_pair(session, demand.id, achievement.id) is not None:
        raise ServiceError("intro.exists")
    intro.requested_side, intro.reason = side or "broker", reason
    if side:
        setattr(intro, f"{side}_consent_at", utcnow())
    session.add(intro)
    session.flush()
    audit.record(session, "intro.requested", actor=user, target=f"introduction:{intro.id}",
                 detail={"demand": demand.id, "achievement": achievement.id, "side": intro.requested_side})
    # each side's organisation members are told (notifications.owner_ids: the owning side, not only the poster)
    for owner_id in sorted(set(notifications.owner_ids(session, demand) + notifications.owner_ids(session, achievement))
                           - {user.id}):
        notifications.notify(session, owner_id, "intro_requested", _note_params(intro))
    return intro


def get_for(session: Session, intro_id: int, user: User) -> Introduction:
    """An introduction the user takes part in (an owner of a side, the requester) or staff; else NotFound."""
    intro = session.get(Introduction, intro_id)
    if intro is None or not (is_reviewer(user) or intro.requested_by_id == user.id or _side_of(user, intro)):
        raise NotFound()
    return intro


def pending_sides(intro: Introduction) -> list[str]:
    """Sides whose owner has not consented yet."""
    return [side for side in ("demand", "achievement") if getattr(intro, f"{side}_consent_at") is None]


def can_answer(user: User, intro: Introduction) -> bool:
    """True if the user owns a side whose consent is still pending."""
    side = _side_of(user, intro)
    return intro.status == IntroStatus.REQUESTED.value and side is not None and side in pending_sides(intro)


def accept(session: Session, intro: Introduction, user: User) -> Introduction:
    """The owner of a pending side consents; once both sides consented the introduction is accepted."""
    if not can_answer(user, intro):
        raise ServiceError("intro.cannot_answer")
    setattr(intro, f"{_side_of(user, intro)}_consent_at", utcnow())
    if not pending_sides(intro):
        intro.status, intro.accepted_at = IntroStatus.ACCEPTED.value, utcnow()
        _on_accepted(session, intro, user)
    audit.record(session, "intro.accepted", actor=user, target=f"introduction:{intro.id}",
                 detail={"side": _side_of(user, intro), "status": intro.status})
    return intro


def decline(session: Session, intro: Introduction, user: User) -> Introduction:
    """The owner of a pending side declines; the requester later sees only 'not taken up'."""
    if not can_answer(user, intro):
        raise ServiceError("intro.cannot_answer")
    _close(intro, user, IntroStatus.DECLINED)
    audit.record(session, "intro.declined", actor=user, target=f"introduction:{intro.id}",
                 detail={"side": _side_of(user, intro)})
    return intro


def can_withdraw(user: User, intro: Introduction) -> bool:
    """Either side's owner, the requester or staff may withdraw a live introduction."""
    return intro.live and (_side_of(user, intro) is not None or intro.requested_by_id == user.id
                           or is_reviewer(user))


def withdraw(session: Session, intro: Introduction, user: User) -> Introduction:
    """End a live introduction: consent is withdrawn and contacts are hidden again."""
    if not can_withdraw(user, intro):
        raise ServiceError("intro.cannot_withdraw")
    was = intro.status
    _close(intro, user, IntroStatus.WITHDRAWN)
    audit.record(session, "intro.withdrawn", actor=user, target=f"introduction:{intro.id}", detail={"was": was})
    return intro


def _close(intro: Introduction, user: User, status: IntroStatus) -> None:
    intro.status, intro.closed_by_id, intro.closed_at = status.value, user.id, utcnow()


def shown_status(intro: Introduction, user: User) -> str:
    """The status this user sees: a decline reads 'not_taken_up' to everyone but the one who declined."""
    if intro.status == IntroStatus.DECLINED.value and intro.closed_by_id != user.id:
        return "not_taken_up"
    return intro.status


def inbox(session: Session, user: User) -> list[Introduction]:
    """Introductions the user takes part in (staff: all), newest first."""
    stmt = select(Introduction).order_by(Introduction.id.desc())
    if not is_reviewer(user):
        stmt = stmt.join(Demand, Introduction.demand_id == Demand.id).join(
            Achievement, Introduction.achievement_id == Achievement.id).where(or_(
                owning_side(Demand, user), owning_side(Achievement, user),
                Introduction.requested_by_id == user.id))
    return list(session.scalars(stmt.limit(500)))


def _note_params(intro: Introduction) -> dict:
    # titles and ids only: the reason is free text and is read on the inbox page, not mailed
    return {"intro_id": intro.id, "demand_title": intro.demand.title, "achievement_title": intro.achievement.title}


def _on_accepted(session: Session, intro: Introduction, user: User) -> None:
    """Both sides consented: tell the requester, and move the pair's opportunity to 'agreed'."""
    if intro.requested_by_id != user.id:
        notifications.notify(session, intro.requested_by_id, "intro_accepted", _note_params(intro))
    broker = intro.requested_by if is_reviewer(intro.requested_by) else None
    opp = (pipeline.get_or_open(session, broker, intro.demand_id, intro.achievement_id) if broker
           else pipeline.for_pairs(session, [(intro.demand_id, intro.achievement_id)]).get(
               (intro.demand_id, intro.achievement_id)))
    if opp is not None and opp.stage == "introduced":
        pipeline.advance(session, opp, user, note=f"introduction #{intro.id}: both sides consented")
