"""揭榜挂帅 challenges: publish a key problem, university applications, panel scoring, shortlist, winner.

A challenge accepts applications while it is open and its deadline has not passed. Once the deadline
has passed it is never silently reopened: editing its deadline is refused (publish a new challenge).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from matchmaking.documents import Listing as Doc
from models import (PERSPECTIVES, Achievement, Challenge, ChallengeApplication, ChallengePanelist, ChallengeScore,
                    Field, Notification, Role, Status, User, utcnow)

from . import challenge_notices, clock, notifications
from .errors import NotFound, ServiceError
from .listings import owning_side
from .roadshows import flush_unique

STAFF = (Role.BROKER.value, Role.ADMIN.value)
TEXT_FIELDS = ("title", "problem", "indicators", "eligibility", "sponsor")
MAX_CRITERIA = 12


# ---------------------------------------------------------------------------------------- criteria

def parse_criteria(text: str) -> list[dict]:
    """'name | perspective | weight' per line -> criteria with weights normalised to sum to 1."""
    criteria = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) != 3 or not parts[0]:
            raise ServiceError("challenge.criteria_format", line=number)
        name, perspective, weight = parts
        criteria.append({"name": name[:60], "perspective": perspective.lower(), "weight": _weight(weight, number)})
    return normalise_criteria(criteria)


def _weight(text: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ServiceError("challenge.criteria_weight", line=line) from None
    if not math.isfinite(value) or value <= 0 or value > 1000:
        raise ServiceError("challenge.criteria_weight", line=line)
    return value


def normalise_criteria(criteria: list[dict]) -> list[dict]:
    """Check perspectives and weights; weights become shares of 1."""
    if not criteria:
        raise ServiceError("challenge.criteria_empty")
    if len(criteria) > MAX_CRITERIA:
        raise ServiceError("challenge.criteria_many", n=MAX_CRITERIA)
    for number, c in enumerate(criteria, start=1):
        if c.get("perspective") not in PERSPECTIVES:
            raise ServiceError("challenge.criteria_perspective", line=number)
    total = sum(float(c["weight"]) for c in criteria)
    return [{"name": c["name"], "perspective": c["perspective"], "weight": round(float(c["weight"]) / total, 4)}
            for c in criteria]


def criteria_text(criteria: list[dict]) -> str:
    """Criteria back as the form's text (weights as percentages)."""
    return "\n".join(f"{c['name']} | {c['perspective']} | {round(c['weight'] * 100, 2):g}" for c in criteria)


# ---------------------------------------------------------------------------------------- challenge

def is_manager(user: Any, challenge: Challenge) -> bool:
    """The broker who published it, and admins."""
    return bool(user and user.is_authenticated and (user.role == Role.ADMIN.value or user.id == challenge.broker_id))


def is_open(challenge: Challenge, today: Optional[date] = None) -> bool:
    """Accepting applications: open and the deadline (inclusive) not passed."""
    return challenge.status == "open" and challenge.deadline >= (today or clock.today())


def create_challenge(session: Session, broker: User, data: dict[str, Any]) -> Challenge:
    """Publish a challenge (brokers and admins)."""
    if broker.role not in STAFF:
        raise ServiceError("challenge.forbidden")
    challenge = Challenge(broker=broker, status="open")
    _apply(session, challenge, data)
    if challenge.deadline < clock.today():
        raise ServiceError("challenge.deadline_past")
    session.add(challenge)
    session.flush()
    return challenge


def update_challenge(session: Session, challenge: Challenge, editor: User, data: dict[str, Any]) -> Challenge:
    """Edit a challenge; once its deadline has passed, its deadline cannot be moved to reopen it."""
    if not is_manager(editor, challenge):
        raise NotFound()
    if challenge.status in ("announced", "accepted"):
        raise ServiceError("challenge.announced")
    new_deadline = data.get("deadline", challenge.deadline)
    if new_deadline != challenge.deadline:
        if challenge.deadline < clock.today() or challenge.status != "open":
            raise ServiceError("challenge.no_reopen")
        if new_deadline < clock.today():
            raise ServiceError("challenge.deadline_past")
    _apply(session, challenge, data)
    session.flush()
    return challenge


