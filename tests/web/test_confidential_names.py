"""A confidential demand's company (issue 21 part 3) on the later features' pages: the roadshow page, the roadshow
API, the programme's roadshow page, the challenge pages made from the demand and a match report's export never
name it to a university before an accepted introduction; staff and the company itself see it."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from models import RoadshowMeeting
from services import challenge_race, clock, introductions, roadshows, tokens
from tests.web.test_confidential_demands import _client

SECRET = "灞河绝密储能材料有限公司"


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


@pytest.fixture
def world(session, make_user, make_listing):
    """A company invited to a roadshow for its confidential demand, meeting a university's presenting achievement."""
    broker = make_user("broker")
    company = make_user("company", org=SECRET)
    uni = make_user("university", org="长安大学技术转移中心")
    demand = make_listing("demand", company, reviewer=broker, confidential=True, title="保密需求：储能电池热管理")
    achievement = make_listing("achievement", uni, reviewer=broker)
    rs = roadshows.create_roadshow(session, broker, {
        "title": "保密企业路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=9),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 2, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    presenter = roadshows.add_presenter(session, rs, achievement.id)
    roadshows.invite(session, rs, company.id, demand_id=demand.id)
    roadshows.register(session, rs.id, company)
    session.add(RoadshowMeeting(roadshow_id=rs.id, company_id=company.id, presenter_id=presenter.id, slot=1,
                                table_no=1, score=50.0))
    session.commit()
    return dict(broker=broker, company=company, uni=uni, demand=demand, achievement=achievement, rs=rs)


def _api(app, session, user, url):
    _row, clear = tokens.create_token(session, user, "names")
    session.commit()
    resp = app.test_client().get(url, headers={"Authorization": f"Bearer {clear}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return json.dumps(resp.get_json(), ensure_ascii=False)


def _accept(session, world):
    intro = introductions.request_introduction(session, world["company"], world["demand"].id,
                                               world["achievement"].id, "契合")
    introductions.accept(session, intro, world["uni"])
    session.commit()


def test_the_roadshow_page_hides_the_company_from_the_presenter_until_accepted(app, session, world, zh):
    url = f"/roadshows/{world['rs'].id}"
    page = _client(app, world["uni"]).get(url).get_data(as_text=True)
    assert world["achievement"].title in page and SECRET not in page and zh("Confidential company") in page
    assert SECRET in _client(app, world["company"]).get(url).get_data(as_text=True)
    _accept(session, world)
    assert SECRET in _client(app, world["uni"]).get(url).get_data(as_text=True)


def test_the_roadshow_api_hides_the_company_from_the_presenter(app, session, world):
    url = f"/api/v1/roadshows/{world['rs'].id}"
    body = _api(app, session, world["uni"], url)
    assert world["achievement"].title in body and SECRET not in body
    assert SECRET in _api(app, session, world["broker"], url)  # staff always see it


def test_the_programme_roadshow_page_hides_the_company_from_the_presenter(app, session, world, zh):
    url = f"/programme/roadshows/{world['rs'].id}"
    page = _client(app, world["uni"]).get(url).get_data(as_text=True)
    assert 'id="meetings"' in page and SECRET not in page and zh("Confidential company") in page
    assert SECRET not in _client(app).get(url).get_data(as_text=True)
    ics = _client(app, world["uni"]).get(f"{url}.ics")  # the presenter's calendar file names its meeting's company
    unfolded = ics.get_data(as_text=True).replace("\r\n ", "")  # iCalendar folds long lines
    assert ics.status_code == 200 and world["achievement"].title in unfolded and SECRET not in unfolded


def test_challenge_pages_made_from_a_confidential_demand_name_no_company(app, session, world):
    challenge = challenge_race.create_from_demands(session, world["broker"], [world["demand"].id], {
        "title": "保密揭榜难题", "problem": "储能电池热失控风险高，需要从材料到系统的安全防护技术方案。",
        "indicators": "", "reward": 100.0, "deadline": clock.today() + timedelta(days=20), "eligibility": "",
        "criteria": "技术先进性 | scientist | 100"})
    session.commit()
    urls = ["/challenges/", f"/challenges/{challenge.id}", "/programme/challenges/",
            f"/programme/challenges/{challenge.id}"]
    for who in (None, world["uni"]):
        client = _client(app, who)
        for url in urls:
            resp = client.get(url)
            if who is None and url.startswith("/challenges/"):  # the applications pages ask visitors to sign in
                assert resp.status_code == 302 and SECRET not in resp.get_data(as_text=True)
                continue
            assert resp.status_code == 200, url
            # the application form lists every company and university as a possible partner (a directory of
            # names, the same on every challenge, not tied to the demand): only that list may carry the name
            text = resp.get_data(as_text=True).replace(f'">{SECRET}</label>', "")
            assert "保密揭榜难题" in text and SECRET not in text, (who, url)
    assert challenge.sponsor not in ("", SECRET)


def test_a_report_export_names_no_confidential_company(app, session, world):
    from models import MatchReport, MatchReportRow
    from services import reports

    facts = {"breakdown": {}, "shared_terms": [], "best_sentence": "", "reasons": [], "query_kind": "demand",
             "demand": reports.listing_facts(world["demand"]), "achievement": reports.listing_facts(world["achievement"])}
    report = MatchReport(owner_id=world["broker"].id, scope="demand", subject_id=world["demand"].id, title="保密报告",
                         params={"k": 5}, row_count=1, model_key="test")
    report.rows = [MatchReportRow(position=1, demand_id=world["demand"].id, achievement_id=world["achievement"].id,
                                  score=70.0, snapshot=facts)]
    session.add(report)
    session.commit()
    resp = _client(app, world["broker"]).get(f"/reports/{report.id}.csv")
    assert resp.status_code == 200
    text = resp.get_data().decode("utf-8-sig")
    assert world["demand"].title in text and SECRET not in text
