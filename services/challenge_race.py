"""揭榜挂帅 end to end: a challenge made from published demands (the company is 发榜方), joint applications by
universities, institutes and companies, several winners (赛马) each with milestones whose progress rolls up to
the challenge, a panel's acceptance (验收) score, and a pipeline opportunity per winner tied to the demand.

Scoring, the panel and the shortlist are services.challenges'; applicants hear of the shortlist and the result
through services.challenge_notices. Status: open -> closed -> announced (awarded) -> accepted (every winner's
acceptance concluded).
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (Achievement, Challenge, ChallengeAcceptanceScore, ChallengeApplication, ChallengeDemand,
                    ChallengeMilestone, ChallengePartner, Demand, Organisation, OrgKind, Role, Status, User, utcnow)

from . import challenge_notices, challenges, clock, pipeline
from .errors import NotFound, ServiceError
from .listings import owning_side
from .organisations import CONFIDENTIAL_NAME
from .roadshows import flush_unique

APPLICANT_ROLES = (Role.UNIVERSITY.value, Role.COMPANY.value)  # institutes hold university accounts
MAX_PARTNERS = 5
MAX_AMOUNT = 1_000_000.0
PASS_MARK = 60.0
BOARD_STATUSES = ("open", "closed", "announced", "accepted")


# ------------------------------------------------------------------------------------------- create

def create_from_demands(session: Session, broker: User, demand_ids: Iterable[int], data: dict[str, Any]) -> Challenge:
    """A challenge from one or more published demands of one company, which becomes its 发榜方."""
    ids = sorted(set(int(i) for i in demand_ids))
    if not ids:
        raise ServiceError("race.no_demands")
    demands = list(session.scalars(select(Demand).where(Demand.id.in_(ids))))
    if len(demands) != len(ids) or any(d.status != Status.PUBLISHED.value for d in demands):
        raise ServiceError("race.demand_unknown")
    if len({d.organisation_id or -d.owner_id for d in demands}) != 1:
        raise ServiceError("race.one_issuer")
    # the demands' organisation (not the poster's present one); a confidential demand's company stays unnamed on
    # the public 榜单 (services.organisations.may_see_company): no issuer, the placeholder as sponsor
    confidential = any(d.confidential for d in demands)
    issuer = None if confidential else demands[0].organisation
    budget = data.get("budget")
    if budget is not None and (not math.isfinite(float(budget)) or not 0 <= float(budget) <= MAX_AMOUNT):
        raise ServiceError("race.bad_budget")
    winners = data.get("max_winners") or 1
    if not 1 <= int(winners) <= 20:
        raise ServiceError("race.bad_winners")
    base = {k: v for k, v in data.items() if k not in ("budget", "max_winners", "demand_ids")}
    base.setdefault("field_code", demands[0].field.code)
    base["sponsor"] = CONFIDENTIAL_NAME if confidential else issuer.name if issuer else demands[0].owner.display_name
    challenge = challenges.create_challenge(session, broker, base)
    challenge.issuer_org_id = issuer.id if issuer else None
    challenge.budget = float(budget) if budget is not None else None
    challenge.max_winners = int(winners)
    for d in demands:
        challenge.demands.append(ChallengeDemand(demand_id=d.id))
    session.flush()
    return challenge


def published_demands(session: Session, limit: int = 200) -> list[Demand]:
    """Published demands a broker may turn into a challenge, newest first."""
    return list(session.scalars(select(Demand).where(Demand.status == Status.PUBLISHED.value)
                                .order_by(Demand.id.desc()).limit(limit)))


# ------------------------------------------------------------------------------------------ apply

def partner_ids_named(session: Session, user: Any, text: str) -> list[int]:
    """The partner organisations an applicant typed, one name per line (or separated by 、 ; ，), as registered
    on the platform: companies and universities other than the applicant's own. The applicant names partners
    they know; the platform does not list every organisation to every applicant (thousands in a province, and
    who is registered is not for everyone to browse). Names compare as people write them: full- or half-width
    brackets and letters, spacing and case do not matter. Where several organisations answer to a name, the one
    staff verified is meant (a new registration cannot take a known name over), then the one spelt exactly so;
    a name that matches none, or several alike, is refused, naming it."""
    typed: dict[str, str] = {}  # name key -> the name as first typed
    for part in re.split(r"[\n\r、;；,，]+", text or ""):
        if part.strip():
            typed.setdefault(_name_key(part), part.strip())
    if len(typed) > MAX_PARTNERS:
        raise ServiceError("race.partners_many", n=MAX_PARTNERS)
    too_long = [n for n in typed.values() if len(n) > 200]
    if too_long:
        raise ServiceError("race.unknown_partner", names="、".join(n[:40] + "…" for n in too_long))
    if not typed:
        return []
    kinds = (OrgKind.COMPANY.value, OrgKind.UNIVERSITY.value)
    found: dict[str, list[Any]] = {}  # a POST now and then: every name is read, compared as keys in Python
    for row in session.execute(select(Organisation.id, Organisation.name, Organisation.verified)
                               .where(Organisation.kind.in_(kinds))):
        key = _name_key(row.name)
        if key in typed:
            found.setdefault(key, []).append(row)
    unknown, ambiguous, ids = [], [], []
    for key, name in typed.items():
        rows = found.get(key, [])
        verified = [r for r in rows if r.verified]
        exact = [r for r in rows if r.name.strip() == name]
        pick = next((c for c in (verified, exact, rows) if len(c) == 1), None)
        if not rows:
            unknown.append(name)
        elif pick is None:
            ambiguous.append(name)
        else:
            ids.append(pick[0].id)
    if unknown:
        raise ServiceError("race.unknown_partner", names="、".join(unknown))
    if ambiguous:
        raise ServiceError("race.ambiguous_partner", names="、".join(ambiguous))
    if getattr(user, "organisation_id", None) in ids:
        raise ServiceError("race.own_partner")
    return list(dict.fromkeys(ids))


def _name_key(name: str) -> str:
    """An organisation's name as compared: NFKC (full-width brackets and letters as half-width), runs of spaces as
    one, case folded."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def apply_joint(session: Session, challenge: Challenge, user: User, data: dict[str, Any]) -> ChallengeApplication:
    """A university, institute or company applies, alone or with partner organisations."""
    if user.role not in APPLICANT_ROLES:
        raise ServiceError("race.apply_role")
    if challenge.deadline < clock.today():
        raise ServiceError("challenge.deadline_passed", deadline=challenge.deadline.isoformat())
    if challenge.status != "open":
        raise ServiceError("challenge.closed")
    challenges.refuse_second_application(session, challenge, user)
    partner_ids = sorted(set(int(i) for i in data.get("partner_ids") or []))
    if len(partner_ids) > MAX_PARTNERS:
        raise ServiceError("race.partners_many", n=MAX_PARTNERS)
    partners = list(session.scalars(select(Organisation).where(Organisation.id.in_(partner_ids)))) if partner_ids else []
    if len(partners) != len(partner_ids) or any(
            o.id == user.organisation_id or o.kind not in (OrgKind.COMPANY.value, OrgKind.UNIVERSITY.value)
            for o in partners):
        raise ServiceError("race.bad_partner")
    ids = sorted(set(int(i) for i in data.get("achievement_ids") or []))
    # a colleague's achievement of the user's organisation is the user's too (listings.can_edit_listing)
    owned = set(session.scalars(select(Achievement.id).where(Achievement.id.in_(ids), owning_side(Achievement, user),
                                                              Achievement.status == Status.PUBLISHED.value)))
    if owned != set(ids):
        raise ServiceError("challenge.bad_achievement")
    application = ChallengeApplication(challenge=challenge, applicant=user, organisation_id=user.organisation_id,
                                       team=(data.get("team") or "").strip(), approach=(data.get("approach") or "").strip(),
                                       achievement_ids=ids, status="submitted")
    application.partners = [ChallengePartner(organisation_id=o.id) for o in partners]
    session.add(application)
    flush_unique(session, "challenge.already_applied")
    return application