def _apply(session: Session, challenge: Challenge, data: dict[str, Any]) -> None:
    for name in TEXT_FIELDS:
        if name in data:
            setattr(challenge, name, (data[name] or "").strip())
    if "deadline" in data:
        challenge.deadline = data["deadline"]
    if "reward" in data:
        reward = float(data["reward"]) if data["reward"] is not None else -1.0
        if not math.isfinite(reward) or not 0 < reward <= 1_000_000:
            raise ServiceError("challenge.bad_reward")
        challenge.reward = reward
    if "criteria" in data:
        raw = data["criteria"]
        challenge.criteria = parse_criteria(raw) if isinstance(raw, str) else normalise_criteria(list(raw))
    if "field_code" in data:
        field = session.scalar(select(Field).where(Field.code == data["field_code"], Field.active.is_(True)))
        if field is None:
            raise ServiceError("listing.unknown_field")
        challenge.field = field


def get_challenge(session: Session, challenge_id: int) -> Challenge:
    """Any challenge (they are published for every signed-in user)."""
    challenge = session.get(Challenge, challenge_id)
    if challenge is None:
        raise NotFound()
    return challenge


def get_managed(session: Session, challenge_id: int, user: Any) -> Challenge:
    """A challenge the user manages; NotFound for another broker."""
    challenge = get_challenge(session, challenge_id)
    if not is_manager(user, challenge):
        raise NotFound()
    return challenge


def listing(session: Session) -> list[Challenge]:
    """Every challenge, open ones first, then by deadline."""
    rows = list(session.scalars(select(Challenge).order_by(Challenge.deadline.desc(), Challenge.id.desc())))
    return sorted(rows, key=lambda c: not is_open(c))


def close_if_due(session: Session, challenge: Challenge) -> None:
    """Mark an open challenge closed once its deadline has passed (shown and enforced either way)."""
    if challenge.status == "open" and challenge.deadline < clock.today():
        challenge.status = "closed"
        session.flush()


def _top_field(field: Any) -> Any:
    while field is not None and field.parent is not None:
        field = field.parent
    return field


def remind_deadlines(session: Session, days: int, today: Optional[date] = None) -> int:
    """Tell university accounts with a published achievement in an open challenge's top-level field that its
    deadline is at most `days` away, unless they applied already; each user once per challenge.
    Returns the number of notifications created (the caller commits)."""
    today = today or clock.today()
    due = session.scalars(select(Challenge).where(Challenge.status == "open", Challenge.deadline >= today,
                                                  Challenge.deadline <= today + timedelta(days=days)))
    created = 0
    for challenge in due:
        fields, todo = set(), [_top_field(challenge.field)]
        while todo:  # the top-level field and everything under it
            field = todo.pop()
            fields.add(field.id)
            todo.extend(field.children)
        owners = set(session.scalars(select(Achievement.owner_id).distinct().where(
            Achievement.status == Status.PUBLISHED.value, Achievement.field_id.in_(fields))))
        applied = {a.applicant_id for a in challenge.applications}
        told = {n.user_id for n in session.scalars(select(Notification).where(
            Notification.kind == "challenge_deadline", Notification.user_id.in_(owners)))
            if (n.params or {}).get("challenge_id") == challenge.id}
        for user_id in sorted(owners - applied - told):
            user = session.get(User, user_id)
            if user is None or not user.active or user.role != Role.UNIVERSITY.value:
                continue
            created += notifications.notify(session, user_id, "challenge_deadline", {
                "challenge_id": challenge.id, "title": challenge.title,
                "deadline": challenge.deadline.isoformat()}) is not None
    session.flush()
    return created


# ------------------------------------------------------------------------------------- applications

def apply(session: Session, challenge: Challenge, user: User, data: dict[str, Any]) -> ChallengeApplication:
    """A university team's proposal; refused after the deadline, twice, or with others' achievements."""
    if user.role != Role.UNIVERSITY.value:
        raise ServiceError("challenge.wrong_role")
    if challenge.deadline < clock.today():
        raise ServiceError("challenge.deadline_passed", deadline=challenge.deadline.isoformat())
    if challenge.status != "open":
        raise ServiceError("challenge.closed")
    refuse_second_application(session, challenge, user)
    ids = sorted(set(int(i) for i in data.get("achievement_ids") or []))
    # a colleague's achievement of the user's organisation is the user's too (listings.can_edit_listing)
    owned = set(session.scalars(select(Achievement.id).where(Achievement.id.in_(ids), owning_side(Achievement, user),
                                                              Achievement.status == Status.PUBLISHED.value)))
    if owned != set(ids):
        raise ServiceError("challenge.bad_achievement")
    application = ChallengeApplication(challenge=challenge, applicant=user, organisation_id=user.organisation_id,
                                       team=data["team"].strip(), approach=data["approach"].strip(),
                                       achievement_ids=ids, status="submitted")
    session.add(application)
    flush_unique(session, "challenge.already_applied")
    return application


