"""Roadshows (路演): create, propose presenters by coverage, invite, register, wish, schedule, intents.

The optimisation lives in matchmaking.schedule (a pure library); this module turns rows into its
problems and its answers back into rows. Contact details of listings never leave this module: rows for
pages and exports carry titles and organisation names only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Optional

import numpy as np
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from matchmaking.bands import is_match
from matchmaking.schedule import Binding, ScheduleProblem, ScheduleResult, Wish, check, select_presenters, solve
from models import (OPEN_STAGES, ROADSHOW_KINDS, Achievement, Demand, Field, Panel, Region, Role, Roadshow, RoadshowConflict, RoadshowInvitation,
                    RoadshowMeeting, RoadshowPresenter, RoadshowWish, Status, User, utcnow)

from . import clock, jobs, notifications, organisations, pipeline
from . import roadshow_scoring as scoring
from .roadshow_seats import lock, release_seat
from .errors import NotFound, ServiceError
from .listings import can_edit_listing, owning_side
from .indexing import to_doc

# Schedules with more wishes than this run as a background job; smaller ones inline.
INLINE_WISHES = 300
# Seconds the exact coverage MILP may take in a request; past it the better of the solver's incumbent and
# the greedy (1 - 1/e) solution is used and the proposal says it is not proven optimal.
PROPOSAL_TIME_LIMIT = 5.0
INTENTS = ("interested", "not_interested")
NUMBERS = {"presentation_slots": (1, 50), "meeting_slots": (1, 40), "tables": (1, 200),
           "slot_minutes": (5, 240), "presenter_cap": (1, 40), "company_cap": (1, 40), "seats": (1, 5000)}
# the programme's fields (migration 0012): type, city, agenda, open registration, the 1:1 meeting-room link
PROGRAMME_FIELDS = ("kind", "city", "agenda", "open_registration", "meeting_link_template")
MAX_LINK = 300


# ------------------------------------------------------------------------------------ the roadshow

def flush_unique(session: Session, code: str, **params: Any) -> None:
    """Flush; a unique-constraint race (two tabs, a double click) becomes the clear refusal `code`.

    The caller rolls the whole unit of work back on a ServiceError, so nothing half-written survives.
    """
    try:
        session.flush()
    except IntegrityError:
        raise ServiceError(code, **params) from None


def create_roadshow(session: Session, broker: User, data: dict[str, Any]) -> Roadshow:
    """A new roadshow owned by the broker; a past date, no place or bad numbers are refused."""
    if broker.role not in (Role.BROKER.value, Role.ADMIN.value):
        raise ServiceError("roadshow.forbidden")
    roadshow = Roadshow(broker=broker, seats_taken=0)
    _apply(session, roadshow, data)
    session.add(roadshow)
    session.flush()
    return roadshow


def _apply(session: Session, roadshow: Roadshow, data: dict[str, Any]) -> None:
    for name in ("title", "theme", "held_on", "start_time", "venue", "online_link", *NUMBERS):
        if name in data:
            setattr(roadshow, name, data[name])
    for name in PROGRAMME_FIELDS:
        if name in data and data[name] is not None:
            setattr(roadshow, name, data[name].strip() if isinstance(data[name], str) else data[name])
    roadshow.kind = roadshow.kind or "achievement"
    if roadshow.kind not in ROADSHOW_KINDS:
        raise ServiceError("programme.bad_kind")
    if "region_code" in data:
        region = session.scalar(select(Region).where(Region.code == data["region_code"])) if data["region_code"] else None
        if data["region_code"] and region is None:
            raise ServiceError("programme.bad_region")
        roadshow.region = region
    if "field_code" in data:
        field = session.scalar(select(Field).where(Field.code == data["field_code"], Field.active.is_(True)))
        if field is None:
            raise ServiceError("listing.unknown_field")
        roadshow.field = field
    if roadshow.held_on is None or roadshow.held_on < clock.today():
        raise ServiceError("roadshow.date_past")
    if not (roadshow.venue or "").strip() and not (roadshow.online_link or "").strip():
        raise ServiceError("roadshow.no_place")
    for name, (lo, hi) in NUMBERS.items():
        value = getattr(roadshow, name)
        if value is None or not lo <= int(value) <= hi:
            raise ServiceError("roadshow.bad_number", name=name, lo=lo, hi=hi)


def is_manager(user: Any, roadshow: Roadshow) -> bool:
    """The broker who created it, and admins, manage a roadshow."""
    return bool(user and user.is_authenticated and (user.role == Role.ADMIN.value or user.id == roadshow.broker_id))


def get_managed(session: Session, roadshow_id: int, user: Any) -> Roadshow:
    """A roadshow the user manages; NotFound for anyone else (another broker included)."""
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None or not is_manager(user, roadshow):
        raise NotFound()
    return roadshow


def relation(session: Session, roadshow: Roadshow, user: Any) -> Optional[str]:
    """'manager', 'company' (invited), 'presenter' (owns a presenting achievement) or None."""
    if is_manager(user, roadshow):
        return "manager"
    if user.role == Role.COMPANY.value and invitation_of(session, roadshow, user) is not None:
        return "company"
    if user.role == Role.UNIVERSITY.value and own_presenters(session, roadshow, user):
        return "presenter"
    return None


def get_visible(session: Session, roadshow_id: int, user: Any) -> tuple[Roadshow, str]:
    """A roadshow and the user's relation to it; NotFound when the user has none."""
    roadshow = session.get(Roadshow, roadshow_id)
    rel = relation(session, roadshow, user) if roadshow else None
    if rel is None:
        raise NotFound()
    return roadshow, rel