# ------------------------------------------------------------------------------------------- award

def award(session: Session, challenge: Challenge, application_ids: Iterable[int]) -> list[ChallengeApplication]:
    """赛马: several shortlisted applications win (places 1..n in the order given); everyone is told, and each
    winner opens a pipeline opportunity per demand of the challenge (with its first linked achievement)."""
    if challenge.status in ("announced", "accepted"):
        raise ServiceError("race.not_awardable")
    chosen = list(dict.fromkeys(int(i) for i in application_ids))
    if not chosen:
        raise ServiceError("challenge.shortlist_empty")
    if len(chosen) > challenge.max_winners:
        raise ServiceError("race.too_many_winners", n=challenge.max_winners)
    by_id = {a.id: a for a in challenge.applications}
    if any(i not in by_id for i in chosen):
        raise NotFound()
    if any(by_id[i].status != "shortlisted" for i in chosen):
        raise ServiceError("race.not_shortlisted")
    for application in challenge.applications:
        application.status = "not_selected"
    for place, i in enumerate(chosen, start=1):
        by_id[i].status, by_id[i].place = "winner", str(place)
    challenge.status, challenge.winner_id, challenge.announced_at = "announced", chosen[0], utcnow()
    session.flush()
    for i in chosen:
        _open_opportunities(session, challenge, by_id[i])
    challenge_notices.tell(session, challenge, {a.id: a.status for a in challenge.applications})
    return [by_id[i] for i in chosen]