def own_application(session: Session, challenge: Challenge, user: User) -> Optional[ChallengeApplication]:
    """The application of the user's organisation to this challenge (揭榜: one per organisation, whichever colleague
    sent it), or the user's own where the user has no organisation; None before either applied."""
    if getattr(user, "organisation_id", None):  # not one sent for an organisation the user has since left
        mine = ChallengeApplication.organisation_id == user.organisation_id
    else:
        mine = (ChallengeApplication.applicant_id == user.id) & ChallengeApplication.organisation_id.is_(None)
    return session.scalars(select(ChallengeApplication).where(ChallengeApplication.challenge_id == challenge.id, mine)
                           .order_by(ChallengeApplication.id).limit(1)).first()


def refuse_second_application(session: Session, challenge: Challenge, user: User) -> None:
    """Refused when the user, or a colleague for the user's organisation, has applied to this challenge. The
    challenge's row is locked first (FOR NO KEY UPDATE on PostgreSQL; SQLite's writes are serial), so two
    colleagues submitting at once are answered one after the other."""
    session.execute(select(Challenge.id).where(Challenge.id == challenge.id).with_for_update(key_share=True))
    earlier = own_application(session, challenge, user)
    if earlier is None:
        return
    if earlier.applicant_id == user.id:
        raise ServiceError("challenge.already_applied")
    raise ServiceError("challenge.organisation_applied", name=earlier.applicant.display_name,
                       day=clock.day_of(earlier.created_at).isoformat())


def linked_achievements(session: Session, application: ChallengeApplication) -> list[Achievement]:
    """The achievements an application links (titles only are ever shown)."""
    if not application.achievement_ids:
        return []
    return list(session.scalars(select(Achievement).where(Achievement.id.in_(application.achievement_ids))))


# ------------------------------------------------------------------------------------------- panel

def panelists(session: Session, challenge: Challenge) -> list[ChallengePanelist]:
    """The challenge's panel."""
    return list(session.scalars(select(ChallengePanelist).where(ChallengePanelist.challenge_id == challenge.id)
                                .order_by(ChallengePanelist.id)))


def is_panelist(session: Session, challenge: Challenge, user: Any) -> bool:
    """True when the user sits on this challenge's panel."""
    return bool(user and user.is_authenticated and any(p.user_id == user.id for p in panelists(session, challenge)))


def can_see_applications(session: Session, challenge: Challenge, user: Any) -> bool:
    """Managers and panelists see every application; applicants only their own."""
    return is_manager(user, challenge) or is_panelist(session, challenge, user)


def assign_panelist(session: Session, challenge: Challenge, user_id: int) -> ChallengePanelist:
    """Put a broker or admin on the panel."""
    user = session.get(User, user_id)
    if user is None or user.role not in STAFF or not user.active:
        raise ServiceError("challenge.panelist_role")
    if any(p.user_id == user_id for p in panelists(session, challenge)):
        raise ServiceError("challenge.already_panelist")
    panelist = ChallengePanelist(challenge_id=challenge.id, user_id=user_id)
    session.add(panelist)
    flush_unique(session, "challenge.already_panelist")
    return panelist


def staff_choices(session: Session) -> list[User]:
    """Brokers and admins who could sit on a panel."""
    return list(session.scalars(select(User).where(User.role.in_(STAFF), User.active.is_(True)).order_by(User.id)))


def _application(session: Session, challenge: Challenge, application_id: int) -> ChallengeApplication:
    application = session.get(ChallengeApplication, application_id)
    if application is None or application.challenge_id != challenge.id:
        raise NotFound()
    return application


def score_application(session: Session, challenge: Challenge, application_id: int, panelist: User,
                      scores: dict[int, Any]) -> list[ChallengeScore]:
    """A panelist's 0-10 score per criterion (replaces their earlier scores of this application)."""
    if not is_panelist(session, challenge, panelist):
        raise ServiceError("challenge.not_panelist")
    if challenge.status in ("announced", "accepted"):
        raise ServiceError("challenge.announced")
    application = _application(session, challenge, application_id)
    clean = _valid_scores(challenge, scores)
    existing = {s.criterion: s for s in session.scalars(select(ChallengeScore).where(
        ChallengeScore.application_id == application.id, ChallengeScore.panelist_id == panelist.id))}
    rows = []
    for criterion, value in clean.items():
        row = existing.get(criterion) or ChallengeScore(application_id=application.id, panelist_id=panelist.id,
                                                        criterion=criterion)
        row.score, row.created_at = value, utcnow()
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _valid_scores(challenge: Challenge, scores: dict[int, Any]) -> dict[int, int]:
    if set(scores) != set(range(len(challenge.criteria))) or any(v is None or v == "" for v in scores.values()):
        raise ServiceError("challenge.score_missing")
    clean = {}
    for criterion, value in scores.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ServiceError("challenge.bad_score") from None
        if not math.isfinite(number) or number != int(number) or not 0 <= number <= 10:
            raise ServiceError("challenge.bad_score")
        clean[int(criterion)] = int(number)
    return clean