def visible_to(session: Session, user: Any) -> list[Roadshow]:
    """Roadshows the user manages, is invited to, or presents at; newest date first."""
    stmt = select(Roadshow).order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
    if user.role == Role.BROKER.value:
        stmt = stmt.where(Roadshow.broker_id == user.id)
    elif user.role == Role.COMPANY.value:
        stmt = stmt.join(RoadshowInvitation).where(RoadshowInvitation.company_id == user.id)
    elif user.role == Role.UNIVERSITY.value:
        # IN (subquery), not DISTINCT: PostgreSQL cannot compare the roadshow's json columns for DISTINCT
        presents = (select(RoadshowPresenter.roadshow_id)
                    .join(Achievement, RoadshowPresenter.achievement_id == Achievement.id)
                    .where(owning_side(Achievement, user)))
        stmt = stmt.where(Roadshow.id.in_(presents))
    return list(session.scalars(stmt))


def invitation_of(session: Session, roadshow: Roadshow, company: User) -> Optional[RoadshowInvitation]:
    """The company's invitation to this roadshow, if any."""
    return session.scalar(select(RoadshowInvitation).where(RoadshowInvitation.roadshow_id == roadshow.id,
                                                           RoadshowInvitation.company_id == company.id))


def own_presenters(session: Session, roadshow: Roadshow, user: User) -> list[RoadshowPresenter]:
    """Presenting achievements of this roadshow on the user's side (its organisation's: listings.can_edit_listing)."""
    return [p for p in roadshow.presenters if can_edit_listing(user, p.achievement)]


# ------------------------------------------------------------------------------- scoring helpers

def open_demands(session: Session, roadshow: Roadshow) -> list[Demand]:
    """Published demands of the roadshow's field (and its sub-fields) whose deadline has not passed."""
    return list(session.scalars(_open_demands_stmt(roadshow, Demand)))


def _open_demands_stmt(roadshow: Roadshow, *columns: Any) -> Any:
    code = roadshow.field.code
    return (select(*columns).select_from(Demand).join(Field, Demand.field_id == Field.id)
            .where(Demand.status == Status.PUBLISHED.value,
                   or_(Field.code == code, Field.code.startswith(f"{code}.", autoescape=True)),
                   or_(Demand.deadline.is_(None), Demand.deadline >= clock.today()))
            .order_by(Demand.id))


def candidate_achievements(session: Session, roadshow: Roadshow) -> list[Achievement]:
    """Published achievements of the roadshow's field (top-level field, so neighbours count too), less those an
    advisory panel holds back: a gating panel (科技顾问团) whose reviews are not complete (services.panels)."""
    return list(session.scalars(_candidates_stmt(roadshow, Achievement)))


def _candidates_stmt(roadshow: Roadshow, *columns: Any) -> Any:
    top = roadshow.field.top_code
    held = select(Panel.id).where(Panel.achievement_id == Achievement.id, Panel.gate.is_(True),
                                  Panel.status != "complete")
    return (select(*columns).select_from(Achievement).join(Field, Achievement.field_id == Field.id)
            .where(Achievement.status == Status.PUBLISHED.value,
                   or_(Field.code == top, Field.code.startswith(f"{top}.", autoescape=True)), ~held.exists())
            .order_by(Achievement.id))


# what scoring reads of a listing: a proposal at 10,000 open demands loads these columns, not the listings
_PARTIES = ("id", "owner_id", "organisation_id")


