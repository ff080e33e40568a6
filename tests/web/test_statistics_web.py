"""The dashboard: listings by field/region/month, match coverage, the funnel and contract turnover,
each chart an inline SVG and a CSV download; brokers and admins only."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from matchmaking.bands import POSSIBLE_MIN

from tests.web.test_reports_web import report_id_of, run_single

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
    pipeline.sign(session, opp, market["broker"], "transfer", "88", date.today())
    session.commit()
    return opp


def test_dashboard_draws_every_chart_as_inline_svg(client, market, login, deal, zh):
    page = client.get("/statistics/").get_data(as_text=True)
    assert page.count("<svg") == 7 and "<script" not in page  # no roadshow yet: "no data" there
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
    assert months[1] == [date.today().strftime("%Y-%m"), "1", "2"]


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
