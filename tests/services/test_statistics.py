"""Statistics figures: listings counted by GROUP BY queries (equal to a plain count in Python over the rows, on
SQLite and PostgreSQL), and match coverage read from a job's result, never computed by the page.

The engine is a stand-in here (chosen scores, no model): how the figure is kept and when it goes stale is tested,
not what the engine scores (tests/web/test_statistics_web.py uses the real one)."""
from __future__ import annotations

import random
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

import pytest
from sqlalchemy import event, insert, select, update

from matchmaking import bands
from matchmaking.engine import Match
from models import Achievement, Demand, Field, Job, Region, Status, utcnow
from services import clock, jobs, reports, statistics
from services.matching import SYNC_JOB
from web.jobs import context as job_context

STATUSES = [s.value for s in Status]


def seed_listings(session: Any, owner_id: int, n: int, *, seed: int = 0) -> list[dict]:
    """n demands and achievements by bulk INSERT (no index sync, no model): every status, top-level fields and
    sub-fields, regions (none, empty, codes), publication months over two years (a few published rows without a
    publication time: counted by their creation month); the inserted values, for the expected counts."""
    rng = random.Random(seed)
    fields = list(session.scalars(select(Field.id)))
    regions = [None, ""] + list(session.scalars(select(Region.code)))[:6]
    rows: dict[str, list[dict]] = {"demand": [], "achievement": []}
    start = datetime(2024, 11, 20, 12, 0)
    for i in range(n):
        kind = "demand" if i % 3 == 0 else "achievement"
        status = Status.PUBLISHED.value if rng.random() < 0.7 else rng.choice(STATUSES)
        created = start + timedelta(days=rng.randrange(0, 700), minutes=rng.randrange(0, 1440))
        published = None if status == Status.PUBLISHED.value and rng.random() < 0.05 else \
            created + timedelta(days=rng.randrange(0, 40))
        row = dict(title=f"统计测试 {kind} {i}", region=rng.choice(regions), status=status, contact_name="测试",
                   contact_phone="13800000000", contact_email=f"s{i}@example.com", created_at=created,
                   published_at=published if status in (Status.PUBLISHED.value, Status.CLOSED.value) else None,
                   owner_id=owner_id, field_id=rng.choice(fields))
        if kind == "demand":
            row.update(description="需求描述", deadline=clock.today() + timedelta(days=rng.choice([-5, 30, 90])))
        else:
            row.update(abstract="成果简介")
        rows[kind].append(row)
    for kind, model in (("demand", Demand), ("achievement", Achievement)):
        if rows[kind]:
            session.execute(insert(model), rows[kind])
    session.commit()
    return [dict(r, kind=k) for k in rows for r in rows[k]]


def expected(session: Any, rows: list[dict], dim: str) -> list[tuple[str, int, int]]:
    """The figures counted the plain way: every published row looked at in Python."""
    fields = {f.id: f for f in session.scalars(select(Field))}
    counts = {"demand": Counter(), "achievement": Counter()}
    for r in rows:
        if r["status"] != Status.PUBLISHED.value:
            continue
        if dim == "field":
            f = fields[r["field_id"]]
            key = (f.parent or f).code
        elif dim == "region":
            key = r["region"] or ""
        else:
            key = (r["published_at"] or r["created_at"]).strftime("%Y-%m")
        counts[r["kind"]][key] += 1
    keys = set(counts["demand"]) | set(counts["achievement"])
    order = sorted(keys) if dim == "month" else sorted(
        keys, key=lambda k: (-(counts["demand"][k] + counts["achievement"][k]), k))
    return [(k, counts["demand"][k], counts["achievement"][k]) for k in order]


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements an engine sends while the block runs."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        sent.append(sql)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def owner(make_user):
    return make_user("company")


@pytest.mark.parametrize("dim", statistics.DIMENSIONS)
def test_listings_by_equal_a_plain_count_of_published_listings(session, owner, dim):
    rows = seed_listings(session, owner.id, 300)
    got = statistics.listings_by(session, dim)
    assert got == expected(session, rows, dim)
    assert sum(d + a for _k, d, a in got) == sum(r["status"] == "published" for r in rows)


