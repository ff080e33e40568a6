"""The advisory panel (科技顾问团, issue 21): advisor accounts and profiles, suggestions ranked by the engine
(expertise against the achievement's text), conflicts of interest, panels, reviews, the summary, the gate
before a roadshow presentation and the reminders.

Who sees what: staff (brokers, admins) every panel; the achievement's owning side (its organisation's members,
as listings are shared: services/ownership.py) the summary of its panels; an advisor only the panels assigned to
them and their own review (never the other advisors' scores)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Sequence

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import (ADVISOR_PERSPECTIVES, CRITERIA, ORG_ROLES, PERSPECTIVE_ZH, Achievement, AdvisorProfile,
                    ChallengeApplication, ChallengePartner, Organisation, OrgKind, Panel, PanelMember, PanelReview,
                    Role, Roadshow, Status, User, utcnow)

from . import accounts, audit, clock, notifications, ownership
from .errors import NotFound, ServiceError

STAFF = (Role.BROKER.value, Role.ADMIN.value)
MAX_PANEL = 12
MAX_EXPERTISE = 4000
MAX_COMMENT = 4000
MAX_VALUE = Decimal("10000000")  # 万元
REMIND_DAYS = 2
ORG_KINDS = tuple(k.value for k in OrgKind)


# ------------------------------------------------------------------------------------------- advisors

def profile_for(session: Session, user: User) -> Optional[AdvisorProfile]:
    return session.scalar(select(AdvisorProfile).where(AdvisorProfile.user_id == user.id))


def advisors(session: Session) -> list[AdvisorProfile]:
    """Every active advisor with a profile, by name."""
    return list(session.scalars(select(AdvisorProfile).join(User, User.id == AdvisorProfile.user_id)
                                .where(User.active.is_(True), User.role == Role.ADVISOR.value)
                                .order_by(User.display_name, User.id)))


def _clean_profile(data: dict) -> dict:
    perspective = (data.get("perspective") or "").strip()
    if perspective not in ADVISOR_PERSPECTIVES:
        raise ServiceError("panel.bad_perspective")
    expertise = (data.get("expertise") or "").strip()
    if not 2 <= len(expertise) <= MAX_EXPERTISE:
        raise ServiceError("panel.bad_expertise", max=MAX_EXPERTISE)
    fields_text = ",".join(w.strip() for w in re.split(r"[,，、;；\n]", data.get("fields") or "") if w.strip())
    if len(fields_text) > 500:
        raise ServiceError("panel.bad_fields", max=500)
    return {"perspective": perspective, "expertise": expertise, "fields": fields_text}


def _organisation(session: Session, data: dict) -> Optional[Organisation]:
    org_id = data.get("organisation_id")
    if org_id:
        org = session.get(Organisation, _id(org_id)) if _id(org_id) else None
        if org is None:
            raise ServiceError("panel.bad_organisation")
        return org
    name = (data.get("organisation_name") or "").strip()
    if not name:
        return None
    if len(name) > 200:
        raise ServiceError("panel.bad_organisation")
    kind = data.get("organisation_kind") or OrgKind.COMPANY.value
    if kind not in ORG_KINDS:
        raise ServiceError("panel.bad_organisation")
    return accounts.find_or_create_organisation(session, name, OrgKind(kind))


def create_advisor(session: Session, actor: User, data: dict) -> AdvisorProfile:
    """An administrator creates an advisor account with its profile (advisors do not register themselves)."""
    if actor.role != Role.ADMIN.value:
        raise ServiceError("panel.forbidden")
    values = _clean_profile(data)
    org = _organisation(session, data)
    user = accounts.create_user(session, email=(data.get("email") or "").strip().lower(),
                                password=data.get("password") or "", display_name=(data.get("display_name") or "").strip(),
                                role=Role.ADVISOR, organisation=org)
    profile = AdvisorProfile(user=user, organisation=org, **values)
    session.add(profile)
    session.flush()
    return profile


def save_profile(session: Session, user: User, data: dict) -> AdvisorProfile:
    """An advisor edits their own profile (the organisation is the administrator's to change)."""
    if user.role != Role.ADVISOR.value:
        raise ServiceError("panel.forbidden")
    values = _clean_profile(data)
    profile = profile_for(session, user)
    if profile is None:
        profile = AdvisorProfile(user_id=user.id, organisation_id=user.organisation_id)
        session.add(profile)
    for key, value in values.items():
        setattr(profile, key, value)
    session.flush()
    return profile


# ------------------------------------------------------------------------------------------- suggestions

def achievement_text(a: Achievement) -> str:
    return "。".join(x for x in (a.title, a.keywords or "", a.abstract or "") if x)


def advisor_text(p: AdvisorProfile) -> str:
    return f"{p.expertise}。{p.fields.replace(',', '、')}" if p.fields else p.expertise


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\s+", "", text.lower())
    return {text[i:i + 2] for i in range(len(text) - 1)}


def lexical_scores(query: str, texts: Sequence[str]) -> list[float]:
    """Share of the query's character pairs found in each text: the ranking when the engine is not loaded."""
    q = _bigrams(query)
    return [len(q & _bigrams(t)) / len(q) if q else 0.0 for t in texts]


def engine_scores(encoder: Any, query: str, texts: Sequence[str]) -> list[float]:
    """Cosine similarity of the achievement (as a query) to each expertise text (as a passage)."""
    if not texts:
        return []
    q = np.asarray(encoder.encode_queries([query])[0], dtype=np.float32)
    p = np.asarray(encoder.encode_passages(list(texts)), dtype=np.float32)
    q = q / (np.linalg.norm(q) or 1.0)
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-9)
    return [float(x) for x in p @ q]