def _open_opportunities(session: Session, challenge: Challenge, application: ChallengeApplication) -> None:
    """The winner's pair(s) enter the challenge broker's pipeline: each demand with its first linked achievement."""
    if not application.achievement_ids:
        return
    achievement_id = sorted(application.achievement_ids)[0]
    for link in challenge.demands:
        opp = pipeline.get_or_open(session, challenge.broker, link.demand_id, achievement_id)
        if application.opportunity_id is None:
            application.opportunity_id = opp.id
    session.flush()


def winners(challenge: Challenge) -> list[ChallengeApplication]:
    """The winning applications by place."""
    return sorted((a for a in challenge.applications if a.status == "winner"), key=lambda a: (a.place, a.id))


# -------------------------------------------------------------------------------------- milestones

def _winner(challenge: Challenge, application_id: int) -> ChallengeApplication:
    application = next((a for a in challenge.applications if a.id == application_id), None)
    if application is None:
        raise NotFound()
    if application.status != "winner":
        raise ServiceError("race.not_winner")
    return application


def add_milestone(session: Session, challenge: Challenge, application_id: int, due_on: Optional[date],
                  deliverable: str, amount: Any) -> ChallengeMilestone:
    """A milestone of a winning team: due date, deliverable, amount (万元)."""
    application = _winner(challenge, application_id)
    deliverable = (deliverable or "").strip()
    try:
        value = float(amount)
    except (TypeError, ValueError):
        raise ServiceError("race.bad_milestone") from None
    if due_on is None or not 2 <= len(deliverable) <= 200 or not math.isfinite(value) or not 0 <= value <= MAX_AMOUNT:
        raise ServiceError("race.bad_milestone")
    milestone = ChallengeMilestone(due_on=due_on, deliverable=deliverable, amount=value, progress=0)
    application.milestones.append(milestone)
    session.flush()
    return milestone


def set_progress(session: Session, challenge: Challenge, milestone_id: int, progress: Any,
                 note: str = "") -> ChallengeMilestone:
    """Record a milestone's progress (0-100; 100 marks it done today)."""
    milestone = session.get(ChallengeMilestone, milestone_id)
    application = session.get(ChallengeApplication, milestone.application_id) if milestone else None
    if application is None or application.challenge_id != challenge.id:
        raise NotFound()
    if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
        raise ServiceError("race.bad_progress")
    milestone.progress, milestone.note = progress, (note or "").strip()[:2000]
    milestone.done_on = clock.today() if progress == 100 else None
    session.flush()
    return milestone


