"""The dashboard: listings by field/region/month, match coverage, the funnel and contract turnover,
each chart an inline SVG and a CSV download; brokers and admins only."""
from __future__ import annotations

import csv
import io
from contextlib import ExitStack

import pytest

from matchmaking.bands import POSSIBLE_MIN

from tests.web.test_reports_web import report_id_of, run_single
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def read_csv(resp) -> list[list[str]]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


@pytest.fixture
def deal(client, market, login, session):
    """A report, an 'introduce', and a contract signed for 88 (万元)."""
    from models import MatchReportRow, Opportunity
    from services import pipeline
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = session.query(MatchReportRow).filter_by(report_id=rid, position=1).one()
    client.submit(f"/feedback/{row.demand_id}/{row.achievement_id}", {"outcome": "introduce", "row_id": row.id},
                  form_url=f"/reports/{rid}")
    opp = session.query(Opportunity).one()
    for _ in range(3):
        pipeline.advance(session, opp, market["broker"])
    pipeline.sign(session, opp, market["broker"], "transfer", "88", clock.today())
    session.commit()
    return opp


def test_dashboard_draws_every_chart_as_inline_svg(client, market, login, deal, zh):
    page = client.get("/statistics/").get_data(as_text=True)
    # no roadshow yet: "no data" there; the charts are drawn on the server (the layout's own scripts aside)
    assert page.count("<svg") == 7 and "<script" not in page.split("<main>", 1)[1]
    for name in ("by_field", "by_region", "by_month", "coverage", "funnel", "contracts", "roadshows", "challenges"):
        assert f"/statistics/{name}.csv" in page
    assert zh("Technology contracts by type (turnover)") in page and "88" in page


def test_listings_by_field_region_and_month_csv(client, market, login, deal):
    rows = read_csv(client.get("/statistics/by_field.csv"))
    assert rows[0] == ["技术领域", "技术需求", "科技成果"]
    assert ["新能源", "1", "1"] in rows and ["现代农业", "0", "1"] in rows
    regions = read_csv(client.get("/statistics/by_region.csv"))
    assert ["陕西省", "1", "0"] in regions and ["江苏省", "0", "2"] in regions
    months = read_csv(client.get("/statistics/by_month.csv"))
    assert months[1] == [clock.today().strftime("%Y-%m"), "1", "2"]


def test_funnel_and_contract_turnover(client, market, login, deal):
    funnel = read_csv(client.get("/statistics/funnel.csv"))
    assert [r[1] for r in funnel[1:]] == ["2", "1", "1", "1"]
    contracts = read_csv(client.get("/statistics/contracts.csv"))
    assert ["技术转让", "1", "88.0"] in contracts and ["技术许可", "0", "0.0"] in contracts


@pytest.mark.parametrize("score, row", [(POSSIBLE_MIN + 1.0, ["1", "1", "100.0"]),
                                        (POSSIBLE_MIN - 1.0, ["1", "0", "0.0"])])
def test_coverage_counts_demands_with_a_match_in_the_middle_band_or_above(client, market, login, app, monkeypatch,
                                                                         score, row, zh):
    """The best match's band decides (chosen scores: the engine's own today are beside the point)."""
    from matchmaking.engine import Match
    from tests.services.test_band_consumers import View
    runtime = app.extensions["matching"]
    monkeypatch.setattr(runtime, "find_matches", lambda session, item, k=10: [
        View(market["good"], Match(id=market["good"].id, score=score, breakdown={}))])
    login(market["broker"])
    table = read_csv(client.get("/statistics/coverage.csv"))
    assert table[1] == row
    assert table[0][1] == zh("With at least one possible or strong match")


def test_dashboard_is_for_staff_only(client, market, login, make_user):
    login(market["company"])
    assert client.get("/statistics/").status_code == 403
    assert client.get("/statistics/funnel.csv").status_code == 403
    login(make_user("admin"))
    assert client.get("/statistics/").status_code == 200
    assert client.get("/statistics/nope.csv").status_code == 404


def test_empty_platform_shows_no_data_not_an_error(client, login_as, zh):
    login_as("broker")
    page = client.get("/statistics/")
    assert page.status_code == 200 and zh("No data yet.") in page.get_data(as_text=True)


