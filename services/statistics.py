"""Figures for the broker and admin dashboard: listings by field/region/month, match coverage, the
funnel from suggested pairs to signed contracts, technology contracts by type (技术合同成交额), roadshow and
揭榜挂帅 challenge outcomes.

Every figure is an aggregate in SQL (GROUP BY / COUNT: a row per group, never a row per listing), except match
coverage, which needs the engine once per open demand: a job computes it and the page reads the job's result
(coverage_figure explains how it stays correct). The listing counts are remembered per listings_version (two
plain aggregates per page view), so a view sends the same few statements whatever the number of listings and
regroups the listings only after they changed (docs/capacity.md, "Statistics page")."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Optional, Protocol

from sqlalchemy import BigInteger, String, case, delete, distinct, func, literal_column, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from matchmaking.bands import is_match
from models import (CONTRACT_TYPES, Achievement, Challenge, ChallengeApplication, Demand, Field, Job, JobStatus,
                    MatchReportRow, Opportunity, OpportunityEvent, PairFeedback, Roadshow, RoadshowInvitation,
                    RoadshowMeeting, RoadshowPresenter, Status, utcnow)

from . import clock, jobs, reports
from .matching import SYNC_JOB

DIMENSIONS = ("field", "region", "month")
COVERAGE_JOB = "statistics.coverage"
COVERAGE_KEEP = 5  # done coverage jobs kept (the page reads the newest; the others are history on the jobs page)
COVERAGE_PROGRESS_EVERY = 50  # demands between two progress writes of a coverage job
COVERAGE_RETRY_S = 60  # after a failed coverage job, page views wait this long before queueing another


class month_of(FunctionElement):
    """The month of a timestamp, to group by: 'YYYY-MM' text on SQLite (strftime), the month's first instant on
    PostgreSQL (date_trunc: cheaper per row than to_char; month_key formats the few groups). Constants are written
    into the SQL, not bound, so GROUP BY repeats exactly the selected expression."""

    type = String()
    inherit_cache = True


@compiles(month_of)
def _month_of_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(list(element.clauses)[0], **kw)})"


@compiles(month_of, "postgresql")
def _month_of_postgresql(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {compiler.process(list(element.clauses)[0], **kw)})"


def month_key(value: Any) -> str:
    """'YYYY-MM' of what month_of gave."""
    return value if isinstance(value, str) else value.strftime("%Y-%m")


class epoch_seconds(FunctionElement):
    """Whole seconds since 1970 of a timestamp, as an integer (exact sums, in any order of summing)."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds)
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # julianday() parses the stored text 2-3x faster than strftime('%s')
    return f"CAST((julianday({compiler.process(list(element.clauses)[0], **kw)}) - 2440587.5) * 86400 AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(list(element.clauses)[0], **kw)}) AS BIGINT)"


KINDS = (("demand", Demand), ("achievement", Achievement))
Memo = Callable[[tuple, Callable[[], Any]], Any]  # remember(key, compute): the matching runtime's per-process memo


@dataclass(frozen=True)
class ListingsVersion:
    """Where the published listings stand, per kind: (count, id sum, newest change, sum of change seconds).

    A publish, a close, a deletion or an edit of a published listing moves one of them (an edit sets updated_at,
    which moves the sum of change seconds even on a host whose clock lags); read in one aggregate query per
    kind, so the figures derived from the listings are recomputed only when this changes."""

    demand: tuple[str, ...]
    achievement: tuple[str, ...]
    open_demands: int  # published demands whose deadline has not passed: the ones coverage asks about

    def of(self, kind: str) -> tuple[str, ...]:
        """This kind's part (what its counts depend on)."""
        return self.demand if kind == "demand" else self.achievement


def listings_version(session: Session) -> ListingsVersion:
    """The published listings' version: two aggregate queries whatever the number of listings."""
    parts: dict[str, tuple[str, ...]] = {}
    open_demands = 0
    for kind, model in KINDS:
        cols: list[Any] = [func.count(), func.sum(model.id), func.max(model.updated_at),
                           func.sum(epoch_seconds(model.updated_at))]
        if model is Demand:  # open as reports.batch_demands_stmt has it: no deadline, or not passed
            cols.append(func.sum(case((or_(Demand.deadline.is_(None), Demand.deadline >= clock.today()), 1),
                                      else_=0)))
        row = session.execute(select(*cols).where(model.status == Status.PUBLISHED.value)).one()
        parts[kind] = tuple(str(v) for v in row[:4])
        if model is Demand:
            open_demands = int(row[4] or 0)
    return ListingsVersion(parts["demand"], parts["achievement"], open_demands)