def achievement_org_id(a: Achievement) -> Optional[int]:
    return a.organisation_id or (a.owner.organisation_id if a.owner else None)


def _applications_of(session: Session, user_id: Optional[int], org_id: Optional[int]) -> set[int]:
    conds = []
    if user_id:
        conds.append(ChallengeApplication.applicant_id == user_id)
    if org_id:
        conds.append(ChallengeApplication.organisation_id == org_id)
        conds.append(ChallengeApplication.id.in_(select(ChallengePartner.application_id)
                                                 .where(ChallengePartner.organisation_id == org_id)))
    if not conds:
        return set()
    return set(session.scalars(select(ChallengeApplication.id).where(or_(*conds))))


def conflict(session: Session, profile: AdvisorProfile, achievement: Achievement) -> Optional[str]:
    """Why this advisor may not review this achievement: 'same_organisation', 'co_applied', 'owner', or None."""
    if profile.user_id == achievement.owner_id:
        return "owner"
    org_id = achievement_org_id(achievement)
    if profile.organisation_id and profile.organisation_id == org_id:
        return "same_organisation"
    mine = _applications_of(session, profile.user_id, profile.organisation_id)
    if mine and mine & _applications_of(session, achievement.owner_id, org_id):
        return "co_applied"
    return None


@dataclass
class Suggestion:
    profile: AdvisorProfile
    score: float
    conflict: Optional[str] = None


def suggest(session: Session, achievement: Achievement, encoder: Any = None, k: int = 30) -> list[Suggestion]:
    """Advisors ranked by how close their expertise is to the achievement (the engine's encoder when given,
    else shared character pairs); conflicting advisors are listed last with the reason."""
    profiles = advisors(session)
    texts = [advisor_text(p) for p in profiles]
    query = achievement_text(achievement)
    scores = engine_scores(encoder, query, texts) if encoder is not None else lexical_scores(query, texts)
    rows = [Suggestion(p, round(s, 4), conflict(session, p, achievement)) for p, s in zip(profiles, scores)]
    rows.sort(key=lambda r: (r.conflict is not None, -r.score, r.profile.id))
    return rows[:k]


# ------------------------------------------------------------------------------------------- panels

def _staff(user: User) -> None:
    if user.role not in STAFF:
        raise ServiceError("panel.forbidden")


MAX_ID = 2_147_483_647  # a database integer


