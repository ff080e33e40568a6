"""The advisory panel (科技顾问团) through the pages and the API: an admin creates advisors, a broker forms a panel
(a conflicting advisor refused with the reason, nothing saved), three advisors score, the owner sees the summary,
the report PDF/XLSX/CSV carries it, the gate holds a roadshow presenter back; nobody sees what is not theirs, and
bad input gets a clear message in both languages."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AuditEvent, MatchReport, MatchReportRow, Panel, PanelReview
from services import accounts, clock, panels, reports
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


DUE = (clock.today() + timedelta(days=6)).isoformat()
EXPERTS = [("scientist", "锂离子电池正极材料与原子层沉积包覆", "某电池大学"),
           ("entrepreneur", "动力电池制造与中试放大", "某电池公司"),
           ("investor", "新能源硬科技早期投资与估值", "某创投")]


@pytest.fixture(autouse=True)
def _lexical(_no_index, app):  # after _no_index: the app binds IndexSync.on_commit when it is built
    app.config["PANEL_SUGGEST_ENGINE"] = False  # the engine's ranking is tested with the model (services tests)


@pytest.fixture
def world(make_user, make_listing, session):
    broker, admin = make_user("broker"), make_user("admin")
    university = make_user("university", org="西北材料研究院")
    achievement = make_listing("achievement", university, reviewer=broker)
    return {"broker": broker, "admin": admin, "university": university, "achievement": achievement}


def _advisor_form(n: int, perspective: str, expertise: str, org: str, kind: str = "company") -> dict:
    return {"display_name": f"顾问{n}", "email": f"advisor{n}@example.com", "password": PASSWORD,
            "perspective": perspective, "expertise": expertise, "fields": "新能源", "organisation_name": org,
            "organisation_kind": kind}


def _create_advisors(client, login, world) -> list:
    login(world["admin"])
    for n, (perspective, expertise, org) in enumerate(EXPERTS, 1):
        resp = client.submit("/panels/advisors/new", _advisor_form(n, perspective, expertise, org))
        assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    # the fourth works at the achievement's own organisation: a conflict of interest
    resp = client.submit("/panels/advisors/new", _advisor_form(4, "scientist", "高镍正极材料", "西北材料研究院",
                                                               "university"))
    assert resp.status_code == 302
    client.post("/logout")
    return [accounts.get_user_by_email(client_session(client), f"advisor{n}@example.com") for n in range(1, 5)]


def client_session(client):
    from web.db import sessionmaker_for
    return sessionmaker_for(client.c.application)()


def test_the_panel_journey(client, session, login, world, zh):
    advisors = _create_advisors(client, login, world)
    a = world["achievement"]
    login(world["broker"])
    page = client.get(f"/panels/new?achievement={a.id}").get_data(as_text=True)
    assert "顾问1" in page and "顾问4" in page
    assert page.index("顾问1") < page.index("顾问4")  # the conflicting advisor is listed last
    # a conflicting advisor is refused with the reason; nothing is saved
    data = {"achievement_id": str(a.id), "advisor_ids": [str(u.id) for u in advisors], "deadline": DUE, "gate": "y"}
    resp = client.submit(f"/panels/new?achievement={a.id}", data)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "顾问4" in page and "与成果属于同一单位" in page  # the conflicting advisor and the reason (zh page)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Panel)) == 0
    data["advisor_ids"] = [str(u.id) for u in advisors[:3]]
    resp = client.submit(f"/panels/new?achievement={a.id}", data)
    assert resp.status_code == 302
    panel = session.scalars(select(Panel)).one()
    client.post("/logout")
    # the three advisors score; the investor also gives a value range
    for n, user in enumerate(advisors[:3]):
        login(user)
        assert a.title in client.get("/panels/mine").get_data(as_text=True)
        review = {"tech_score": str(3 + n % 3), "market_score": "4", "value_score": "4", "comment": f"意见{n}"}
        if n == 2:
            review.update(value_min="300", value_max="600")
        resp = client.submit(f"/panels/{panel.id}/review", review)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
        # an advisor never opens the panel's summary page nor the other advisors' scores
        assert client.get(f"/panels/{panel.id}").status_code == 403
        client.post("/logout")
    session.expire_all()
    assert session.get(Panel, panel.id).status == "complete"
    # the owner sees the summary (means, count, range), not who said what
    login(world["university"])
    page = client.get(f"/panels/{panel.id}").get_data(as_text=True)
    assert "4.0 / 5" in page and "3 / 3" in page and "300–600" in page and "意见0" in page
    assert "顾问1" not in page
    assert a.title in client.get("/panels/").get_data(as_text=True)


def _report_with(session, broker, demand, achievement) -> MatchReport:
    report = MatchReport(owner_id=broker.id, scope="single", title="撮合报告测试", params={"k": 5}, status="ready",
                         model_key="test", row_count=1)
    session.add(report)
    session.flush()
    session.add(MatchReportRow(report_id=report.id, position=1, demand_id=demand.id, achievement_id=achievement.id,
                               score=88.0, snapshot={
                                   "breakdown": {}, "shared_terms": ["高镍"], "best_sentence": "包覆",
                                   "reasons": [], "query_kind": "demand", "demand": reports.listing_facts(demand),
                                   "achievement": reports.listing_facts(achievement)}))
    session.commit()
    return report


def test_the_report_pdf_xlsx_and_csv_carry_the_summary(client, session, login, world, make_user, make_listing):
    from tests.services.test_pdf import pdf_text
    company = make_user("company")
    demand = make_listing("demand", company, reviewer=world["broker"])
    admin = world["admin"]
    sci = panels.create_advisor(session, admin, _advisor_form(7, "scientist", "正极材料", "某大学", "university"))
    inv = panels.create_advisor(session, admin, _advisor_form(8, "investor", "硬科技投资", "某创投"))
    panel = panels.create_panel(session, world["broker"], {"achievement_id": world["achievement"].id,
                                                           "advisor_ids": [sci.user_id, inv.user_id],
                                                           "deadline": clock.today() + timedelta(days=3)})
    panels.submit_review(session, panel.id, sci.user, {"tech_score": 5, "market_score": 4, "value_score": 3})
    panels.submit_review(session, panel.id, inv.user, {"tech_score": 3, "market_score": 4, "value_score": 5,
                                                       "value_min": 100, "value_max": 250})
    session.commit()
    report = _report_with(session, world["broker"], demand, world["achievement"])
    login(world["broker"])
    pdf = client.get(f"/reports/{report.id}.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert "科技顾问团评议" in text and "技术前景4.0" in text and "100~250万元" in text
    sheet = load_workbook(io.BytesIO(client.get(f"/reports/{report.id}.xlsx").data)).active
    assert sheet.cell(1, sheet.max_column).value == "顾问团评议"
    assert "技术前景4.0" in sheet.cell(2, sheet.max_column).value
    assert "市场需求4.0" in client.get(f"/reports/{report.id}.csv").data.decode("utf-8-sig")


def test_the_gate_holds_a_presenter_back_until_the_panel_is_complete(client, session, login, world, zh):
    from services import roadshows
    admin, broker, a = world["admin"], world["broker"], world["achievement"]
    sci = panels.create_advisor(session, admin, _advisor_form(9, "scientist", "正极材料", "某大学", "university"))
    panel = panels.create_panel(session, broker, {"achievement_id": a.id, "advisor_ids": [sci.user_id],
                                                  "deadline": clock.today() + timedelta(days=3), "gate": True})
    show = roadshows.create_roadshow(session, broker, {
        "title": "门槛路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=9),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 2, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    session.commit()
    login(broker)
    resp = client.submit(f"/roadshows/{show.id}/presenters", {"achievement_id": str(a.id)},
                         form_url=f"/roadshows/{show.id}", follow_redirects=True)
    assert zh("The advisory panel on “%(title)s” must complete its reviews first (%(done)s of %(total)s in).",
              title=a.title, done=0, total=1) in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(type(show), show.id).presenters == []
    panels.submit_review(session, panel.id, session.get(type(broker), sci.user_id),
                         {"tech_score": 4, "market_score": 4, "value_score": 4})
    session.commit()
    resp = client.submit(f"/roadshows/{show.id}/presenters", {"achievement_id": str(a.id)},
                         form_url=f"/roadshows/{show.id}", follow_redirects=True)
    session.expire_all()
    assert len(session.get(type(show), show.id).presenters) == 1
    assert "顾问团：技术前景 4.0" in resp.get_data(as_text=True)


def test_the_gate_holds_an_application_to_present_until_the_panel_is_complete(client, session, login, world, zh):
    from models import RoadshowApplication
    from services import roadshows
    admin, broker, a = world["admin"], world["broker"], world["achievement"]
    sci = panels.create_advisor(session, admin, _advisor_form(14, "scientist", "正极材料", "某大学", "university"))
    panel = panels.create_panel(session, broker, {"achievement_id": a.id, "advisor_ids": [sci.user_id],
                                                  "deadline": clock.today() + timedelta(days=3), "gate": True})
    show = roadshows.create_roadshow(session, broker, {
        "title": "申请门槛路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=9),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 2, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    application = RoadshowApplication(roadshow_id=show.id, achievement_id=a.id, applicant_id=world["university"].id)
    session.add(application)
    session.commit()
    login(broker)
    url = f"/programme/roadshows/{show.id}/applications/{application.id}/decide"
    resp = client.submit(url, {"decision": "accept", "reason": ""}, form_url=f"/roadshows/{show.id}",
                         follow_redirects=True)
    assert zh("The advisory panel on “%(title)s” must complete its reviews first (%(done)s of %(total)s in).",
              title=a.title, done=0, total=1) in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(RoadshowApplication, application.id).status == "submitted"
    panels.submit_review(session, panel.id, session.get(type(broker), sci.user_id),
                         {"tech_score": 4, "market_score": 4, "value_score": 4})
    session.commit()
    client.submit(url, {"decision": "accept", "reason": ""}, form_url=f"/roadshows/{show.id}")
    session.expire_all()
    assert session.get(RoadshowApplication, application.id).status == "accepted"


def test_visibility_api_and_pages(client, session, login, world, make_user, app):
    admin, broker, a = world["admin"], world["broker"], world["achievement"]
    sci = panels.create_advisor(session, admin, _advisor_form(10, "scientist", "正极材料", "某大学", "university"))
    other = panels.create_advisor(session, admin, _advisor_form(11, "investor", "投资", "某创投"))
    panel = panels.create_panel(session, broker, {"achievement_id": a.id, "advisor_ids": [sci.user_id, other.user_id],
                                                  "deadline": clock.today() + timedelta(days=3)})
    panels.submit_review(session, panel.id, other.user, {"tech_score": 2, "market_score": 2, "value_score": 2,
                                                         "comment": "另一位顾问的意见", "value_min": 1, "value_max": 2})
    session.commit()
    company, stranger = make_user("company"), make_user("university")
    lonely = panels.create_advisor(session, admin, _advisor_form(12, "scientist", "育种", "某农大", "university"))
    session.commit()
    for user, status in ((company, 403), (stranger, 404), (lonely.user, 403)):
        login(user)
        assert client.get(f"/panels/{panel.id}").status_code == status
        client.post("/logout")
    login(lonely.user)
    assert client.get(f"/panels/{panel.id}/review").status_code == 404
    assert "另一位顾问的意见" not in client.get("/panels/mine").get_data(as_text=True)
    client.post("/logout")
    login(sci.user)  # assigned: the review form, but never the other advisor's comment
    page = client.get(f"/panels/{panel.id}/review").get_data(as_text=True)
    assert a.title in page and "另一位顾问的意见" not in page
    assert a.contact_email not in page and a.contact_phone not in page

    def bearer(user):
        from services import tokens
        with app.test_request_context():
            _row, clear = tokens.create_token(session, session.get(type(user), user.id), "t")
        session.commit()
        return {"Authorization": f"Bearer {clear}"}

    api = client.c
    got = api.get(f"/api/v1/panels/{panel.id}", headers=bearer(sci.user)).get_json()
    assert got["summary"] is None and got["reviews"] == []
    assert api.get(f"/api/v1/panels/{panel.id}", headers=bearer(lonely.user)).status_code == 404
    assert api.get(f"/api/v1/panels/{panel.id}", headers=bearer(stranger)).status_code == 404
    assert api.get(f"/api/v1/panels/{panel.id}", headers=bearer(company)).status_code == 403
    owner = api.get(f"/api/v1/panels/{panel.id}", headers=bearer(world["university"])).get_json()
    assert owner["summary"]["reviews"] == 1 and owner["reviews"] == []
    assert api.get("/api/v1/panels/", headers=bearer(stranger)).get_json()["items"] == []
    resp = api.post(f"/api/v1/panels/{panel.id}/review", headers=bearer(sci.user),
                    json={"tech_score": 5, "market_score": 4, "value_score": 4, "comment": "好"})
    assert resp.status_code == 200, resp.get_json()
    staff = api.get(f"/api/v1/panels/{panel.id}", headers=bearer(broker)).get_json()
    assert staff["status"] == "complete" and len(staff["reviews"]) == 2
    resp = api.post("/api/v1/panels/", headers=bearer(broker),
                    json={"achievement_id": a.id, "advisor_ids": [sci.user_id], "deadline": DUE})
    assert resp.status_code == 201


@pytest.mark.parametrize("lang", ["en", "zh_Hans_CN"])
def test_bad_input_gets_a_clear_message_in_both_languages(client, session, login, world, zh, lang):
    admin, broker = world["admin"], world["broker"]
    sci = panels.create_advisor(session, admin, _advisor_form(13, "investor", "投资估值", "某创投"))
    panel = panels.create_panel(session, broker, {"achievement_id": world["achievement"].id,
                                                  "advisor_ids": [sci.user_id],
                                                  "deadline": clock.today() + timedelta(days=3)})
    session.commit()
    headers: dict = {}
    tr = (lambda m, **kw: zh(m, **kw)) if lang != "en" else (lambda m, **kw: m % kw if kw else m)
    login(sci.user)
    client.submit(f"/lang/{lang}", {}, form_url="/panels/mine")
    resp = client.submit(f"/panels/{panel.id}/review", {"tech_score": "9", "market_score": "", "value_score": "3"},
                         headers=headers)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert tr("Give a score from 1 to 5.") in body
    resp = client.submit(f"/panels/{panel.id}/review", {"tech_score": "3", "market_score": "3", "value_score": "3",
                                                         "value_min": "abc"}, headers=headers)
    assert resp.status_code == 422
    resp = client.submit(f"/panels/{panel.id}/review", {"tech_score": "3", "market_score": "3", "value_score": "3"},
                         headers=headers)
    assert resp.status_code == 422
    assert tr("As an investor, give the value range (from and to, in 10k yuan).") in resp.get_data(as_text=True)
    resp = client.submit(f"/panels/{panel.id}/review", {"tech_score": "3", "market_score": "3", "value_score": "3",
                                                         "value_min": "9", "value_max": "1"}, headers=headers)
    assert tr("The lower value must not exceed the upper value.") in resp.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PanelReview)) == 0
    client.post("/logout")
    login(broker)
    client.submit(f"/lang/{lang}", {}, form_url="/panels/")
    a = world["achievement"]
    resp = client.submit(f"/panels/new?achievement={a.id}", {"achievement_id": str(a.id), "deadline": "2020-01-01",
                                                             "advisor_ids": str(sci.user_id)}, headers=headers)
    assert resp.status_code == 422
    assert tr("The review deadline must be between today and one year from now.") in resp.get_data(as_text=True)
    resp = client.submit(f"/panels/new?achievement={a.id}", {"achievement_id": str(a.id), "deadline": DUE},
                         headers=headers)
    assert resp.status_code == 422 and tr("Choose at least one advisor.") in resp.get_data(as_text=True)
    resp = client.c.post("/api/v1/panels/", json={"achievement_id": a.id, "advisor_ids": [], "deadline": "x"})
    assert resp.status_code in (401, 422)


def test_taking_off_an_advisor_who_reviewed_needs_the_review_dropped_on_purpose(client, session, login, world, zh):
    """Removing a reviewed advisor used to drop their scores from the summary without a word."""
    admin, broker = world["admin"], world["broker"]
    sci = panels.create_advisor(session, admin, _advisor_form(7, "scientist", "正极材料", "某大学", "university"))
    eng = panels.create_advisor(session, admin, _advisor_form(8, "entrepreneur", "电池制造", "某公司"))
    panel = panels.create_panel(session, broker, {"achievement_id": world["achievement"].id,
                                                  "advisor_ids": [sci.user_id, eng.user_id],
                                                  "deadline": clock.today() + timedelta(days=3)})
    panels.submit_review(session, panel.id, sci.user, {"tech_score": 5, "market_score": 4, "value_score": 3})
    session.commit()
    reviewed = next(m for m in panel.members if m.advisor_id == sci.user_id)
    pending = next(m for m in panel.members if m.advisor_id == eng.user_id)
    login(broker)
    page = client.get(f"/panels/{panel.id}").get_data(as_text=True)
    assert page.count('name="drop_review"') == 1  # only the advisor who reviewed asks for it
    url = f"/panels/{panel.id}/members/{reviewed.id}/remove"
    resp = client.submit(url, {}, form_url=f"/panels/{panel.id}")
    assert resp.status_code == 302
    page = client.get(f"/panels/{panel.id}").get_data(as_text=True)
    assert zh("%(name)s has already reviewed: taking them off removes their scores from the summary. Tick “Remove "
              "their review too” to confirm.", name=sci.user.display_name) in page
    session.expire_all()
    assert {m.advisor_id for m in session.get(Panel, panel.id).members} == {sci.user_id, eng.user_id}
    assert client.submit(f"/panels/{panel.id}/members/{pending.id}/remove", {},
                         form_url=f"/panels/{panel.id}").status_code == 302  # no review: no question
    assert client.submit(url, {"drop_review": "1"}, form_url=f"/panels/{panel.id}").status_code == 302
    session.expire_all()
    assert session.get(Panel, panel.id).members == []
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "panel.review_dropped")) is not None


def test_the_same_form_sent_twice_forms_one_panel(client, session, login, world, zh):
    """A double click (or a second broker at the same time) must not form a twin panel: the second submit is
    refused, naming the open panel to add advisors to."""
    advisors = _create_advisors(client, login, world)
    a = world["achievement"]
    login(world["broker"])
    data = {"achievement_id": str(a.id), "advisor_ids": [str(advisors[0].id)], "deadline": DUE}
    assert client.submit(f"/panels/new?achievement={a.id}", data).status_code == 302
    panel = session.scalars(select(Panel)).one()
    again = client.submit(f"/panels/new?achievement={a.id}", dict(data, advisor_ids=[str(advisors[1].id)]))
    assert again.status_code == 422
    assert zh("This achievement already has an open panel (no. %(id)s): add advisors to that panel instead.",
              id=panel.id) in again.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Panel)) == 1
    from services import tokens
    with client.c.application.test_request_context():
        _row, clear = tokens.create_token(session, world["broker"], "t")
    session.commit()
    api = client.c.application.test_client()
    twin = api.post("/api/v1/panels/", json={"achievement_id": a.id, "advisor_ids": [advisors[1].id], "deadline": DUE},
                    headers={"Authorization": f"Bearer {clear}"})
    assert twin.status_code == 409 and "achievement_id" in twin.get_json()["errors"], twin.get_json()
    # once that panel is complete, a new one for a second assessment may be formed
    panel.status = "complete"
    session.commit()
    assert client.submit(f"/panels/new?achievement={a.id}", data).status_code == 302
    # an open panel past its deadline takes no more reviews: it does not block a new one either
    second = session.scalars(select(Panel).where(Panel.id != panel.id)).one()
    second.deadline = clock.today() - timedelta(days=1)
    session.commit()
    assert client.submit(f"/panels/new?achievement={a.id}", data).status_code == 302