def _raw_counts(session: Session, model: type, dim: str) -> dict[Any, int]:
    """Published listings of one kind per field id, region or month: one GROUP BY over the listings table alone,
    a row per group (never a row per listing)."""
    # expressions, not the bare indexed columns: SQLite would walk the field_id or region index in order and look
    # every row up for its status, 2-4x slower than finding the published rows by the status index
    if dim == "field":
        key: Any = model.field_id + literal_column("0")
    elif dim == "region":
        key = func.coalesce(model.region, literal_column("''"))  # no region and an empty one: one key
    else:
        key = month_of(func.coalesce(model.published_at, model.created_at))
    stmt = select(key, func.count()).where(model.status == Status.PUBLISHED.value).group_by(key)
    rows = session.execute(stmt)
    return {month_key(value) if dim == "month" else value: int(n) for value, n in rows}


def _top_codes(session: Session) -> dict[int, str]:
    """Field id -> its top-level field's code (a sub-field counts for its parent): the taxonomy, read now, so a
    remembered count follows an edited taxonomy."""
    fields = {i: (code, parent) for i, code, parent in session.execute(select(Field.id, Field.code, Field.parent_id))}
    return {i: fields[parent][0] if parent is not None else code for i, (code, parent) in fields.items()}


def _keyed(raw: dict[Any, int], top: Optional[dict[int, str]]) -> Counter:
    """Raw counts under the chart's keys: top-level field codes (top given), else the values themselves."""
    counts: Counter = Counter()
    for value, n in raw.items():
        counts[top[value] if top is not None else value] += n
    return counts


def listings_by(session: Session, dim: str, *, version: Optional[ListingsVersion] = None,
                memo: Optional[Memo] = None) -> list[tuple[str, int, int]]:
    """(key, published demands, published achievements) per top-level field, region or month. With a version and
    a memo, each kind's GROUP BY is remembered until that kind's version moves."""
    if dim not in DIMENSIONS:
        raise ValueError(dim)
    top = _top_codes(session) if dim == "field" else None
    counts = {}
    for kind, model in KINDS:
        def compute(model: type = model) -> dict[Any, int]:
            return _raw_counts(session, model, dim)
        raw = memo(("statistics.listings", kind, dim, version.of(kind)), compute) if memo and version else compute()
        counts[kind] = _keyed(raw, top)
    keys = set(counts["demand"]) | set(counts["achievement"])
    order = sorted(keys) if dim == "month" else sorted(keys, key=lambda k: (-(counts["demand"][k] +
                                                                           counts["achievement"][k]), k))
    return [(k, counts["demand"][k], counts["achievement"][k]) for k in order]


@dataclass
class Coverage:
    """Open published demands, and how many of them have at least one match (the middle band or above)."""

    covered: int
    total: int
    computed_at: Optional[datetime] = None  # UTC: when the open demands were read for it

    @property
    def share(self) -> float:
        """Covered share in 0-1 (0 when there are no open demands)."""
        return self.covered / self.total if self.total else 0.0


class Runtime(Protocol):
    """What coverage needs from services.matching.MatchingRuntime."""

    model_ident: str

    def find_matches(self, session: Session, item: Any, k: int = 10) -> list: ...

    def stamps(self, kinds: tuple[str, ...]) -> list[int]: ...

    @property
    def calibration_ident(self) -> str: ...


def coverage(session: Session, runtime: Any,
             progress: Optional[Callable[[int, int], None]] = None) -> Coverage:
    """Match coverage (需求对接率) computed now: share of open published demands with at least one match
    (bands.is_match). One engine query per open demand: the coverage job's work, never a page's."""
    started = utcnow()  # the figure is of the listings as read now
    demands = list(session.scalars(reports.batch_demands_stmt(reports.ReportParams(scope="batch"))))
    covered = 0
    for done, demand in enumerate(demands, start=1):
        best = runtime.find_matches(session, demand, k=1)  # best first: the top pair decides
        covered += any(is_match(v.match.score) for v in best)
        if progress and (done % COVERAGE_PROGRESS_EVERY == 0 or done == len(demands)):
            progress(done, len(demands))
    return Coverage(covered=covered, total=len(demands), computed_at=started)