def test_roadshow_and_challenge_outcomes(client, login, session, app, make_user, make_listing, zh):
    from tests.services.test_challenges import _expire, application, challenge_data
    from tests.services.test_roadshows import SOLID_ACH, roadshow_data
    from services import challenges, roadshows

    broker, company, uni = make_user("broker"), make_user("company", org="秦川电池"), make_user("university")
    make_listing("demand", company, reviewer=broker)
    ach = make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)
    rs = roadshows.create_roadshow(session, broker, roadshow_data(title="储能专场"))
    presenter = roadshows.add_presenter(session, rs, ach.id)
    roadshows.invite(session, rs, company.id)
    session.commit()
    roadshows.register(session, rs.id, company)
    roadshows.set_wishes(session, app.extensions["matching"], rs, company, [presenter.id])
    roadshows.build_schedule(session, rs)
    [meeting] = roadshows.meetings(session, rs)
    for user in (company, uni):
        roadshows.record_intent(session, meeting.id, user, "interested")
    ch = challenges.create_challenge(session, broker, challenge_data())
    session.commit()
    applied = challenges.apply(session, ch, uni, application())
    session.commit()
    _expire(session, ch)
    challenges.shortlist(session, ch, [applied.id])
    challenges.announce(session, ch, applied.id)
    challenges.create_challenge(session, broker, challenge_data(title="另一个难题"))
    session.commit()

    login(broker)
    shows = read_csv(client.get("/statistics/roadshows.csv"))
    assert shows[0] == [zh("Roadshow"), zh("Presenters"), zh("Registered companies"), zh("1:1 meetings"),
                        zh("Both sides interested")]
    assert shows[1:] == [[f"储能专场 ({rs.held_on.isoformat()})", "1", "1", "1", "1"]]
    assert read_csv(client.get("/statistics/challenges.csv"))[1:] == [
        [zh("Open"), "1", "0", "0"], [zh("Closed for applications"), "0", "0", "0"],
        [zh("Winner announced"), "1", "1", "1"]]
    assert client.get("/statistics/").get_data(as_text=True).count("<svg") == 8


# ------------------------------------------------------------------------- constant time (issue 17, item 4)

def _refuse(*_a, **_kw):
    raise AssertionError("the page asked the engine")


def _says(page: str, *texts: str) -> bool:
    """One of the texts is on the page (a note in zh-CN once the catalogue is compiled, else in English)."""
    return any(t in page for t in texts)


def _coverage_jobs(session) -> list:
    from models import Job
    from services import statistics
    session.expire_all()
    return list(session.query(Job).filter_by(kind=statistics.COVERAGE_JOB).order_by(Job.id))


def _counted_page(app, client) -> tuple[int, str]:
    """(SQL statements sent by the app's engines, page) for one dashboard view (PostgreSQL: one engine)."""
    from tests.services.test_statistics import statements
    engines = {id(e): e for e in (app.extensions["db_engine"], app.extensions["db_write_engine"])}.values()
    with ExitStack() as stack:
        sent = [stack.enter_context(statements(e)) for e in engines]
        page = client.get("/statistics/").get_data(as_text=True)
    return sum(len(s) for s in sent), page


def test_the_page_sends_as_many_statements_for_200_listings_as_for_20_and_never_asks_the_engine(
        app, client, login_as, make_user, session, monkeypatch):
    from tests.services.test_statistics import seed_listings
    rt = app.extensions["matching"]
    owner = make_user("company")
    login_as("broker")
    counts = []
    for n in (20, 200):
        seed_listings(session, owner.id, n if not counts else n - 20, seed=n)
        monkeypatch.setattr(rt, "find_matches", lambda session, item, k=10: [])  # the job's engine: any answer
        client.get("/statistics/")  # the figure is stale: computed now (JOBS_MODE=inline runs the job at once)
        monkeypatch.setattr(rt, "find_matches", _refuse)
        n_sql, page = _counted_page(app, client)
        assert _says(page, "计算时间", "Computed at") and page.count("<svg") >= 4
        counts.append(n_sql)
    assert counts[0] == counts[1] <= 40, counts  # about 20: the charts' queries, the signed-in user, the layout


def test_a_figure_not_computed_yet_is_queued_not_waited_for(app, client, market, login, session, monkeypatch):
    queue, handed = app.extensions["jobs"], []
    monkeypatch.setattr(queue, "enqueue", lambda job_id: handed.append(job_id) or True)  # a queue: runs later
    monkeypatch.setattr(type(queue), "inline", property(lambda self: False))
    monkeypatch.setattr(app.extensions["matching"], "find_matches", _refuse)
    login(market["broker"])
    page = client.get("/statistics/").get_data(as_text=True)
    assert _says(page, "尚未计算", "Not computed yet")
    assert read_csv(client.get("/statistics/coverage.csv"))[1:] == []  # no figure yet, and no second job
    queued = _coverage_jobs(session)
    assert [job.status for job in queued] == ["queued"] and queued[0].id in handed


def test_coverage_follows_a_new_listing_once_the_index_syncs(client, login, session, make_user, make_listing):
    """The real engine: a battery demand has no match among rice-breeding achievements until a battery coating
    achievement is published (INDEX_SYNC=inline: the index syncs at the commit)."""
    broker, company, uni = make_user("broker"), make_user("company", org="秦川电池"), make_user("university")
    make_listing("demand", company, reviewer=broker)
    make_listing("achievement", uni, reviewer=broker, title="水稻抗稻瘟病分子育种技术",
                 abstract="利用分子标记辅助选择将抗稻瘟病基因聚合到优良水稻品种中，田间抗性显著提高，产量稳定。",
                 field_code="agriculture.breeding", keywords="水稻,抗病育种,分子标记", price=None, negotiable=True)
    login(broker)
    assert read_csv(client.get("/statistics/coverage.csv"))[1] == ["1", "0", "0.0"]
    make_listing("achievement", make_user("university", org="秦岭理工大学"), reviewer=broker)
    assert read_csv(client.get("/statistics/coverage.csv"))[1] == ["1", "1", "100.0"]