def test_listings_by_field_counts_a_sub_field_for_its_top_level_field(session, owner):
    sub = session.scalar(select(Field).where(Field.parent_id.is_not(None)))
    rows = seed_listings(session, owner.id, 6)
    session.execute(update(Demand).values(field_id=sub.id, status="published"))
    session.execute(update(Achievement).values(field_id=sub.parent_id, status="published"))
    session.commit()
    n_dem = sum(r["kind"] == "demand" for r in rows)
    assert statistics.listings_by(session, "field") == [(sub.parent.code, n_dem, len(rows) - n_dem)]


def test_listings_by_month_uses_the_creation_month_when_there_is_no_publication_time(session, owner):
    seed_listings(session, owner.id, 3)
    session.execute(update(Demand).values(status="published", published_at=None, created_at=datetime(2025, 3, 31, 23)))
    session.execute(update(Achievement).values(status="published", published_at=datetime(2025, 4, 1, 0, 30)))
    session.commit()
    assert statistics.listings_by(session, "month") == [("2025-03", 1, 0), ("2025-04", 0, 2)]


def test_listings_by_refuses_an_unknown_dimension(session):
    with pytest.raises(ValueError):
        statistics.listings_by(session, "owner")


@pytest.mark.parametrize("dim", statistics.DIMENSIONS)
def test_listings_by_sends_one_grouped_query_per_kind_whatever_the_number_of_listings(app, session, owner, dim):
    sent = []
    for n in (20, 200):
        seed_listings(session, owner.id, n, seed=n)
        with statements(app.extensions["db_engine"]) as found:
            statistics.listings_by(session, dim)
        sent.append(found)
    assert len(sent[0]) == len(sent[1]) <= 3
    assert sum("GROUP BY" in sql for sql in sent[1]) == 2  # the rest: the taxonomy (field -> top-level field)
    assert all("GROUP BY" in sql or "FROM fields" in sql for sql in sent[1])


class Memo:
    """The matching runtime's remember(): a dict."""

    def __init__(self) -> None:
        self.kept: dict = {}

    def __call__(self, key: tuple, compute: Any) -> Any:
        if key not in self.kept:
            self.kept[key] = compute()
        return self.kept[key]


def test_remembered_counts_are_recomputed_when_the_listings_move(app, session, owner):
    rows, memo = seed_listings(session, owner.id, 60), Memo()

    def counted() -> tuple[list, int]:
        with statements(app.extensions["db_engine"]) as found:
            got = statistics.listings_by(session, "region", version=statistics.listings_version(session), memo=memo)
        return got, sum("GROUP BY" in sql for sql in found)

    assert counted() == (expected(session, rows, "region"), 2)
    assert counted()[1] == 0  # nothing moved: remembered
    draft = next(r for r in rows if r["kind"] == "achievement" and r["status"] == "draft")
    session.execute(update(Achievement).where(Achievement.title == draft["title"]).values(status="published"))
    session.commit()
    draft["status"] = "published"
    assert counted() == (expected(session, rows, "region"), 1)  # the achievements' part moved, not the demands'
    published = next(r for r in rows if r["kind"] == "demand" and r["status"] == "published")
    session.execute(update(Demand).where(Demand.title == published["title"]).values(region="jiangsu"))
    session.commit()
    published["region"] = "jiangsu"
    assert counted() == (expected(session, rows, "region"), 1)  # an edit of a published listing


def test_listings_version_counts_open_demands_as_a_batch_report_does(session, owner):
    seed_listings(session, owner.id, 90)
    assert statistics.listings_version(session).open_demands == \
        reports.count_batch(session, reports.ReportParams(scope="batch")) > 0


# ---------------------------------------------------------------------------------------------- coverage

class StandIn:
    """The matching runtime as coverage sees it: a chosen score per demand (the best match), index stamps and a
    calibration that tests move; asking the engine while `refuse` is set fails the test."""

    model_ident = "stand-in"

    def __init__(self) -> None:
        self.scores: dict[int, float] = {}
        self.asked: list[int] = []
        self.stamp = 1
        self.calibration_ident = "shipped@1"
        self.refuse = False

    def find_matches(self, session: Any, item: Any, k: int = 10) -> list:
        assert not self.refuse, "the engine was asked for a figure that should have been read"
        self.asked.append(item.id)
        if item.id not in self.scores:
            return []
        return [type("View", (), {"match": Match(id=0, score=self.scores[item.id], breakdown={})})()]

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        return [self.stamp for _ in kinds]

    def matcher(self, kind: str, session: Any) -> None:
        return None

    def wait_for_refresh(self, kind: str, timeout: float | None = None) -> None:
        return None