@dataclass
class CoverageInputs:
    """A digest of everything the coverage figure depends on, read in a few aggregate queries."""

    digest: str
    open_demands: int


def coverage_inputs(session: Session, runtime: Runtime, version: Optional[ListingsVersion] = None) -> CoverageInputs:
    """What the figure depends on: the published listings (listings_version: a publish, an edit, a close or a
    deletion moves it), the date (deadlines pass), the achievements' index stamp (the figure follows the index,
    which lags a commit when it syncs in the background), the calibration and the model."""
    version = version or listings_version(session)
    parts = (version.demand, version.open_demands, version.achievement, clock.today().isoformat(),
             list(runtime.stamps(("achievement",))),
             runtime.calibration_ident, runtime.model_ident)
    return CoverageInputs(hashlib.sha256(repr(parts).encode()).hexdigest()[:32], version.open_demands)


@dataclass
class CoverageFigure:
    """What the page shows: the newest computed figure (None: never computed) and whether it is current."""

    coverage: Optional[Coverage]
    current: bool
    inputs: CoverageInputs


def _newest(session: Session, *statuses: str) -> Optional[Job]:
    stmt = select(Job).where(Job.kind == COVERAGE_JOB)
    if statuses:
        stmt = stmt.where(Job.status.in_(statuses))
    return session.scalar(stmt.order_by(Job.id.desc()).limit(1))


def coverage_figure(session: Session, runtime: Runtime, version: Optional[ListingsVersion] = None) -> CoverageFigure:
    """The coverage figure for the page: never the engine, three queries whatever the number of listings.

    Why this way: coverage asks the engine once per open demand (8 s for the demo's 281 listings, minutes at
    scale), so a ``statistics.coverage`` job computes it off the request path and keeps the figure in its result
    with a digest of its inputs (coverage_inputs). The figure is current when that digest equals the digest
    now; it goes stale when a listing is published, edited, closed or deleted, a deadline passes, the
    achievements' index changes (a sync lands after the commit: the stamp moves then), or the calibration or
    model changes. A stale or missing figure is recomputed by a job that page views queue
    (request_coverage) and that every index.sync job runs when it is done (_after_index_sync), so the
    figure is usually current before anyone looks; meanwhile the page shows the previous one with its time.
    No migration: the figure lives in the job's result (the newest COVERAGE_KEEP are kept)."""
    inputs = coverage_inputs(session, runtime, version)
    if not inputs.open_demands:  # nothing to ask the engine: exact and free
        return CoverageFigure(Coverage(0, 0, utcnow()), True, inputs)
    job = _newest(session, JobStatus.DONE.value)
    if job is None or not job.result:
        return CoverageFigure(None, False, inputs)
    r = job.result
    figure = Coverage(int(r["covered"]), int(r["total"]), datetime.fromisoformat(r["computed_at"]))
    return CoverageFigure(figure, r.get("inputs") == inputs.digest, inputs)


def request_coverage(session: Session, runtime: Runtime, version: Optional[ListingsVersion] = None) -> Optional[Job]:
    """Submit a coverage job unless the figure is current, one is queued (it reads the listings when it starts),
    or the last one failed moments ago; the new job (the caller commits, then enqueues it) or None. A version
    read a moment ago may be given (a job queued for nothing finds the figure current and reuses it)."""
    if coverage_figure(session, runtime, version).current:
        return None
    newest = _newest(session)
    if newest is not None and (newest.status == JobStatus.QUEUED.value or (
            newest.status == JobStatus.FAILED.value and newest.finished_at is not None
            and newest.finished_at > utcnow() - timedelta(seconds=COVERAGE_RETRY_S))):
        return None
    return jobs.submit_job(session, COVERAGE_JOB, None, {})