def test_an_index_sync_job_computes_the_figure_before_anyone_looks(app, client, market, login, session,
                                                                   monkeypatch):
    """JOBS_MODE=queue: each commit that touches listings becomes an index.sync job; when it is done, the coverage
    job follows in the same consumer, so the page finds the figure current."""
    from services import jobs, statistics
    from services.matching import submit_sync_job
    from web.jobs import context as job_context
    rt = app.extensions["matching"]
    job = submit_sync_job(session, {("achievement", market["good"].id)}, rt.model_ident)
    session.commit()
    jobs.run_job(job_context(app), job.id)
    assert statistics.coverage_figure(session, rt).current
    monkeypatch.setattr(rt, "find_matches", _refuse)
    login(market["broker"])
    assert read_csv(client.get("/statistics/coverage.csv"))[1][0] == "1"


def test_a_stale_figure_is_shown_with_its_time_while_the_update_waits_in_the_queue(app, client, market, login,
                                                                                    make_user, make_listing,
                                                                                    session, monkeypatch):
    login(market["broker"])
    first = read_csv(client.get("/statistics/coverage.csv"))[1]  # JOBS_MODE=inline: computed at once
    queue, handed = app.extensions["jobs"], []
    monkeypatch.setattr(queue, "enqueue", lambda job_id: handed.append(job_id) or True)  # from here: a queue
    monkeypatch.setattr(type(queue), "inline", property(lambda self: False))
    monkeypatch.setattr(app.extensions["matching"], "find_matches", _refuse)
    make_listing("demand", make_user("company"), reviewer=market["broker"], title="另一项需求")
    page = client.get("/statistics/").get_data(as_text=True)
    assert _says(page, "此后发布信息、索引或评分校准有变化", "changed since: an update is being computed")
    assert read_csv(client.get("/statistics/coverage.csv"))[1] == first
    assert [job.status for job in _coverage_jobs(session)] == ["done", "queued"]  # one update queued, not two


def test_every_roadshow_is_listed_paged_and_counted_as_sql_counts(client, login, session, make_user, zh):
    """Issue 22 point 4: not only the latest 24; each page's counts equal SQL counts, the CSV has every roadshow."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from models import RoadshowInvitation, RoadshowPresenter
    from services import roadshows
    from services.statistics import ROADSHOW_ROWS
    from tests.services.test_roadshow_programme import published_achievement, roadshow_data

    broker, uni = make_user("broker"), make_user("university")
    companies = [make_user("company") for _ in range(3)]
    ach = published_achievement(session, uni)
    total = ROADSHOW_ROWS + 6
    made = []
    for n in range(total):
        rs = roadshows.create_roadshow(session, broker, roadshow_data(title=f"路演第{n:02d}场"))
        rs.held_on = clock.today() + timedelta(days=n)  # n: the later, the earlier it is listed
        if n % 3 == 0:
            session.add(RoadshowPresenter(roadshow_id=rs.id, achievement_id=ach.id, position=0))
        for k, c in enumerate(companies[: n % 4]):
            session.add(RoadshowInvitation(roadshow_id=rs.id, company_id=c.id, status="registered",
                                           participant="company", source="self", ticket=k + 1))
        made.append(rs)
    session.commit()

    def sql(model, rs_id, **where):
        stmt = select(func.count()).select_from(model).where(model.roadshow_id == rs_id)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return str(session.scalar(stmt))

    expected = [[f"{r.title} ({r.held_on.isoformat()})", sql(RoadshowPresenter, r.id),
                 sql(RoadshowInvitation, r.id, status="registered"), "0", "0"] for r in reversed(made)]
    login(broker)
    assert read_csv(client.get("/statistics/roadshows.csv"))[1:] == expected  # every roadshow, latest first

    first = client.get("/statistics/").get_data(as_text=True)
    assert 'id="roadshows-pager"' in first and zh("Page %(p)s of %(n)s") % {"p": 1, "n": 2} in first
    assert "路演第29场" in first and "路演第05场" not in first
    second = client.get("/statistics/?roadshows_page=2").get_data(as_text=True)
    section = second.split('id="roadshows"', 1)[1]
    shown = sorted((t for t in (f"路演第{n:02d}场" for n in range(total)) if t in section), key=section.index)
    assert shown == [f"路演第{n:02d}场" for n in range(5, -1, -1)]
    assert "roadshows_page=1" in second and "roadshows_page=3" not in second
    for bad in ("0", "-1", "x", "99999999999"):  # odd pages: the first or the last, never a 500
        assert client.get(f"/statistics/?roadshows_page={bad}").status_code == 200
