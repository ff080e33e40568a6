"""Notifications: created by events in the same transaction, shown in-app, mailed after commit.

Users choose per event kind (approved, sent back, rejected, new match) whether it shows in-app and
whether it is mailed, and whether they get the weekly digest (topic "digest"). Params hold titles, ids, reasons and scores, never contact details.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Iterable, Optional

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from matchmaking.bands import POSSIBLE, RANK, at_least, band_of
from models import (Achievement, Demand, MatchNotice, Notification, NotificationSetting, ReviewEvent, User,
                    utcnow)

from . import ownership
from .cache import versioned_get, versioned_set
from .commits import CommitWatcher
from .errors import NotFound

# "strong_match" is the kind of every new-match notice, whatever its band (NOTIFY_MATCH_MIN_BAND or better; the
# params say which): stored notices and users' settings carry the name, so it stays.
KINDS = ("listing_approved", "listing_returned", "listing_rejected", "strong_match", "intro_requested",
         "intro_accepted", "roadshow_invited", "challenge_deadline", "roadshow_seat", "roadshow_application",
         "challenge_result")
KINDS += ("panel_assigned", "panel_review_due")  # 科技顾问团 (services/panels.py)
KINDS += ("demand_assigned", "demand_confirm")  # broker operations (services/brokerage.py)
KINDS += ("directory_request", "directory_answer")  # service directory contact requests (services/directory.py)
TOPICS = KINDS + ("digest",)
KIND_TOPIC = {kind: kind for kind in KINDS}  # one setting per event kind (hooks may group later kinds)
REVIEW_KINDS = {"approve": "listing_approved", "return": "listing_returned", "reject": "listing_rejected"}
MODELS = {"demand": Demand, "achievement": Achievement}
# find(listing) -> [(counterpart listing, score 0-100)]
MatchFinder = Callable[[Any], list[tuple[Any, float]]]


def preference(session: Session, user_id: int, topic: str) -> tuple[bool, bool]:
    """(in_app, email) for a user and topic; everything is on until the user says otherwise."""
    row = session.scalar(select(NotificationSetting).where(NotificationSetting.user_id == user_id,
                                                           NotificationSetting.topic == topic))
    return (True, True) if row is None else (row.in_app, row.email)


def preferences(session: Session, user: User) -> dict[str, tuple[bool, bool]]:
    """Every topic's (in_app, email) for the user."""
    return {topic: preference(session, user.id, topic) for topic in TOPICS}


def save_preference(session: Session, user_id: int, topic: str, *, in_app: bool, email: bool) -> None:
    """Record a user's choice for a topic."""
    if topic not in TOPICS:
        raise NotFound()
    row = session.scalar(select(NotificationSetting).where(NotificationSetting.user_id == user_id,
                                                           NotificationSetting.topic == topic))
    if row is None:
        row = NotificationSetting(user_id=user_id, topic=topic)
        session.add(row)
    row.in_app, row.email = in_app, email
    session.flush()


def notify(session: Session, user_id: int, kind: str, params: dict[str, Any]) -> Optional[Notification]:
    """Record a notification per the user's settings; None if both channels are off."""
    in_app, email = preference(session, user_id, KIND_TOPIC[kind])
    if not in_app and not email:
        return None
    note = Notification(user_id=user_id, kind=kind, params=params, in_app=in_app,
                        email_status="pending" if email else "skipped")
    session.add(note)
    session.info.setdefault("notifications_new", []).append(note)
    return note


def owner_ids(session: Session, listing: Any) -> list[int]:
    """Who hears what is meant for a listing's owner: everyone on its owning side (listings.can_edit_listing), i.e.
    its organisation's managers and members of the listing's role, or the poster of a listing without an
    organisation. A listing belongs to its organisation (issue 21): a colleague who edits it hears of its review,
    its matches and introductions; a poster who left the organisation does not."""
    return ownership.side_user_ids(session, listing)


def from_review_events(session: Session) -> None:
    """Turn review decisions being flushed into notifications for the listing's owner (before_flush hook)."""
    for obj in list(session.new):
        if not isinstance(obj, ReviewEvent) or obj.action not in REVIEW_KINDS:
            continue
        listing = session.get(MODELS[obj.entity_type], obj.entity_id)
        if listing is None:
            continue
        for user_id in owner_ids(session, listing):
            notify(session, user_id, REVIEW_KINDS[obj.action],
                   {"listing_kind": listing.kind, "listing_id": listing.id, "title": listing.title,
                    "reason": (obj.reason or "").strip()[:2000]})


def install_hooks(factory: Any, mail_pending: Callable[[list[int]], None]) -> None:
    """On every session of the factory: review decisions create their notifications as they flush; after a
    commit, mail_pending gets the ids of the new notifications waiting for their e-mail (a rollback forgets them)."""

    def before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        from_review_events(session)

    def after_commit(session: Session) -> None:
        notes = session.info.pop("notifications_new", [])
        ids = sorted({n.id for n in notes if n.id is not None and n.email_status == "pending"})
        if ids:
            mail_pending(ids)

    event.listen(factory, "before_flush", before_flush)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", lambda session: session.info.pop("notifications_new", None))