@jobs.handler(COVERAGE_JOB)
def _coverage_job(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Compute the coverage figure for the listings and the index as they are when the job starts."""
    runtime = ctx.need("matching")
    _current_matcher(session, runtime)
    inputs = coverage_inputs(session, runtime)  # read before the figure: a change during the run makes it stale
    done = _newest(session, JobStatus.DONE.value)
    if done is not None and done.result and done.result.get("inputs") == inputs.digest:
        return {**done.result, "reused": done.id}  # computed already (two requests queued one each)
    c = coverage(session, runtime, progress=progress)
    _prune(session)
    return {"covered": c.covered, "total": c.total, "share": round(c.share, 4), "inputs": inputs.digest,
            "computed_at": c.computed_at.isoformat() if c.computed_at else utcnow().isoformat()}


def _current_matcher(session: Session, runtime: Any) -> None:
    """Make the runtime answer from the index as it is now (MATCHER_REFRESH=background would answer from the
    previous matcher while a thread rebuilds it)."""
    if session.scalar(select(Achievement.id).where(Achievement.status == Status.PUBLISHED.value).limit(1)) is None:
        return
    runtime.matcher("achievement", session)
    runtime.wait_for_refresh("achievement")


def _prune(session: Session) -> None:
    """Drop done coverage jobs but the newest few (this running one becomes the newest)."""
    old = list(session.scalars(select(Job.id).where(Job.kind == COVERAGE_JOB, Job.status == JobStatus.DONE.value)
                               .order_by(Job.id.desc()).offset(COVERAGE_KEEP - 1)))
    if old:
        session.execute(delete(Job).where(Job.id.in_(old)))


@jobs.after(SYNC_JOB)
def _after_index_sync(ctx: jobs.JobContext) -> None:
    """After each index.sync job, bring the coverage figure up to date in the same consumer (no page waits)."""
    if ctx.matching is None:  # no app wired this context (a script driving the index alone)
        return
    with ctx.factory() as session:
        job = request_coverage(session, ctx.matching)
        session.commit()
        job_id = job.id if job is not None else None
    if job_id is not None:
        jobs.run_job(ctx, job_id)


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



ROADSHOW_ROWS = 24  # roadshows per page of the dashboard; the CSV has every roadshow


def roadshow_count(session: Session) -> int:
    """How many roadshows there are in all (the dashboard pages through every one)."""
    return session.scalar(select(func.count()).select_from(Roadshow)) or 0


def roadshows(session: Session, page: int = 1, per_page: Optional[int] = ROADSHOW_ROWS
              ) -> list[tuple[str, str, int, int, int, int]]:
    """Per roadshow, latest first, one page of `per_page` (None: every roadshow): (title, date, presenters,
    registered companies, 1:1 meetings, meetings after which both sides said they were interested)."""
    def per(stmt: Any) -> dict[int, int]:
        return dict(session.execute(stmt).all())

    stmt = select(Roadshow).order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
    if per_page is not None:
        stmt = stmt.offset((max(page, 1) - 1) * per_page).limit(per_page)
    shows = list(session.scalars(stmt))
    ids = [r.id for r in shows]  # counted for the shown roadshows only: a row per shown roadshow, not per roadshow
    if not ids:
        return []

    def only(column: Any) -> Any:  # every roadshow (the CSV): no list of ids in the statement
        return column.in_(ids) if per_page is not None else true()

    presenters = per(select(RoadshowPresenter.roadshow_id, func.count()).where(only(RoadshowPresenter.roadshow_id))
                     .group_by(RoadshowPresenter.roadshow_id))
    registered = per(select(RoadshowInvitation.roadshow_id, func.count())
                     .where(RoadshowInvitation.status == "registered", only(RoadshowInvitation.roadshow_id))
                     .group_by(RoadshowInvitation.roadshow_id))
    meetings = per(select(RoadshowMeeting.roadshow_id, func.count()).where(only(RoadshowMeeting.roadshow_id))
                   .group_by(RoadshowMeeting.roadshow_id))
    both = per(select(RoadshowMeeting.roadshow_id, func.count()).where(
        RoadshowMeeting.company_intent == "interested", RoadshowMeeting.presenter_intent == "interested",
        only(RoadshowMeeting.roadshow_id)).group_by(RoadshowMeeting.roadshow_id))
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