def _id(value: Any) -> Optional[int]:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 1 <= n <= MAX_ID else None


def _achievement(session: Session, achievement_id: Any) -> Achievement:
    n = _id(achievement_id)
    a = session.get(Achievement, n) if n else None
    if a is None or a.status != Status.PUBLISHED.value:
        raise ServiceError("panel.bad_achievement")
    return a


def _advisor_profile(session: Session, advisor_id: Any) -> AdvisorProfile:
    n = _id(advisor_id)
    profile = session.scalar(select(AdvisorProfile).where(AdvisorProfile.user_id == n)) if n else None
    if profile is None or profile.user.role != Role.ADVISOR.value or not profile.user.active:
        raise ServiceError("panel.bad_advisor")
    return profile


def _assign(session: Session, panel: Panel, profile: AdvisorProfile) -> PanelMember:
    reason = conflict(session, profile, panel.achievement)
    if reason:
        raise ServiceError("panel.conflict", name=profile.user.display_name, reason=reason)
    if any(m.advisor_id == profile.user_id for m in panel.members):
        raise ServiceError("panel.already_member", name=profile.user.display_name)
    if len(panel.members) >= MAX_PANEL:
        raise ServiceError("panel.too_many", n=MAX_PANEL)
    member = PanelMember(advisor_id=profile.user_id, advisor=profile.user)
    panel.members.append(member)
    panel.status, panel.completed_at = "open", None
    notifications.notify(session, profile.user_id, "panel_assigned", {
        "panel_id": panel.id, "title": panel.achievement.title, "deadline": panel.deadline.isoformat()})
    return member


def create_panel(session: Session, broker: User, data: dict, today: Optional[date] = None) -> Panel:
    """A broker forms a panel for a published achievement from advisors; a conflicting advisor is refused
    with the reason (nothing is saved). data: achievement_id, advisor_ids, deadline, gate, roadshow_id, note."""
    _staff(broker)
    achievement = _achievement(session, data.get("achievement_id"))
    deadline, ids, note = _panel_terms(data, today or clock.today())
    roadshow_id = data.get("roadshow_id") or None
    if roadshow_id and (_id(roadshow_id) is None or session.get(Roadshow, _id(roadshow_id)) is None):
        raise ServiceError("panel.bad_roadshow")
    profiles = [_advisor_profile(session, i) for i in ids]
    # one open panel per achievement and roadshow (as a panel set has it): a second submit of the same form, or
    # two brokers at once, must not form a twin. The achievement's row is locked first (PostgreSQL; SQLite's
    # writing transactions are one at a time already), so two requests check one after the other.
    # A panel past its deadline takes no more reviews, so it does not count: the broker forms a new one.
    session.execute(select(Achievement.id).where(Achievement.id == achievement.id).with_for_update(key_share=True))
    same_roadshow = Panel.roadshow_id.is_(None) if roadshow_id is None else Panel.roadshow_id == _id(roadshow_id)
    twin = session.scalar(select(Panel.id).where(Panel.achievement_id == achievement.id, Panel.status == "open",
                                                 Panel.deadline >= (today or clock.today()), same_roadshow).limit(1))
    if twin is not None:
        raise ServiceError("panel.exists", id=twin, roadshow=roadshow_id is not None)
    panel = Panel(achievement=achievement, roadshow_id=roadshow_id, deadline=deadline, gate=bool(data.get("gate")),
                  note=note, created_by_id=broker.id, status="open")
    session.add(panel)
    for p in profiles:  # conflicts first, before anything is notified
        reason = conflict(session, p, achievement)
        if reason:
            raise ServiceError("panel.conflict", name=p.user.display_name, reason=reason)
    session.flush()
    for p in profiles:
        _assign(session, panel, p)
    session.flush()
    return panel


# ------------------------------------------------------------------------------------------- panel sets

@dataclass
class SetSuggestion:
    """An advisor for a set of achievements: the mean closeness, and the achievements they conflict with."""
    profile: AdvisorProfile
    score: float
    conflicts: dict[int, str] = field(default_factory=dict)  # achievement id -> reason