def visible(session: Session, user: User, limit: int = 100) -> list[Notification]:
    """The user's in-app notifications, newest first."""
    return list(session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                           Notification.in_app.is_(True))
                                .order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, user: User) -> int:
    """How many in-app notifications the user has not read."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.in_app.is_(True), Notification.read_at.is_(None))) or 0


UNREAD_TTL = 60  # seconds an unread count may lag when a change's bump was lost (Redis unreachable)


class UnreadCounts:
    """Each user's unread count (the bell on every page) kept in the shared cache. A commit that changes a
    user's notifications bumps that user's generation, which is read before the database and stored with the
    count: a count read before such a commit is never used after it. The database
    answers without a shared cache (CACHE_URL none or memory)."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.watcher = CommitWatcher(
            "unread_users", lambda obj: (obj.user_id,) if isinstance(obj, Notification) else (), self.bump)

    @staticmethod
    def generation_key(user_id: int) -> str:
        return f"techmatch:unread:gen:{user_id}"

    def install(self, factory: Any) -> None:
        self.watcher.install(factory)

    def bump(self, user_ids: set) -> None:
        for user_id in user_ids:
            self.cache.incr(self.generation_key(user_id))

    def count(self, session: Session, user: User) -> int:
        if not getattr(self.cache, "shared", False):
            return unread_count(session, user)
        key = f"techmatch:unread:v3:{user.id}"
        gen, hit = versioned_get(self.cache, self.generation_key(user.id), key)  # one round trip
        if gen is None:
            return unread_count(session, user)
        if isinstance(hit, int):
            return hit
        n = unread_count(session, user)
        versioned_set(self.cache, key, gen, n, UNREAD_TTL)
        return n


def mark_read(session: Session, user: User, notification_id: Optional[int] = None) -> int:
    """Mark one (or, with no id, every) notification of the user read; NotFound for anyone else's."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        note = session.get(Notification, notification_id)
        if note is None or note.user_id != user.id:
            raise NotFound()
        stmt = stmt.where(Notification.id == notification_id)
    session.info.setdefault("unread_users", set()).add(user.id)  # a bulk UPDATE: no flush sees it (UnreadCounts)
    return session.execute(stmt.values(read_at=utcnow())).rowcount


def announce_matches(session: Session, listings: Iterable[Any], find: MatchFinder, min_band: str) -> int:
    """Notify both owners of each new pair whose band is min_band or better; a pair is announced only once."""
    if RANK.get(min_band, -1) < RANK[POSSIBLE]:  # a weak pair is no match (bands.is_match): never announced
        raise ValueError(f"min_band must be possible or strong, not {min_band!r}")
    seen = {(n.demand_id, n.achievement_id) for n in session.scalars(select(MatchNotice))}
    announced = 0
    for item in listings:
        for other, score in find(item):
            if not at_least(score, min_band):
                continue
            demand, achievement = (item, other) if item.kind == "demand" else (other, item)
            pair = (demand.id, achievement.id)
            if pair in seen:
                continue
            seen.add(pair)
            session.add(MatchNotice(demand_id=demand.id, achievement_id=achievement.id, score=score))
            for mine, theirs in ((demand, achievement), (achievement, demand)):
                for user_id in owner_ids(session, mine):
                    notify(session, user_id, "strong_match", {
                        "listing_kind": mine.kind, "listing_id": mine.id, "title": mine.title,
                        "other_kind": theirs.kind, "other_id": theirs.id, "other_title": theirs.title,
                        "score": int(score), "band": band_of(score)})  # truncated, as shown: 59.6 is 59, possible
            announced += 1
    session.flush()
    return announced


def pending_email_ids(session: Session) -> list[int]:
    """Notifications still to be mailed, or whose mail failed (a catch-up after a crash or an outage)."""
    return list(session.scalars(select(Notification.id).where(Notification.email_status.in_(("pending", "failed")))
                                .order_by(Notification.id)))


def digest_batches(session: Session, days: int = 7) -> dict[int, list[Notification]]:
    """Per user who wants the digest: notifications of the last days not yet in a digest."""
    since = utcnow() - timedelta(days=days)
    rows = session.scalars(select(Notification).where(Notification.created_at >= since,
                                                      Notification.digested_at.is_(None))
                           .order_by(Notification.user_id, Notification.id))
    out: dict[int, list[Notification]] = {}
    for note in rows:
        out.setdefault(note.user_id, []).append(note)
    return {uid: notes for uid, notes in out.items() if preference(session, uid, "digest")[1]}


def mark_digested(session: Session, notes: Iterable[Notification]) -> None:
    """Record that these notifications went out in a digest."""
    now = utcnow()
    for note in notes:
        note.digested_at = now
    session.flush()