def _conflicted(demand: Demand, achievement: Achievement) -> bool:
    """Same owner or same organisation: never matched, never met."""
    return demand.owner_id == achievement.owner_id or (
        demand.organisation_id is not None and demand.organisation_id == achievement.organisation_id)


def score_matrix(runtime: Any, session: Session, demands: list[Demand], achievements: list[Achievement]) -> np.ndarray:
    """Calibrated match scores (0-100, as on the match pages), demands x achievements; conflicted pairs score 0.
    Every pair at once from stored vectors and the lexical index, not one engine query per demand nor per
    achievement (services/roadshow_scoring.batch_matrix)."""
    return scoring.batch_matrix(runtime, session, demands, achievements)


def score_matrix_per_demand(runtime: Any, session: Session, demands: list[Demand],
                            achievements: list[Achievement]) -> np.ndarray:
    """The first score_matrix: one engine query per demand (each encoded), kept to compare the two (tests,
    tools/bench_roadshows); minutes at 10,000 open demands."""
    matrix = np.zeros((len(demands), len(achievements)))
    if not demands or not achievements:
        return matrix
    column = {a.id: j for j, a in enumerate(achievements)}
    matcher = runtime.matcher("achievement", session)
    for i, demand in enumerate(demands):
        # rank() is match() without the explanations (best sentence, shared terms) a matrix does not need
        doc = to_doc(demand)
        qvec, tvec = runtime.query_vectors(doc)  # cached per text: a page view does not re-encode every demand
        ranked, _terms = matcher.rank(doc, k=len(achievements), allowed_ids=set(column), query_vec=qvec,
                                      title_vec=tvec)
        for r in ranked:
            matrix[i, column[r.id]] = round(float(r.score), 1)
        for j, a in enumerate(achievements):
            if _conflicted(demand, a):
                matrix[i, j] = 0.0
    return matrix


def matches_only(sim: np.ndarray) -> np.ndarray:
    """The scores of pairs that are a match (bands.is_match), 0 elsewhere: below the middle band a pair covers
    nothing and invites no one."""
    return np.where(np.vectorize(is_match, otypes=[bool])(sim), sim, 0.0) if sim.size else sim


def _best_presenter(sim: np.ndarray) -> list[Optional[int]]:
    """Per demand row: the column matching it best (ties: the first), or None when none is a match."""
    return [int(row.argmax()) if row.size and row.max() > 0 else None for row in matches_only(sim)]


# ------------------------------------------------------------------------------------ presenters

@dataclass
class Proposal:
    """The proposed presenters and how well they cover the theme's open demands."""

    presenters: list[RoadshowPresenter]
    demands: int
    covered: int
    coverage: float
    optimal: bool


def propose_presenters(session: Session, runtime: Any, roadshow: Roadshow) -> Proposal:
    """Replace the presenters with the set that best covers the theme's open demands (exact MILP)."""
    demands = session.execute(_open_demands_stmt(roadshow, *(getattr(Demand, c) for c in _PARTIES))).all()
    if not demands:
        raise ServiceError("roadshow.no_demands")
    candidates = session.execute(_candidates_stmt(roadshow, *(getattr(Achievement, c) for c in _PARTIES))).all()
    if not candidates:
        raise ServiceError("roadshow.no_candidates")
    # the field's candidates shortlisted by the vector index first when there are many (services/roadshow_scoring)
    size = scoring.shortlist_size(roadshow)
    chosen = {c.id for c in scoring.shortlist_candidates(runtime, demands, candidates, size)}
    candidates = list(session.scalars(select(Achievement).where(Achievement.id.in_(chosen)).order_by(Achievement.id)))
    sim = matches_only(score_matrix(runtime, session, demands, candidates))
    if not sim.any():
        raise ServiceError("roadshow.no_matching_demands", demands=len(demands))
    useful = [j for j in range(len(candidates)) if sim[:, j].any()]
    matched = np.flatnonzero(sim.any(axis=1))  # a demand no candidate matches is no part of the MILP: left out
    sel = select_presenters(sim[np.ix_(matched, useful)], roadshow.presentation_slots,
                            time_limit=PROPOSAL_TIME_LIMIT)
    _clear_schedule(session, roadshow)
    roadshow.presenters.clear()
    session.flush()
    covered = [useful[j] if j is not None else None for j in sel.covered_by]
    for pos, j in enumerate(useful[c] for c in sel.chosen):
        roadshow.presenters.append(RoadshowPresenter(achievement=candidates[j], position=pos,
                                                     covered=sum(1 for c in covered if c == j)))
    session.flush()
    return Proposal(list(roadshow.presenters), len(demands), sum(c is not None for c in covered),
                    sel.coverage, sel.optimal)