@dataclass
class PanelSet:
    """What forming panels over a set of achievements did: the panels formed, the advisors left off an
    achievement for a conflict of interest, and the achievements that already had a panel for the roadshow."""
    panels: list[Panel] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (advisor, achievement title, reason)
    existing: list[str] = field(default_factory=list)  # achievement titles


def roadshow_achievements(session: Session, roadshow: Roadshow) -> list[Achievement]:
    """The roadshow's presenting achievements that are published (a panel reviews a published achievement)."""
    return [p.achievement for p in roadshow.presenters if p.achievement.status == Status.PUBLISHED.value]


def suggest_for_set(session: Session, achievements: Sequence[Achievement], encoder: Any = None,
                    k: int = 30) -> list[SetSuggestion]:
    """Advisors ranked by their mean closeness to the achievements (as `suggest`), with the achievements each
    conflicts with; those who conflict with every achievement are listed last."""
    profiles = advisors(session)
    texts = [advisor_text(p) for p in profiles]
    totals = [0.0] * len(profiles)
    for a in achievements:
        query = achievement_text(a)
        scores = engine_scores(encoder, query, texts) if encoder is not None else lexical_scores(query, texts)
        totals = [t + s for t, s in zip(totals, scores)]
    n = max(len(achievements), 1)
    rows = [SetSuggestion(p, round(t / n, 4), {a.id: r for a in achievements
                                                 if (r := conflict(session, p, a)) is not None})
            for p, t in zip(profiles, totals)]
    rows.sort(key=lambda r: (bool(achievements) and len(r.conflicts) == len(achievements), len(r.conflicts),
                             -r.score, r.profile.id))
    return rows[:k]


def _panel_terms(data: dict, today: date) -> tuple[date, list[Any], str]:
    """The deadline, advisor ids and note of a panel (or a set of them), checked as create_panel checks them."""
    deadline = data.get("deadline")
    if not isinstance(deadline, date) or deadline < today or deadline > today + timedelta(days=366):
        raise ServiceError("panel.bad_deadline")
    ids = list(dict.fromkeys(data.get("advisor_ids") or []))
    if not ids:
        raise ServiceError("panel.no_advisors")
    if len(ids) > MAX_PANEL:
        raise ServiceError("panel.too_many", n=MAX_PANEL)
    note = (data.get("note") or "").strip()
    if len(note) > MAX_COMMENT:
        raise ServiceError("panel.bad_note", max=MAX_COMMENT)
    return deadline, ids, note


def create_panel_set(session: Session, broker: User, roadshow: Roadshow, data: dict,
                     today: Optional[date] = None) -> PanelSet:
    """Before a roadshow, one action forms one panel per chosen presenting achievement with the same advisors,
    deadline, gate and note (each panel is an ordinary panel with the roadshow set). An advisor with a conflict
    of interest is left off that achievement's panel only (reported, never seated); an achievement that
    already has a panel for this roadshow is left alone. data: achievement_ids, advisor_ids, deadline, gate,
    note. Refused (nothing saved) when no panel would be formed, or when the roadshow has already taken place."""
    from .roadshows import is_manager
    _staff(broker)
    if not is_manager(broker, roadshow):
        raise NotFound()
    today = today or clock.today()
    if roadshow.held_on < today:  # no deadline fits between today and a roadshow already held
        raise ServiceError("panel.set_roadshow_over", date=roadshow.held_on.isoformat())
    presenting = {a.id: a for a in roadshow_achievements(session, roadshow)}
    chosen = list(dict.fromkeys(_id(i) for i in (data.get("achievement_ids") or [])))
    if not chosen:
        raise ServiceError("panel.set_no_achievements")
    if any(i not in presenting for i in chosen):
        raise ServiceError("panel.set_bad_achievement")
    deadline, ids, note = _panel_terms(data, today)
    if deadline > roadshow.held_on:
        raise ServiceError("panel.set_after_roadshow", date=roadshow.held_on.isoformat())
    profiles = [_advisor_profile(session, i) for i in ids]
    taken = set(session.scalars(select(Panel.achievement_id).where(Panel.roadshow_id == roadshow.id,
                                                                    Panel.achievement_id.in_(chosen))))
    result = PanelSet()
    plans: list[tuple[Achievement, list[AdvisorProfile]]] = []
    for achievement_id in chosen:
        achievement = presenting[achievement_id]
        if achievement_id in taken:
            result.existing.append(achievement.title)
            continue
        free = []
        for p in profiles:
            reason = conflict(session, p, achievement)
            if reason:
                result.skipped.append((p.user.display_name, achievement.title, reason))
            else:
                free.append(p)
        if free:
            plans.append((achievement, free))
    if not plans:
        raise ServiceError("panel.set_nothing", existing=len(result.existing), conflicts=len(result.skipped))
    for achievement, free in plans:
        panel = Panel(achievement=achievement, roadshow_id=roadshow.id, deadline=deadline, gate=bool(data.get("gate")),
                      note=note, created_by_id=broker.id, status="open")
        session.add(panel)
        session.flush()
        for p in free:
            _assign(session, panel, p)
        result.panels.append(panel)
    session.flush()
    return result


