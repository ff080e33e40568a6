"""The roadshow programme in figures, per year and region, every number one SQL aggregate.

Roadshows count by their date's year and by their region (a region and everything under it, by the regions'
materialised path). "Projects shown" are the distinct achievements presented; "opportunities that followed" are
pipeline opportunities of a pair that met at one of the roadshows (the company owning the demand met the
presenting achievement), "contracts" those of them signed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import and_, distinct, extract, func, select
from sqlalchemy.orm import Session

from models import (ROADSHOW_KINDS, Demand, Opportunity, Region, Roadshow, RoadshowInvitation, RoadshowMeeting,
                    RoadshowPresenter)

from . import clock


@dataclass
class Figures:
    """The programme's figures for one year (and region, when given) against the yearly targets."""

    year: int
    region_code: str
    by_kind: dict[str, int] = field(default_factory=dict)
    roadshows: int = 0
    presentations: int = 0
    projects: int = 0
    companies: int = 0
    investors: int = 0
    meetings: int = 0
    both_interested: int = 0
    opportunities: int = 0
    contracts: int = 0
    roadshow_target: int = 200
    project_target: int = 10_000

    @property
    def roadshow_progress(self) -> float:
        return round(100.0 * self.roadshows / self.roadshow_target, 1) if self.roadshow_target else 0.0

    @property
    def project_progress(self) -> float:
        return round(100.0 * self.projects / self.project_target, 1) if self.project_target else 0.0


def selected(session: Session, year: int, region_code: str = "") -> Any:
    """A subquery of the ids of the year's roadshows (in the region and below it, when given)."""
    stmt = select(Roadshow.id).where(extract("year", Roadshow.held_on) == year)
    if region_code:
        node = session.scalar(select(Region).where(Region.code == region_code))
        if node is None:
            return stmt.where(Roadshow.id.is_(None))
        under = select(Region.id).where(Region.path.startswith(node.path, autoescape=True)) if node.path else \
            select(Region.id).where(Region.id == node.id)
        stmt = stmt.where(Roadshow.region_id.in_(under))
    return stmt


def figures(session: Session, year: Optional[int] = None, region_code: str = "", roadshow_target: int = 200,
            project_target: int = 10_000) -> Figures:
    """Every figure of the year (this year by default) in a handful of aggregate queries."""
    year = year or clock.today().year
    ids = selected(session, year, region_code)
    out = Figures(year=year, region_code=region_code, roadshow_target=roadshow_target, project_target=project_target)
    kinds = dict(session.execute(select(Roadshow.kind, func.count()).where(Roadshow.id.in_(ids))
                                 .group_by(Roadshow.kind)).all())
    out.by_kind = {k: int(kinds.get(k, 0)) for k in ROADSHOW_KINDS}
    out.roadshows = sum(int(v) for v in kinds.values())
    out.presentations, out.projects = session.execute(
        select(func.count(), func.count(distinct(RoadshowPresenter.achievement_id)))
        .where(RoadshowPresenter.roadshow_id.in_(ids))).one()
    registered = dict(session.execute(
        select(RoadshowInvitation.participant, func.count()).where(RoadshowInvitation.roadshow_id.in_(ids),
                                                                   RoadshowInvitation.status == "registered")
        .group_by(RoadshowInvitation.participant)).all())
    out.companies, out.investors = int(registered.get("company", 0)), int(registered.get("investor", 0))
    both = and_(RoadshowMeeting.company_intent == "interested", RoadshowMeeting.presenter_intent == "interested")
    out.meetings, out.both_interested = session.execute(
        select(func.count(), func.count(RoadshowMeeting.id).filter(both))
        .where(RoadshowMeeting.roadshow_id.in_(ids))).one()
    followed = (select(Opportunity.id, Opportunity.stage).join(Demand, Demand.id == Opportunity.demand_id)
                .join(RoadshowPresenter, RoadshowPresenter.achievement_id == Opportunity.achievement_id)
                .join(RoadshowMeeting, and_(RoadshowMeeting.presenter_id == RoadshowPresenter.id,
                                            RoadshowMeeting.company_id == Demand.owner_id))
                .where(RoadshowMeeting.roadshow_id.in_(ids)).distinct().subquery())
    out.opportunities, out.contracts = session.execute(
        select(func.count(), func.count(followed.c.id).filter(followed.c.stage == "signed"))
        .select_from(followed)).one()
    return out


@dataclass
class RoadshowRows:
    """One page of every roadshow of the selection, with its own figures."""

    rows: list[dict]
    total: int
    page: int
    per_page: int


def roadshow_rows(session: Session, year: Optional[int] = None, region_code: str = "", page: int = 1,
                  per_page: int = 20) -> RoadshowRows:
    """Every roadshow of the year and region, latest first, paged; the counts per row are grouped queries."""
    year = year or clock.today().year
    ids = selected(session, year, region_code)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    shows = list(session.scalars(select(Roadshow).where(Roadshow.id.in_(ids))
                                 .order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
                                 .offset((max(page, 1) - 1) * per_page).limit(per_page)))
    shown = [r.id for r in shows]

    def per(stmt: Any) -> dict[int, int]:
        return {k: int(v) for k, v in session.execute(stmt).all()} if shown else {}

    presenters = per(select(RoadshowPresenter.roadshow_id, func.count()).where(
        RoadshowPresenter.roadshow_id.in_(shown)).group_by(RoadshowPresenter.roadshow_id))
    registered = per(select(RoadshowInvitation.roadshow_id, func.count()).where(
        RoadshowInvitation.roadshow_id.in_(shown), RoadshowInvitation.status == "registered")
        .group_by(RoadshowInvitation.roadshow_id))
    meetings = per(select(RoadshowMeeting.roadshow_id, func.count()).where(
        RoadshowMeeting.roadshow_id.in_(shown)).group_by(RoadshowMeeting.roadshow_id))
    both = per(select(RoadshowMeeting.roadshow_id, func.count()).where(
        RoadshowMeeting.roadshow_id.in_(shown), RoadshowMeeting.company_intent == "interested",
        RoadshowMeeting.presenter_intent == "interested").group_by(RoadshowMeeting.roadshow_id))
    rows = [{"roadshow": r, "presenters": presenters.get(r.id, 0), "registered": registered.get(r.id, 0),
             "meetings": meetings.get(r.id, 0), "both": both.get(r.id, 0)} for r in shows]
    return RoadshowRows(rows, int(total), max(page, 1), per_page)


def years(session: Session) -> list[int]:
    """Years with at least one roadshow, latest first (this year always offered)."""
    found = {int(y) for y in session.scalars(select(extract("year", Roadshow.held_on)).distinct()) if y is not None}
    return sorted(found | {clock.today().year}, reverse=True)