def application_progress(application: ChallengeApplication) -> float:
    """A team's progress: its milestones' progress weighted by their amounts (equal weights when all are 0)."""
    stones = list(application.milestones)
    if not stones:
        return 0.0
    total = sum(m.amount for m in stones)
    if total <= 0:
        return round(sum(m.progress for m in stones) / len(stones), 1)
    return round(sum(m.progress * m.amount for m in stones) / total, 1)


def challenge_progress(challenge: Challenge) -> float:
    """The challenge's progress: the mean of its winning teams' progress."""
    teams = winners(challenge)
    return round(sum(application_progress(a) for a in teams) / len(teams), 1) if teams else 0.0


# -------------------------------------------------------------------------------------- acceptance

def score_acceptance(session: Session, challenge: Challenge, application_id: int, panelist: User,
                     score: Any) -> ChallengeAcceptanceScore:
    """A panelist's 0-100 acceptance score of a winning team (replaces their earlier one)."""
    if not challenges.is_panelist(session, challenge, panelist):
        raise ServiceError("challenge.not_panelist")
    application = _winner(challenge, application_id)
    if application.accepted_at is not None:
        raise ServiceError("race.already_concluded")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise ServiceError("race.bad_acceptance_score")
    row = session.scalar(select(ChallengeAcceptanceScore).where(
        ChallengeAcceptanceScore.application_id == application.id, ChallengeAcceptanceScore.panelist_id == panelist.id))
    if row is None:
        row = ChallengeAcceptanceScore(application_id=application.id, panelist_id=panelist.id)
        session.add(row)
    row.score, row.created_at = score, utcnow()
    session.flush()
    return row


def conclude_acceptance(session: Session, challenge: Challenge, application_id: int) -> ChallengeApplication:
    """验收: the panel's mean score decides (pass at 60); once every winner is concluded the challenge is accepted."""
    application = _winner(challenge, application_id)
    if application.accepted_at is not None:
        raise ServiceError("race.already_concluded")
    scores = list(session.scalars(select(ChallengeAcceptanceScore.score).where(
        ChallengeAcceptanceScore.application_id == application.id)))
    if not scores:
        raise ServiceError("race.no_acceptance_scores")
    application.acceptance_score = round(sum(scores) / len(scores), 1)
    application.acceptance_passed = application.acceptance_score >= PASS_MARK
    application.accepted_at = utcnow()
    if all(a.accepted_at is not None for a in winners(challenge)):
        challenge.status = "accepted"
    session.flush()
    return application


# -------------------------------------------------------------------------------------------- board

@dataclass
class BoardRow:
    """A challenge on the public 榜单 with its winners' organisations and rolled-up progress."""

    challenge: Challenge
    winners: list[str]
    progress: float


def board(session: Session, status: str = "") -> list[BoardRow]:
    """Open, awarded and accepted challenges (closed ones too), open first; names and numbers only."""
    stmt = select(Challenge).order_by(Challenge.deadline.desc(), Challenge.id.desc())
    if status in BOARD_STATUSES:
        stmt = stmt.where(Challenge.status == status)
    rows = []
    for c in session.scalars(stmt.limit(500)):
        names = [team_name(a) for a in winners(c)]
        rows.append(BoardRow(c, names, challenge_progress(c)))
    order = {s: i for i, s in enumerate(BOARD_STATUSES)}
    return sorted(rows, key=lambda r: order.get(_board_status(r.challenge), 9))


def _board_status(challenge: Challenge) -> str:
    return "closed" if challenge.status == "open" and challenge.deadline < clock.today() else challenge.status


def team_name(application: ChallengeApplication) -> str:
    """The team as shown publicly: the lead's organisation and its partners' names."""
    lead = application.organisation.name if application.organisation else application.applicant.display_name
    return " + ".join([lead] + [p.organisation.name for p in application.partners])


def get(session: Session, challenge_id: int) -> Challenge:
    """Any challenge (the board is public)."""
    challenge = session.get(Challenge, challenge_id)
    if challenge is None:
        raise NotFound()
    return challenge
