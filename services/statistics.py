"""Figures for the broker and admin dashboard: listings by field/region/month, match coverage, the
funnel from suggested pairs to signed contracts, technology contracts by type (技术合同成交额), roadshow and
揭榜挂帅 challenge outcomes."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from matchmaking.bands import is_match
from models import (CONTRACT_TYPES, Achievement, Challenge, ChallengeApplication, Demand, Field, MatchReportRow,
                    Opportunity, OpportunityEvent, PairFeedback, Roadshow, RoadshowInvitation, RoadshowMeeting,
                    RoadshowPresenter, Status)

from . import reports

DIMENSIONS = ("field", "region", "month")


def _published(session: Session, model: type) -> list[Any]:
    return list(session.scalars(select(model).where(model.status == Status.PUBLISHED.value)))


def _key(item: Any, dim: str, fields: dict[int, Field]) -> str:
    if dim == "field":
        f = fields[item.field_id]
        return (f.parent or f).code
    if dim == "region":
        return item.region or ""
    when = item.published_at or item.created_at
    return when.strftime("%Y-%m")


def listings_by(session: Session, dim: str) -> list[tuple[str, int, int]]:
    """(key, published demands, published achievements) per top-level field, region or month."""
    if dim not in DIMENSIONS:
        raise ValueError(dim)
    fields = {f.id: f for f in session.scalars(select(Field))}
    counts = {kind: Counter(_key(i, dim, fields) for i in _published(session, model))
              for kind, model in (("demand", Demand), ("achievement", Achievement))}
    keys = set(counts["demand"]) | set(counts["achievement"])
    order = sorted(keys) if dim == "month" else sorted(keys, key=lambda k: (-(counts["demand"][k] +
                                                                           counts["achievement"][k]), k))
    return [(k, counts["demand"][k], counts["achievement"][k]) for k in order]


@dataclass
class Coverage:
    """Open published demands, and how many of them have at least one match (the middle band or above)."""

    covered: int
    total: int

    @property
    def share(self) -> float:
        """Covered share in 0-1 (0 when there are no open demands)."""
        return self.covered / self.total if self.total else 0.0


def coverage(session: Session, runtime: reports.Runtime) -> Coverage:
    """Match coverage (需求对接率): share of open published demands with at least one match (bands.is_match)."""
    demands = list(session.scalars(reports.batch_demands_stmt(reports.ReportParams(scope="batch"))))
    covered = 0
    for demand in demands:
        best = runtime.find_matches(session, demand, k=1)  # best first: the top pair decides
        covered += any(is_match(v.match.score) for v in best)
    return Coverage(covered=covered, total=len(demands))


def funnel(session: Session) -> list[tuple[str, int]]:
    """Distinct pairs at each step: suggested in a report -> judged 'introduce' -> agreed -> signed."""
    suggested = session.scalar(select(func.count()).select_from(
        select(MatchReportRow.demand_id, MatchReportRow.achievement_id).distinct().subquery())) or 0
    introduced = session.scalar(select(func.count()).select_from(
        select(PairFeedback.demand_id, PairFeedback.achievement_id)
        .where(PairFeedback.outcome == "introduce").distinct().subquery())) or 0
    agreed = session.scalar(select(func.count(distinct(OpportunityEvent.opportunity_id))).where(
        OpportunityEvent.to_stage == "agreed")) or 0
    signed = session.scalar(select(func.count()).where(Opportunity.stage == "signed")) or 0
    return [("suggested", suggested), ("introduce", introduced), ("agreed", agreed), ("signed", signed)]


def contracts(session: Session) -> list[tuple[str, int, float]]:
    """Signed technology contracts per type: (type, count, amount in 万元), every type listed."""
    rows = dict((t, (n, a)) for t, n, a in session.execute(
        select(Opportunity.contract_type, func.count(), func.coalesce(func.sum(Opportunity.amount), 0.0))
        .where(Opportunity.stage == "signed").group_by(Opportunity.contract_type)))
    return [(t, rows.get(t, (0, 0.0))[0], round(float(rows.get(t, (0, 0.0))[1]), 2)) for t in CONTRACT_TYPES]



ROADSHOW_ROWS = 24  # the latest roadshows shown; the CSV has the same rows


def roadshows(session: Session) -> list[tuple[str, str, int, int, int, int]]:
    """Per roadshow, latest first: (title, date, presenters, registered companies, 1:1 meetings,
    meetings after which both sides said they were interested)."""
    def per(stmt: Any) -> dict[int, int]:
        return dict(session.execute(stmt).all())

    presenters = per(select(RoadshowPresenter.roadshow_id, func.count()).group_by(RoadshowPresenter.roadshow_id))
    registered = per(select(RoadshowInvitation.roadshow_id, func.count())
                     .where(RoadshowInvitation.status == "registered").group_by(RoadshowInvitation.roadshow_id))
    meetings = per(select(RoadshowMeeting.roadshow_id, func.count()).group_by(RoadshowMeeting.roadshow_id))
    both = per(select(RoadshowMeeting.roadshow_id, func.count()).where(
        RoadshowMeeting.company_intent == "interested", RoadshowMeeting.presenter_intent == "interested")
        .group_by(RoadshowMeeting.roadshow_id))
    shows = session.scalars(select(Roadshow).order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
                            .limit(ROADSHOW_ROWS))
    return [(r.title, r.held_on.isoformat(), presenters.get(r.id, 0), registered.get(r.id, 0),
             meetings.get(r.id, 0), both.get(r.id, 0)) for r in shows]


CHALLENGE_STATUSES = ("open", "closed", "announced")


def challenges(session: Session) -> list[tuple[str, int, int, int]]:
    """揭榜挂帅 by status: (status, challenges, applications, challenges with a winner), every status listed."""
    counts = dict(session.execute(select(Challenge.status, func.count()).group_by(Challenge.status)).all())
    applications = dict(session.execute(
        select(Challenge.status, func.count(ChallengeApplication.id))
        .join(ChallengeApplication, ChallengeApplication.challenge_id == Challenge.id)
        .group_by(Challenge.status)).all())
    winners = dict(session.execute(select(Challenge.status, func.count()).where(Challenge.winner_id.is_not(None))
                                   .group_by(Challenge.status)).all())
    return [(st, counts.get(st, 0), applications.get(st, 0), winners.get(st, 0)) for st in CHALLENGE_STATUSES]