@dataclass
class PresenterCoverage:
    """How the current presenters cover the theme's open demands, as of now (not as of the last proposal)."""

    demands: int
    covered: int
    by_presenter: dict[int, int]  # presenter id -> covered demands it matches best among the presenters


def presenter_coverage(session: Session, runtime: Any, roadshow: Roadshow) -> PresenterCoverage:
    """Open demands of the field matched by at least one presenter, each counted for its best presenter.

    Computed from the programme as it stands: presenters also come from add_presenter (the broker's swap, the
    demo seed) and demands open and close, so a count stored at proposal time would go stale or stay 0."""
    presenters = list(roadshow.presenters)
    demands = open_demands(session, roadshow)
    if not presenters or not demands:  # an empty matrix: the runtime is not asked
        return PresenterCoverage(len(demands), 0, {p.id: 0 for p in presenters})
    # one ranking per presenter over the open demands: remembered until a listing, the index or the calibration
    # changes (the demands' index too: the presenters now ask the demand side)
    key = ("roadshow-coverage", roadshow.id, tuple((p.id, p.achievement_id) for p in presenters),
           tuple((d.id, d.updated_at) for d in demands), tuple(runtime.stamps(("achievement", "demand"))),
           runtime.calibration_ident)
    return runtime.remember(key, lambda: _coverage_now(session, runtime, presenters, demands))


def _coverage_now(session: Session, runtime: Any, presenters: list, demands: list) -> PresenterCoverage:
    by_presenter = {p.id: 0 for p in presenters}
    best = _best_presenter(score_matrix(runtime, session, demands, [p.achievement for p in presenters]))
    for j in best:
        if j is not None:
            by_presenter[presenters[j].id] += 1
    return PresenterCoverage(len(demands), sum(j is not None for j in best), by_presenter)


def add_presenter(session: Session, roadshow: Roadshow, achievement_id: int) -> RoadshowPresenter:
    """Add a published achievement by hand (the broker's swap, with remove_presenter)."""
    achievement = session.get(Achievement, achievement_id)
    if achievement is None or achievement.status != Status.PUBLISHED.value:
        raise ServiceError("roadshow.presenter_unknown")
    if any(p.achievement_id == achievement_id for p in roadshow.presenters):
        raise ServiceError("roadshow.presenter_exists")
    if len(roadshow.presenters) >= roadshow.presentation_slots:
        raise ServiceError("roadshow.presenters_full", n=roadshow.presentation_slots)
    presenter = RoadshowPresenter(achievement=achievement, position=len(roadshow.presenters))
    roadshow.presenters.append(presenter)
    _clear_schedule(session, roadshow)
    session.flush()
    return presenter


def remove_presenter(session: Session, roadshow: Roadshow, presenter_id: int) -> None:
    """Take a presenter off the programme (its wishes and meetings go with it)."""
    presenter = next((p for p in roadshow.presenters if p.id == presenter_id), None)
    if presenter is None:
        raise NotFound()
    _clear_schedule(session, roadshow)
    for table in (RoadshowWish, RoadshowConflict):
        session.execute(delete(table).where(table.presenter_id == presenter_id))
    roadshow.presenters.remove(presenter)
    session.flush()


# ----------------------------------------------------------------------------------- invitations

@dataclass
class CompanyProposal:
    """A company worth inviting: its best-matching open demand and the presenter it matches."""

    company: User
    demand: Demand
    presenter: RoadshowPresenter
    score: float
    invited: bool


def propose_companies(session: Session, runtime: Any, roadshow: Roadshow, per_presenter: int = 30) -> list[CompanyProposal]:
    """Companies whose open demands match the chosen presenters, best match first (one query per presenter)."""
    if not roadshow.presenters:
        raise ServiceError("roadshow.no_presenters")
    invited = {i.company_id for i in roadshow.invitations}
    today = clock.today()
    best: dict[int, CompanyProposal] = {}
    for presenter in roadshow.presenters:
        for view in runtime.find_matches(session, presenter.achievement, k=per_presenter):
            demand, score = view.listing, float(view.match.score)
            if not is_match(score) or demand.owner.role != Role.COMPANY.value or \
                    (demand.deadline is not None and demand.deadline < today):
                continue
            if demand.owner_id not in best or best[demand.owner_id].score < score:
                best[demand.owner_id] = CompanyProposal(demand.owner, demand, presenter, score,
                                                        demand.owner_id in invited)
    return sorted(best.values(), key=lambda p: (-p.score, p.company.id))