@pytest.fixture
def engine_stand_in(app):
    runtime = StandIn()
    job_context(app).provide(matching=runtime)  # what coverage jobs run with
    return runtime


def publish_demands(session, owner, n: int, **over: Any) -> list[int]:
    field_id = session.scalar(select(Field.id).limit(1))
    rows = [dict(title=f"需求 {i}", status="published", contact_name="测试", contact_phone="13800000000",
                 contact_email=f"d{i}@example.com", owner_id=owner.id, field_id=field_id, description="需求描述",
                 published_at=datetime(2025, 5, 1), **over) for i in range(n)]
    ids = list(session.scalars(insert(Demand).returning(Demand.id), rows))
    session.commit()
    return ids


def publish_achievement(session, owner) -> int:
    field_id = session.scalar(select(Field.id).limit(1))
    aid = session.scalar(insert(Achievement).returning(Achievement.id), [dict(
        title="成果", status="published", contact_name="测试", contact_phone="13800000000",
        contact_email="a@example.com", owner_id=owner.id, field_id=field_id, abstract="成果简介",
        published_at=datetime(2025, 5, 1))])
    session.commit()
    return aid


def run_queued(app, session) -> Job:
    """What a page view does when the figure is stale: submit a job; then the queue runs it."""
    job = statistics.request_coverage(session, job_context(app).matching)
    assert job is not None
    session.commit()
    jobs.run_job(job_context(app), job.id)
    session.expire_all()
    return session.get(Job, job.id)


def test_the_figure_is_missing_until_a_job_computes_it_then_read_without_the_engine(app, session, owner,
                                                                                     engine_stand_in):
    ids = publish_demands(session, owner, 3)
    publish_achievement(session, owner)
    engine_stand_in.scores = {ids[0]: bands.POSSIBLE_MIN - 1.0, ids[1]: bands.POSSIBLE_MIN, ids[2]: bands.STRONG_MIN}
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.coverage is None and not figure.current
    job = run_queued(app, session)
    assert job.status == "done" and (job.result["covered"], job.result["total"]) == (2, 3)
    assert sorted(engine_stand_in.asked) == sorted(ids)
    engine_stand_in.refuse = True
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.current and (figure.coverage.covered, figure.coverage.total) == (2, 3)
    assert figure.coverage.computed_at is not None
    assert statistics.request_coverage(session, engine_stand_in) is None  # current: nothing to queue


def test_the_figure_reads_in_a_few_queries_whatever_the_number_of_listings(app, session, owner, engine_stand_in):
    sent = []
    for n in (20, 200):
        publish_demands(session, owner, n)
        run_queued(app, session)
        with statements(app.extensions["db_engine"]) as found:
            figure = statistics.coverage_figure(session, engine_stand_in)
        assert figure.current
        sent.append(len(found))
    assert sent[0] == sent[1] <= 3


@pytest.mark.parametrize("change", ["publish demand", "close demand", "edit demand", "deadline passed",
                                    "publish achievement", "index synced", "calibration refit"])
def test_the_figure_goes_stale_when_what_it_depends_on_changes(app, session, owner, engine_stand_in, change):
    ids = publish_demands(session, owner, 2, deadline=clock.today() + timedelta(days=5))
    publish_achievement(session, owner)
    run_queued(app, session)
    assert statistics.coverage_figure(session, engine_stand_in).current
    later = datetime.now() + timedelta(seconds=1)
    if change == "publish demand":
        publish_demands(session, owner, 1)
    elif change == "close demand":
        session.execute(update(Demand).where(Demand.id == ids[0]).values(status="closed", updated_at=later))
    elif change == "edit demand":
        session.execute(update(Demand).where(Demand.id == ids[0]).values(title="改过的需求", updated_at=later))
    elif change == "deadline passed":
        session.execute(update(Demand).where(Demand.id == ids[0]).values(
            deadline=clock.today() - timedelta(days=1), updated_at=session.get(Demand, ids[0]).updated_at))
    elif change == "publish achievement":
        publish_achievement(session, owner)
    elif change == "index synced":
        engine_stand_in.stamp += 1
    else:
        engine_stand_in.calibration_ident = "instance/calibration.json@2"
    session.commit()
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.coverage is not None and not figure.current  # the previous figure, shown with its time