def roadshow_panels(session: Session, roadshow_id: int) -> list[Panel]:
    """The panels formed for a roadshow, by achievement."""
    return list(session.scalars(select(Panel).where(Panel.roadshow_id == roadshow_id)
                                .order_by(Panel.achievement_id, Panel.id)))


def add_member(session: Session, broker: User, panel: Panel, advisor_id: Any) -> PanelMember:
    _staff(broker)
    member = _assign(session, panel, _advisor_profile(session, advisor_id))
    session.flush()
    return member


def remove_member(session: Session, broker: User, panel: Panel, member_id: int, drop_review: bool = False) -> None:
    """Staff take an advisor off a panel; the panel may become complete. An advisor who has reviewed takes their
    scores out of the summary: only when drop_review says the staff member meant that (refused otherwise)."""
    _staff(broker)
    member = next((m for m in panel.members if m.id == member_id), None)
    if member is None:
        raise NotFound()
    if member.review is not None and not drop_review:
        raise ServiceError("panel.member_reviewed", name=member.advisor.display_name)
    if member.review is not None:
        audit.record(session, "panel.review_dropped", actor=broker, target=f"panel:{panel.id}",
                     detail={"advisor": member.advisor_id})
    panel.members.remove(member)
    session.flush()
    _update_status(panel)


def get_panel(session: Session, panel_id: int) -> Panel:
    panel = session.get(Panel, panel_id)
    if panel is None:
        raise NotFound()
    return panel


def is_owner(user: Optional[User], panel: Panel) -> bool:
    """On the achievement's owning side, the rule of ownership.side_user_ids (as listings are shared): its
    organisation's active members of the owner role, or its poster when it has no organisation."""
    a = panel.achievement
    if user is None or getattr(user, "id", None) is None:
        return False
    if a.organisation_id is None:
        return a.owner_id == user.id
    return (user.organisation_id == a.organisation_id and user.role == ownership.OWNER_ROLE[a.kind]
            and user.org_role in ORG_ROLES and bool(user.active))


def _owning_side(user: User) -> Any:
    """is_owner as a WHERE clause on Achievement: the achievements on the user's owning side."""
    posted = (Achievement.owner_id == user.id) & Achievement.organisation_id.is_(None)
    lister = user.role == ownership.OWNER_ROLE["achievement"] and user.org_role in ORG_ROLES
    if user.organisation_id is not None and lister:
        return or_(Achievement.organisation_id == user.organisation_id, posted)
    return posted


def can_see_summary(user: Optional[User], panel: Panel) -> bool:
    """Staff and the achievement's owning side see the panel's summary; nobody else (advisors: their own review)."""
    return user is not None and (user.role in STAFF or is_owner(user, panel))