def _all_open_demands(session: Session) -> list[Demand]:
    stmt = select(Demand).where(Demand.status == Status.PUBLISHED.value,
                                or_(Demand.deadline.is_(None), Demand.deadline >= clock.today()))
    return list(session.scalars(stmt.order_by(Demand.id)))


def invite(session: Session, roadshow: Roadshow, company_id: int, demand_id: Optional[int] = None,
           score: float = 0.0) -> RoadshowInvitation:
    """Invite a company account; inviting the same company twice is refused."""
    company = session.get(User, company_id)
    if company is None or company.role != Role.COMPANY.value or not company.active:
        raise ServiceError("roadshow.not_a_company")
    if invitation_of(session, roadshow, company) is not None:
        raise ServiceError("roadshow.already_invited", name=company.display_name)
    invitation = RoadshowInvitation(company=company, demand_id=demand_id, score=score, status="invited")
    roadshow.invitations.append(invitation)
    flush_unique(session, "roadshow.already_invited", name=company.display_name)
    notifications.notify(session, company.id, "roadshow_invited",
                         {"roadshow_id": roadshow.id, "title": roadshow.title, "date": roadshow.held_on.isoformat()})
    return invitation


def register(session: Session, roadshow_id: int, company: User) -> RoadshowInvitation:
    """Take one seat for an invited company; exactly `seats` registrations ever succeed.

    Two conditional UPDATEs, no read-modify-write: on SQLite the first write takes the database's
    write lock (others wait on the busy timeout), on PostgreSQL the row lock re-evaluates the WHERE.
    The caller commits; on error it rolls back (which also returns a seat taken in this transaction).
    """
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound()
    if roadshow.held_on < clock.today():
        raise ServiceError("roadshow.over")
    claimed = session.execute(
        update(RoadshowInvitation)
        .where(RoadshowInvitation.roadshow_id == roadshow_id, RoadshowInvitation.company_id == company.id,
               RoadshowInvitation.status.in_(("invited", "declined")))
        .values(status="registered", registered_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        invitation = invitation_of(session, roadshow, company)
        raise NotFound() if invitation is None else ServiceError("roadshow.already_registered")
    seated = session.execute(
        update(Roadshow).where(Roadshow.id == roadshow_id, Roadshow.seats_taken < Roadshow.seats)
        .values(seats_taken=Roadshow.seats_taken + 1).execution_options(synchronize_session=False)).rowcount
    if not seated:
        raise ServiceError("roadshow.full", seats=roadshow.seats)
    session.expire(roadshow)
    invitation = invitation_of(session, roadshow, company)
    session.refresh(invitation)  # the UPDATE above bypassed the identity map: a loaded copy would read "invited"
    return invitation


def decline(session: Session, roadshow_id: int, company: User) -> RoadshowInvitation:
    """Decline an invitation or cancel a registration; a held seat is given back (atomically)."""
    roadshow = session.get(Roadshow, roadshow_id)
    invitation = invitation_of(session, roadshow, company) if roadshow else None
    if invitation is None:
        raise NotFound()
    if invitation.status == "declined":
        raise ServiceError("roadshow.already_declined")
    lock(session, roadshow_id)  # as open registration does: the seat may go to the first on the waiting list
    freed = session.execute(
        update(RoadshowInvitation).where(RoadshowInvitation.id == invitation.id,
                                         RoadshowInvitation.status == "registered")
        .values(status="declined").execution_options(synchronize_session=False)).rowcount
    if freed:
        release_seat(session, roadshow)
    session.execute(update(RoadshowInvitation).where(RoadshowInvitation.id == invitation.id)
                    .values(status="declined").execution_options(synchronize_session=False))
    # the rest of the schedule stays valid without this company's meetings
    for table in (RoadshowWish, RoadshowMeeting):
        session.execute(delete(table).where(table.roadshow_id == roadshow_id, table.company_id == company.id))
    session.expire(roadshow)
    session.expire(invitation)
    return invitation


def set_attendance(session: Session, roadshow: Roadshow, company_ids: Iterable[int],
                   presenter_ids: Iterable[int]) -> None:
    """Record who came: registered companies and presenters (everyone else: did not attend)."""
    came, spoke = set(company_ids), set(presenter_ids)
    for inv in roadshow.invitations:
        if inv.status == "registered":
            inv.attended = inv.company_id in came
    for p in roadshow.presenters:
        p.attended = p.id in spoke
    session.flush()


# --------------------------------------------------------------------------------- wishes/conflicts

def set_wishes(session: Session, runtime: Any, roadshow: Roadshow, company: User,
               presenter_ids: Iterable[int]) -> list[RoadshowWish]:
    """Replace a registered company's wished meetings; each is worth its best demand's match score."""
    invitation = invitation_of(session, roadshow, company)
    if invitation is None:
        raise NotFound()
    if invitation.status != "registered":
        raise ServiceError("roadshow.register_first")
    wanted = set(presenter_ids)
    presenters = [p for p in roadshow.presenters if p.id in wanted]
    if len(presenters) != len(wanted):
        raise ServiceError("roadshow.presenter_unknown")
    scores = _company_scores(session, runtime, company, presenters)
    _clear_schedule(session, roadshow)
    session.execute(delete(RoadshowWish).where(RoadshowWish.roadshow_id == roadshow.id,
                                               RoadshowWish.company_id == company.id))
    wishes = [RoadshowWish(roadshow_id=roadshow.id, company_id=company.id, presenter_id=p.id, score=s)
              for p, s in zip(presenters, scores)]
    session.add_all(wishes)
    session.flush()
    return wishes


def _company_scores(session: Session, runtime: Any, company: User, presenters: list[RoadshowPresenter]) -> list[float]:
    demands = [d for d in _all_open_demands(session) if d.owner_id == company.id]
    if not demands or not presenters:
        return [0.0] * len(presenters)
    sim = score_matrix(runtime, session, demands, [p.achievement for p in presenters])
    return [float(x) for x in sim.max(axis=0)]


def wishes_of(session: Session, roadshow: Roadshow, company_id: Optional[int] = None) -> list[RoadshowWish]:
    """Wished meetings of a roadshow (of one company when given)."""
    stmt = select(RoadshowWish).where(RoadshowWish.roadshow_id == roadshow.id)
    if company_id is not None:
        stmt = stmt.where(RoadshowWish.company_id == company_id)
    return list(session.scalars(stmt.order_by(RoadshowWish.id)))


def mark_conflict(session: Session, roadshow: Roadshow, company_id: int, presenter_id: int) -> RoadshowConflict:
    """Mark a company-presenter pair as conflicted (never scheduled)."""
    if not any(p.id == presenter_id for p in roadshow.presenters) or \
            not any(i.company_id == company_id for i in roadshow.invitations):
        raise ServiceError("roadshow.conflict_unknown")
    existing = session.scalar(select(RoadshowConflict).where(RoadshowConflict.company_id == company_id,
                                                             RoadshowConflict.presenter_id == presenter_id))
    if existing:
        return existing
    conflict = RoadshowConflict(roadshow_id=roadshow.id, company_id=company_id, presenter_id=presenter_id)
    session.add(conflict)
    _clear_schedule(session, roadshow)
    session.flush()
    return conflict


# ------------------------------------------------------------------------------------- scheduling

def build_problem(session: Session, roadshow: Roadshow) -> ScheduleProblem:
    """Registered companies' wishes, caps, tables and slots, and every conflicted pair."""
    registered = {i.company_id: i.company for i in roadshow.invitations if i.status == "registered"}
    presenters = {p.id: p for p in roadshow.presenters}
    wishes = [Wish(w.company_id, w.presenter_id, round(w.score, 3)) for w in wishes_of(session, roadshow)
              if w.company_id in registered and w.presenter_id in presenters]
    marked = {(c.company_id, c.presenter_id) for c in session.scalars(
        select(RoadshowConflict).where(RoadshowConflict.roadshow_id == roadshow.id))}
    same_org = {(w.company, w.presenter) for w in wishes if _same_org(registered[w.company], presenters[w.presenter])}
    return ScheduleProblem(slots=roadshow.meeting_slots, tables=roadshow.tables, wishes=wishes,
                           presenter_cap=roadshow.presenter_cap, company_cap=roadshow.company_cap,
                           conflicts=marked | same_org)


def _same_org(company: User, presenter: RoadshowPresenter) -> bool:
    a = presenter.achievement
    return a.owner_id == company.id or (company.organisation_id is not None
                                        and company.organisation_id == a.organisation_id)


def needs_job(session: Session, roadshow: Roadshow) -> bool:
    """True when the schedule is big enough to build in the background."""
    return len(wishes_of(session, roadshow)) > INLINE_WISHES


def build_schedule(session: Session, roadshow: Roadshow) -> ScheduleResult:
    """Solve the schedule, replace the meetings, and keep the totals and binding constraints."""
    problem = build_problem(session, roadshow)
    if not problem.wishes:
        raise ServiceError("roadshow.no_wishes")
    result = solve(problem)
    errors = check(problem, result)
    if errors:  # the solver is exact and tested; never store a schedule that breaks a rule
        raise RuntimeError("; ".join(errors))
    _clear_schedule(session, roadshow)
    session.add_all(RoadshowMeeting(roadshow_id=roadshow.id, company_id=m.company, presenter_id=m.presenter,
                                    slot=m.slot + 1, table_no=m.table + 1, score=m.score,
                                    meeting_link=meeting_link_for(roadshow, m.slot + 1, m.table + 1))
                    for m in result.meetings)
    roadshow.schedule_info = {"wished": len(problem.wishes), "allowed": len(problem.allowed()),
                              "scheduled": len(result.meetings), "total": round(result.total_score, 2),
                              "bindings": [_binding_row(session, b) for b in result.bindings]}
    roadshow.scheduled_at = utcnow()
    session.flush()
    return result


def meeting_link_for(roadshow: Roadshow, slot: int, table: int) -> str:
    """The roadshow's meeting-room link with {slot} and {table} filled in (empty without a template)."""
    template = roadshow.meeting_link_template or ""
    return template.replace("{slot}", str(slot)).replace("{table}", str(table))[:MAX_LINK]


def _binding_row(session: Session, binding: Binding) -> dict:
    """A binding with display names resolved (company organisation, presenter achievement title). Kept in
    schedule_info, which only the roadshow's manager (staff) reads: the company's own name, confidential or not."""
    params = dict(binding.params)
    if binding.code.startswith("company"):
        params["name"] = _own_name(session.get(User, params["who"]))
    elif binding.code.startswith("presenter"):
        params["name"] = session.get(RoadshowPresenter, params["who"]).achievement.title
    elif binding.code == "conflict":
        params["company_name"] = _own_name(session.get(User, params["company"]))
        params["presenter_name"] = session.get(RoadshowPresenter, params["presenter"]).achievement.title
    return {"code": binding.code, "params": params}


def _clear_schedule(session: Session, roadshow: Roadshow) -> None:
    """Any change to who meets whom makes the old schedule stale."""
    if roadshow.id is None:
        return
    session.execute(delete(RoadshowMeeting).where(RoadshowMeeting.roadshow_id == roadshow.id))
    roadshow.schedule_info = None
    roadshow.scheduled_at = None


@jobs.handler("roadshow.schedule")
def _schedule_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Background schedule build for big roadshows."""
    roadshow = session.get(Roadshow, job.params["roadshow_id"])
    if roadshow is None:
        raise ServiceError("not_found")
    progress(0, 1)  # before any write: on SQLite the progress writer's own session would wait for ours
    result = build_schedule(session, roadshow)
    return {"roadshow_id": roadshow.id, "scheduled": len(result.meetings), "unscheduled": len(result.unscheduled)}


def submit_schedule_job(session: Session, roadshow: Roadshow, owner: User) -> Any:
    """Queue the schedule build (the caller commits and enqueues)."""
    return jobs.submit_job(session, "roadshow.schedule", owner.id, {"roadshow_id": roadshow.id})


# ------------------------------------------------------------------------------ meetings/intents

def meetings(session: Session, roadshow: Roadshow, user: Any = None) -> list[RoadshowMeeting]:
    """The schedule in slot/table order; only the user's own meetings unless they manage it."""
    stmt = select(RoadshowMeeting).where(RoadshowMeeting.roadshow_id == roadshow.id)
    rows = list(session.scalars(stmt.order_by(RoadshowMeeting.slot, RoadshowMeeting.table_no)))
    if user is None or is_manager(user, roadshow):
        return rows
    return [m for m in rows if m.company_id == user.id or can_edit_listing(user, m.presenter.achievement)]


def record_intent(session: Session, meeting_id: int, user: User, intent: str) -> RoadshowMeeting:
    """The company's or the presenter's intent after a meeting (interested / not interested)."""
    meeting = session.get(RoadshowMeeting, meeting_id)
    if meeting is None:
        raise NotFound()
    if intent not in INTENTS:
        raise ServiceError("roadshow.bad_intent")
    if meeting.company_id == user.id:
        meeting.company_intent = intent
    elif can_edit_listing(user, meeting.presenter.achievement):
        meeting.presenter_intent = intent
    else:
        raise NotFound()
    session.flush()
    if meeting.company_intent == meeting.presenter_intent == "interested":
        _into_pipeline(session, meeting)
    return meeting


def _into_pipeline(session: Session, meeting: RoadshowMeeting) -> None:
    """Both sides want to go on after their meeting: the pair enters the roadshow broker's pipeline at
    stage 'meeting' (an existing opportunity of the pair moves forward to it, never back)."""
    roadshow = session.get(Roadshow, meeting.roadshow_id)
    invitation = invitation_of(session, roadshow, meeting.company)
    demand_id = invitation.demand_id if invitation is not None else None
    if demand_id is None:  # invited without a demand: only an unambiguous one is used
        published = session.scalars(select(Demand.id).where(Demand.owner_id == meeting.company_id,
                                                            Demand.status == Status.PUBLISHED.value)).all()
        demand_id = published[0] if len(published) == 1 else None
    if demand_id is None:
        return
    opp = pipeline.get_or_open(session, roadshow.broker, demand_id, meeting.presenter.achievement_id)
    while opp.stage in OPEN_STAGES and OPEN_STAGES.index(opp.stage) < OPEN_STAGES.index("meeting"):
        pipeline.advance(session, opp, roadshow.broker,
                         note=f"roadshow #{roadshow.id}: both sides interested after their meeting")


def company_name(user: Optional[User], viewer: Any = None, roadshow: Optional[Roadshow] = None,
                 placeholder: Optional[str] = None) -> str:
    """What a page or export shows for a company: its organisation's name (no personal contact). A company invited
    to a roadshow for a confidential demand shows as the placeholder to a viewer who may not know that demand's
    company (services.organisations.demand_company_name: the public, universities, advisors before an accepted
    introduction; staff and the company's own members see it). Without a viewer the reader is unknown (an export,
    a calendar file): the placeholder, so pass the viewer (and the roadshow) wherever it is known."""
    if user is None:
        return ""
    if company_hidden(user, viewer, roadshow):
        return placeholder or organisations.CONFIDENTIAL_NAME
    return _own_name(user)


def _own_name(user: Optional[User]) -> str:
    """A company's organisation name (or the account's name), for staff-only views and stored manager data."""
    if user is None:
        return ""
    return user.organisation.name if user.organisation else user.display_name


def company_hidden(user: Optional[User], viewer: Any = None, roadshow: Optional[Roadshow] = None) -> bool:
    """True if company_name shows the placeholder to this viewer (see there)."""
    if user is None:
        return False
    demand = _confidential_demand(user, roadshow)
    if demand is None:
        return False
    return viewer is None or not organisations.may_see_company(viewer, demand)


def _confidential_demand(company: User, roadshow: Optional[Roadshow]) -> Optional[Demand]:
    """The confidential demand the company was invited for: to this roadshow, or (no roadshow given) to any."""
    if roadshow is not None:
        for invitation in roadshow.invitations:
            if invitation.company_id == company.id and invitation.demand is not None and invitation.demand.confidential:
                return invitation.demand
        return None
    session = object_session(company)
    if session is None or company.id is None:
        return None
    return session.scalar(select(Demand).join(RoadshowInvitation, RoadshowInvitation.demand_id == Demand.id).where(
        RoadshowInvitation.company_id == company.id, Demand.confidential.is_(True)).limit(1))


def slot_times(roadshow: Roadshow, slot: int) -> str:
    """'HH:MM-HH:MM' of a meeting slot (from 1): after the presentations, back to back."""
    hours, minutes = (int(x) for x in (roadshow.start_time or "14:00").split(":"))
    start = datetime(2000, 1, 1, hours, minutes) + timedelta(
        minutes=roadshow.slot_minutes * (roadshow.presentation_slots + slot - 1))
    end = start + timedelta(minutes=roadshow.slot_minutes)
    return f"{start:%H:%M}-{end:%H:%M}"


def schedule_rows(session: Session, roadshow: Roadshow, user: Any = None) -> list[dict]:
    """Plain rows of the schedule for pages and exports (no contact details)."""
    return [{"slot": m.slot, "time": slot_times(roadshow, m.slot), "table": m.table_no,
             "company": company_name(m.company, user, roadshow), "company_hidden": company_hidden(m.company, user, roadshow),
             "presenter": m.presenter.achievement.title,
             "presenter_org": m.presenter.achievement.organisation.name if m.presenter.achievement.organisation else "",
             "score": round(m.score, 1), "company_intent": m.company_intent or "",
             "presenter_intent": m.presenter_intent or "", "id": m.id, "link": m.meeting_link or ""}
            for m in meetings(session, roadshow, user)]


def meeting_for(session: Session, meeting_id: int, user: Any) -> Optional[RoadshowMeeting]:
    """The meeting if the user is one of its two sides (the invited company account, or the presenting
    achievement's side: its organisation's members, listings.can_edit_listing)."""
    meeting = session.get(RoadshowMeeting, meeting_id)
    if meeting is None or not (meeting.company_id == user.id or can_edit_listing(user, meeting.presenter.achievement)):
        return None
    return meeting
