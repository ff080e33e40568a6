"""Issue 21 loose ends through the pages: a broker downloads the caseload as CSV (admins any broker's), a company
finds the confirm link of a demand entered for it on /demands/mine, and the investors for an achievement looking
for finance show to staff only."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from models import Demand
from services import brokerage, directory


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Submitted and published listings would sync the search index at commit (the embedding model): not here."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def _logout(client):
    assert client.submit("/logout", {}, form_url="/").status_code == 302


def _rows(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


def test_a_broker_downloads_their_caseload_as_csv(client, session, make_user, make_listing, login, zh):
    broker, other, admin, company = make_user("broker"), make_user("broker"), make_user("admin"), make_user("company")
    demand = make_listing("demand", company, status="submitted", title="=HYPERLINK(\"x\") 高镍正极需求")
    brokerage.assign(session, admin, demand.id, broker.id)
    mine = make_listing("demand", company, status="submitted", title="另一位经纪人的需求")
    brokerage.assign(session, admin, mine.id, other.id)
    session.commit()
    login(broker)
    page = client.get("/caseload/").get_data(as_text=True)
    assert "format=csv" in page and zh("Download the caseload (.csv)") in page
    resp = client.get("/caseload/?format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = _rows(resp)
    assert rows[0][:2] == [zh("Demand ID"), zh("Demand")] and len(rows) == 2
    assert rows[1][0] == str(demand.id) and rows[1][1].startswith("'=")  # a formula is never a formula
    assert rows[1][3] == zh("Under review") and rows[1][7] == "0"
    assert "另一位经纪人的需求" not in resp.data.decode("utf-8-sig")
    assert "13800" not in resp.data.decode("utf-8-sig")  # no contact details
    _logout(client)
    login(admin)  # admins pick any broker's
    rows = _rows(client.get(f"/caseload/?broker={other.id}&format=csv"))
    assert [r[1] for r in rows[1:]] == ["另一位经纪人的需求"]
    assert _rows(client.get("/caseload/?format=csv")) == [_rows(client.get("/caseload/?format=csv"))[0]]
    _logout(client)
    login(company)
    assert client.get("/caseload/?format=csv").status_code == 403


def test_the_company_finds_the_confirm_link_on_its_demands(client, session, make_user, login, zh):
    broker, company = make_user("broker"), make_user("company")
    login(broker)
    resp = client.submit("/caseload/enter", {
        "title": "高镍正极循环寿命提升需求", "description": "我司动力电池高镍正极循环衰减快，希望通过表面包覆提升循环寿命。",
        "indicators": "", "field_code": "new_energy.battery", "region": "shaanxi", "keywords": "高镍",
        "modes": "joint", "budget_min": "", "budget_max": "", "deadline": "", "min_trl": "",
        "contact_name": "张工", "contact_phone": "13800000001", "contact_email": "zhang@example.com",
        "company_id": str(company.id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    demand = session.scalar(select(Demand))
    _logout(client)
    login(company)
    page = client.get("/demands/mine").get_data(as_text=True)
    assert f"/entered/{demand.id}" in page and zh("Check and confirm") in page
    assert client.submit(f"/entered/{demand.id}", {"intent": "confirm"}).status_code == 302
    page = client.get("/demands/mine").get_data(as_text=True)
    assert f"/entered/{demand.id}" not in page  # confirmed: no link any more


def test_investors_for_an_achievement_looking_for_finance_show_to_staff_only(app, session, make_user, make_listing):
    from flask_login import login_user

    from web.directory import match_panel
    provider, broker, uni = make_user("provider"), make_user("broker"), make_user("university")
    entry = directory.create(session, provider, {
        "kind": "investor", "name": "秦创原种子基金", "description": "投资新能源早期项目。", "field_codes": ["new_energy"],
        "region": "shaanxi", "services": "股权投资", "equipment": "", "capacity": "", "stages": ["seed"],
        "ticket_min": 100, "ticket_max": 1000, "website": "", "contact_name": "王经理",
        "contact_phone": "029-88886666", "contact_email": "fund.canary@example.cn"})
    directory.transition(session, entry, provider, "submit")
    directory.transition(session, entry, broker, "approve")
    session.commit()
    ach = make_listing("achievement", uni, reviewer=broker, abstract="固态电池电解质技术，寻求融资建设中试线，已完成实验室验证。")
    for user, shown in ((broker, True), (uni, False)):
        with app.test_request_context("/"):
            login_user(session.get(type(user), user.id))
            html = str(match_panel("achievement", ach.id))
        assert ("秦创原种子基金" in html) is shown
        assert "fund.canary@example.cn" not in html and "029-88886666" not in html  # double opt-in first