def panel_for_viewer(session: Session, panel_id: int, user: User) -> Panel:
    """The panel for staff or the achievement's owning side; NotFound for anyone else."""
    panel = get_panel(session, panel_id)
    if not can_see_summary(user, panel):
        raise NotFound()
    return panel


def panels_stmt(user: User):
    """Panels a user may list: staff all, a lister those of the achievements on its owning side (its
    organisation's), an advisor its assignments."""
    stmt = select(Panel).order_by(Panel.deadline.desc(), Panel.id.desc())
    if user.role in STAFF:
        return stmt
    if user.role == Role.ADVISOR.value:
        return stmt.where(Panel.id.in_(select(PanelMember.panel_id).where(PanelMember.advisor_id == user.id)))
    return stmt.where(Panel.achievement_id.in_(select(Achievement.id).where(_owning_side(user))))


def panels_for(session: Session, user: User, limit: int = 200) -> list[Panel]:
    return list(session.scalars(panels_stmt(user).limit(limit)))


def assignment(session: Session, panel_id: int, advisor: User) -> PanelMember:
    """The advisor's own seat on a panel; NotFound for a panel not assigned to them."""
    member = session.scalar(select(PanelMember).where(PanelMember.panel_id == panel_id,
                                                      PanelMember.advisor_id == advisor.id))
    if member is None:
        raise NotFound()
    return member


def assignments(session: Session, advisor: User) -> list[PanelMember]:
    return list(session.scalars(select(PanelMember).join(Panel).where(PanelMember.advisor_id == advisor.id)
                                .order_by(Panel.status.desc(), Panel.deadline, Panel.id)))


# ------------------------------------------------------------------------------------------- reviews

def _score(data: dict, key: str) -> int:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise ServiceError("panel.bad_score", criterion=key)
    if not 1 <= n <= 5:
        raise ServiceError("panel.bad_score", criterion=key)
    return n


def _money(value: Any) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ServiceError("panel.bad_value")
    if not d.is_finite() or d < 0 or d > MAX_VALUE:
        raise ServiceError("panel.bad_value")
    return d.quantize(Decimal("0.0001"))