@dataclass
class Ranked:
    """An application's weighted score (0-10) from the panel's mean per criterion."""

    application: ChallengeApplication
    total: Optional[float]
    per_criterion: list[Optional[float]]
    scored_by: int


def ranking(session: Session, challenge: Challenge) -> list[Ranked]:
    """Applications by weighted panel score, best first (unscored last)."""
    out = []
    for app in challenge.applications:
        rows = list(session.scalars(select(ChallengeScore).where(ChallengeScore.application_id == app.id)))
        means = []
        for i in range(len(challenge.criteria)):
            values = [r.score for r in rows if r.criterion == i]
            means.append(sum(values) / len(values) if values else None)
        total = (round(sum(c["weight"] * m for c, m in zip(challenge.criteria, means)), 2)
                 if means and all(m is not None for m in means) else None)
        out.append(Ranked(app, total, means, len({r.panelist_id for r in rows})))
    return sorted(out, key=lambda r: (r.total is None, -(r.total or 0), r.application.id))


def shortlist(session: Session, challenge: Challenge, application_ids: Iterable[int]) -> list[ChallengeApplication]:
    """Shortlist applications once applications have closed."""
    if challenge.status in ("announced", "accepted"):
        raise ServiceError("challenge.announced")
    if challenge.deadline >= clock.today():
        raise ServiceError("challenge.still_open", deadline=challenge.deadline.isoformat())
    chosen = set(application_ids)
    if not chosen:
        raise ServiceError("challenge.shortlist_empty")
    apps = [_application(session, challenge, i) for i in sorted(chosen)]
    for app in challenge.applications:
        app.status = "shortlisted" if app.id in chosen else "submitted"
    close_if_due(session, challenge)
    session.flush()
    challenge_notices.tell(session, challenge, {a.id: "shortlisted" if a.id in chosen else "not_shortlisted"
                                                for a in challenge.applications})
    return apps


def announce(session: Session, challenge: Challenge, application_id: int) -> ChallengeApplication:
    """揭榜: the winner among the shortlisted; everyone else is not selected."""
    if challenge.status in ("announced", "accepted"):
        raise ServiceError("challenge.announced")
    winner = _application(session, challenge, application_id)
    if winner.status != "shortlisted":
        raise ServiceError("challenge.not_shortlisted")
    for app in challenge.applications:
        app.status = "winner" if app.id == winner.id else "not_selected"
    challenge.status, challenge.winner_id, challenge.announced_at = "announced", winner.id, utcnow()
    session.flush()
    challenge_notices.tell(session, challenge, {a.id: a.status for a in challenge.applications})
    return winner


def winner_of(session: Session, challenge: Challenge) -> Optional[ChallengeApplication]:
    """The announced winning application."""
    return session.get(ChallengeApplication, challenge.winner_id) if challenge.winner_id else None


# ------------------------------------------------------------------------------------ suggestions

def as_doc(challenge: Challenge) -> Doc:
    """The challenge as a demand the engine can match (problem and indicators; no structure)."""
    return Doc(id=-challenge.id, kind="demand", title=challenge.title,
               body="\n".join(p for p in (challenge.problem, challenge.indicators) if p),
               field=challenge.field.code if challenge.field else None)


@dataclass
class Suggestion:
    """An achievement (and its university) worth inviting to apply."""

    achievement: Achievement
    score: float


def suggest(session: Session, runtime: Any, challenge: Challenge, k: int = 10) -> list[Suggestion]:
    """Published achievements most similar to the challenge text, best first (teams to invite)."""
    allowed = set(session.scalars(select(Achievement.id).where(Achievement.status == Status.PUBLISHED.value)))
    if not allowed:
        return []
    matches = runtime.matcher("achievement", session).match(as_doc(challenge), k=k, allowed_ids=allowed)
    rows = {a.id: a for a in session.scalars(select(Achievement).where(
        Achievement.id.in_([m.id for m in matches]), Achievement.status == Status.PUBLISHED.value))}
    return [Suggestion(rows[m.id], m.score) for m in matches if m.id in rows]