def test_a_new_figure_follows_a_publication(app, session, owner, engine_stand_in):
    ids = publish_demands(session, owner, 2)
    publish_achievement(session, owner)
    engine_stand_in.scores = {ids[0]: bands.STRONG_MIN}
    run_queued(app, session)
    new = publish_demands(session, owner, 1)
    engine_stand_in.scores[new[0]] = bands.POSSIBLE_MIN + 1.0
    run_queued(app, session)
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.current and (figure.coverage.covered, figure.coverage.total) == (2, 3)


def test_no_open_demand_gives_an_exact_zero_without_a_job(session, engine_stand_in):
    engine_stand_in.refuse = True
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.current and (figure.coverage.covered, figure.coverage.total) == (0, 0)
    assert statistics.request_coverage(session, engine_stand_in) is None


def test_a_queued_job_is_not_queued_again_and_a_failed_one_not_retried_at_once(app, session, owner,
                                                                               engine_stand_in):
    publish_demands(session, owner, 2)
    job = statistics.request_coverage(session, engine_stand_in)
    session.commit()
    assert job is not None and statistics.request_coverage(session, engine_stand_in) is None
    engine_stand_in.refuse = True  # the job fails
    jobs.run_job(job_context(app), job.id)
    session.expire_all()
    assert session.get(Job, job.id).status == "failed"
    assert statistics.request_coverage(session, engine_stand_in) is None  # not on every page view
    session.execute(update(Job).where(Job.id == job.id).values(
        finished_at=utcnow() - timedelta(seconds=statistics.COVERAGE_RETRY_S + 1)))
    session.commit()
    assert statistics.request_coverage(session, engine_stand_in) is not None


def test_a_job_for_a_figure_computed_meanwhile_reuses_it(app, session, owner, engine_stand_in):
    publish_demands(session, owner, 2)
    first = statistics.request_coverage(session, engine_stand_in)
    session.commit()
    second = jobs.submit_job(session, statistics.COVERAGE_JOB, None, {})  # a second page view, in parallel
    session.commit()
    for job in (first, second):
        jobs.run_job(job_context(app), job.id)
    session.expire_all()
    assert len(engine_stand_in.asked) == 2  # computed once
    assert session.get(Job, second.id).result["reused"] == first.id


def test_old_figures_are_pruned(app, session, owner, engine_stand_in):
    publish_demands(session, owner, 1)
    for _ in range(statistics.COVERAGE_KEEP + 3):
        engine_stand_in.stamp += 1
        run_queued(app, session)
    kept = session.scalars(select(Job.id).where(Job.kind == statistics.COVERAGE_JOB)).all()
    assert len(kept) == statistics.COVERAGE_KEEP


def test_an_index_sync_job_brings_the_figure_up_to_date(app, session, owner, engine_stand_in, monkeypatch):
    """What JOBS_MODE=queue does after a commit: an index.sync job, then (its follower) the coverage job."""
    monkeypatch.setitem(jobs.HANDLERS, SYNC_JOB, lambda s, job, progress, ctx: {})  # the sync itself: not tested here
    ids = publish_demands(session, owner, 2)
    engine_stand_in.scores = {ids[1]: bands.POSSIBLE_MIN}
    engine_stand_in.stamp += 1  # the sync moved the index
    sync = jobs.submit_job(session, SYNC_JOB, None, {"kinds": ["achievement"]})
    session.commit()
    jobs.run_job(job_context(app), sync.id)
    engine_stand_in.refuse = True
    figure = statistics.coverage_figure(session, engine_stand_in)
    assert figure.current and (figure.coverage.covered, figure.coverage.total) == (1, 2)
    computed = session.scalars(select(Job.id).where(Job.kind == statistics.COVERAGE_JOB)).all()
    again = jobs.submit_job(session, SYNC_JOB, None, {"kinds": []})  # a sync that changed nothing
    session.commit()
    jobs.run_job(job_context(app), again.id)
    assert session.scalars(select(Job.id).where(Job.kind == statistics.COVERAGE_JOB)).all() == computed


def test_a_failing_follower_leaves_the_index_sync_done(app, session, monkeypatch):
    monkeypatch.setitem(jobs.HANDLERS, SYNC_JOB, lambda s, job, progress, ctx: {"ok": 1})

    def broken(_ctx: Any) -> None:
        raise RuntimeError("follower broke")

    monkeypatch.setitem(jobs.FOLLOWERS, SYNC_JOB, [broken])
    job = jobs.submit_job(session, SYNC_JOB, None, {"kinds": []})
    session.commit()
    jobs.run_job(job_context(app), job.id)
    session.expire_all()
    assert session.get(Job, job.id).status == "done"