def submit_review(session: Session, panel_id: int, advisor: User, data: dict,
                  today: Optional[date] = None) -> PanelReview:
    """An assigned advisor scores the achievement (again, until the deadline); the last review completes it."""
    member = assignment(session, panel_id, advisor)
    panel = member.panel
    if (today or clock.today()) > panel.deadline:
        raise ServiceError("panel.deadline_passed", date=panel.deadline.isoformat())
    scores = {key: _score(data, key) for key in CRITERIA}
    comment = (data.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ServiceError("panel.bad_comment", max=MAX_COMMENT)
    lo = hi = None
    profile = profile_for(session, advisor)
    if profile is not None and profile.perspective == "investor":
        lo, hi = _money(data.get("value_min")), _money(data.get("value_max"))
        if lo is None or hi is None:
            raise ServiceError("panel.value_required")
        if lo > hi:
            raise ServiceError("panel.value_order")
    review = member.review
    if review is None:
        review = PanelReview()
        member.review = review
    for key, value in scores.items():
        setattr(review, key, value)
    review.comment, review.value_min, review.value_max, review.submitted_at = comment, lo, hi, utcnow()
    session.flush()
    _update_status(panel)
    session.flush()
    return review


def _update_status(panel: Panel) -> None:
    done = bool(panel.members) and all(m.review is not None for m in panel.members)
    if done and panel.status != "complete":
        panel.status, panel.completed_at = "complete", utcnow()
    elif not done:
        panel.status, panel.completed_at = "open", None


@dataclass
class Summary:
    panel_id: int
    members: int
    reviews: int
    complete: bool
    means: dict[str, Optional[float]] = field(default_factory=dict)
    value_min: Optional[float] = None
    value_max: Optional[float] = None
    comments: list[tuple[str, str]] = field(default_factory=list)  # (perspective, comment), no names

    def as_dict(self) -> dict:
        return {"panel_id": self.panel_id, "members": self.members, "reviews": self.reviews,
                "complete": self.complete, "means": self.means, "value_min": self.value_min,
                "value_max": self.value_max,
                "comments": [{"perspective": p, "comment": c} for p, c in self.comments]}

    def text_zh(self) -> str:
        """One line for reports: means per criterion, count and the investors' range."""
        from models import CRITERIA_ZH
        if not self.reviews:
            return f"顾问团评议中（0/{self.members}）"
        parts = [f"{CRITERIA_ZH[k]}{self.means[k]:.1f}" for k in CRITERIA]
        text = "，".join(parts) + f"（{self.reviews}/{self.members}位顾问{'' if self.complete else '，评议中'}）"
        if self.value_min is not None:
            text += f"；投资家估值{self.value_min:g}~{self.value_max:g}万元"
        return text


def summary(panel: Panel) -> Summary:
    """Means per criterion over submitted reviews, how many reviewed, the investors' value range (the lowest
    minimum to the highest maximum) and the comments labelled by perspective only."""
    reviews = [m.review for m in panel.members if m.review is not None]
    means = {k: (round(sum(getattr(r, k) for r in reviews) / len(reviews), 2) if reviews else None)
             for k in CRITERIA}
    lows = [float(r.value_min) for r in reviews if r.value_min is not None]
    highs = [float(r.value_max) for r in reviews if r.value_max is not None]
    perspectives = {}
    for m in panel.members:
        if m.review is not None:
            p = m.advisor and _perspective_of(m)
            perspectives[m.id] = p
    comments = [(perspectives.get(m.id) or "", m.review.comment) for m in panel.members
                if m.review is not None and m.review.comment]
    return Summary(panel.id, len(panel.members), len(reviews), panel.status == "complete", means,
                   min(lows) if lows else None, max(highs) if highs else None, comments)


def _perspective_of(member: PanelMember) -> str:
    from sqlalchemy.orm import object_session
    s = object_session(member)
    p = s.scalar(select(AdvisorProfile.perspective).where(AdvisorProfile.user_id == member.advisor_id)) if s else None
    return p or ""


def latest_summaries(session: Session, achievement_ids: Sequence[int]) -> dict[int, Summary]:
    """The newest panel's summary of each achievement that has one (reports and roadshow proposals)."""
    ids = sorted({i for i in achievement_ids if i})
    out: dict[int, Summary] = {}
    if not ids:
        return out
    for panel in session.scalars(select(Panel).where(Panel.achievement_id.in_(ids))
                                 .order_by(Panel.achievement_id, Panel.id.desc())):
        if panel.achievement_id not in out:
            out[panel.achievement_id] = summary(panel)
    return out


def check_gate(session: Session, achievement_id: int) -> None:
    """Refuse while a gating panel of the achievement has not completed its reviews."""
    for panel in session.scalars(select(Panel).where(Panel.achievement_id == achievement_id, Panel.gate.is_(True),
                                                     Panel.status != "complete")):
        s = summary(panel)
        raise ServiceError("panel.gate_open", title=panel.achievement.title, done=s.reviews, total=s.members)


# ------------------------------------------------------------------------------------------- reminders

def remind_due(session: Session, days: int = REMIND_DAYS, today: Optional[date] = None) -> int:
    """Tell each advisor once whose review of an open panel is missing and due within `days` days.
    Returns the number of reminders (the caller commits)."""
    today = today or clock.today()
    rows = session.scalars(select(PanelMember).join(Panel).where(
        Panel.status == "open", Panel.deadline >= today, Panel.deadline <= today + timedelta(days=days),
        PanelMember.reminded_at.is_(None)))
    n = 0
    for member in rows:
        if member.review is not None or not member.advisor.active:
            continue
        member.reminded_at = utcnow()
        n += notifications.notify(session, member.advisor_id, "panel_review_due", {
            "panel_id": member.panel_id, "title": member.panel.achievement.title,
            "deadline": member.panel.deadline.isoformat()}) is not None
    session.flush()
    return n


def perspective_zh(code: str) -> str:
    return PERSPECTIVE_ZH.get(code, code)
