"""Broker operations through the pages and the API: routing rules (admin), caseload and queue, a demand entered
for a company and its confirmation, the broker profile, the per-broker table; bad input answers 422 with a
message in Chinese and English and saves nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import BrokerProfile, Demand, DemandAssignment, Notification, RoutingRule
from services import brokerage

DEMAND_FORM = {"title": "高镍正极循环寿命提升需求", "description": "我司动力电池高镍正极循环衰减快，希望通过表面包覆提升循环寿命。",
               "indicators": "", "field_code": "new_energy.battery", "region": "shaanxi", "keywords": "高镍",
               "modes": "joint", "budget_min": "", "budget_max": "", "deadline": "", "min_trl": "",
               "contact_name": "张工", "contact_phone": "13800000001", "contact_email": "zhang@example.com"}


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Submitted and published demands would queue the search index sync (the embedding model): not here."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def _logout(client):
    assert client.submit("/logout", {}, form_url="/").status_code == 302


def _english(client):
    client.submit("/lang/en", {"next": "/"}, form_url="/")


def test_admin_manages_rules_and_a_submitted_demand_lands_in_the_caseload(client, session, make_user, login, zh):
    admin, broker, company = make_user("admin"), make_user("broker"), make_user("company")
    login(admin)
    resp = client.submit("/admin/routing/new", {"name": "陕西新能源", "field_code": "new_energy",
                                                 "region_code": "shaanxi", "priority": "3", "active": "y",
                                                 "brokers": str(broker.id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    rule = session.scalar(select(RoutingRule))
    assert (rule.name, rule.priority, [b.id for b in rule.brokers]) == ("陕西新能源", 3, [broker.id])
    assert "陕西新能源" in client.get("/admin/routing/").get_data(as_text=True)
    _logout(client)
    login(company)
    resp = client.submit("/demands/new", {**DEMAND_FORM, "intent": "submit"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    demand = session.scalar(select(Demand))
    assert brokerage.active_assignment(session, demand.id).broker_id == broker.id
    _logout(client)
    login(broker)
    page = client.get("/caseload/").get_data(as_text=True)
    assert demand.title in page
    note = session.scalar(select(Notification).where(Notification.user_id == broker.id))
    assert note.kind == "demand_assigned"
    assert client.get("/notifications/").status_code in (200, 308)


@pytest.mark.parametrize("over,zh_key", [
    ({"brokers": ""}, "Choose at least one active broker for the rule."),
    ({"priority": "abc"}, None),
    ({"priority": "5000"}, "Enter a priority from -1000 to 1000."),
    ({"name": ""}, "Name the rule (1 to 80 characters)."),
    ({"region_code": "atlantis"}, None),
])
def test_bad_rule_input_answers_422_in_both_languages(client, session, make_user, login, zh, over, zh_key):
    admin, broker = make_user("admin"), make_user("broker")
    login(admin)
    data = {"name": "规则", "field_code": "", "region_code": "", "priority": "0", "active": "y",
            "brokers": str(broker.id), **over}
    resp = client.submit("/admin/routing/new", data)
    assert resp.status_code == 422
    if zh_key:
        assert zh(zh_key) in resp.get_data(as_text=True)
        _english(client)
        resp = client.submit("/admin/routing/new", data)
        assert resp.status_code == 422 and zh_key in resp.get_data(as_text=True)
    assert session.scalar(select(func.count(RoutingRule.id))) == 0


def test_a_copy_of_an_active_rule_is_refused_naming_it(client, session, make_user, login, zh):
    admin, broker = make_user("admin"), make_user("broker")
    login(admin)
    data = {"name": "陕西新能源", "field_code": "new_energy", "region_code": "shaanxi", "priority": "3", "active": "y",
            "brokers": str(broker.id)}
    assert client.submit("/admin/routing/new", data).status_code == 302
    resp = client.submit("/admin/routing/new", {**data, "name": "又一条"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert zh("The active rule “%(name)s” already routes this field and region at this priority to the same brokers, "
              "so this one would never be used: change that rule instead.", name="陕西新能源") in page
    assert 'value="又一条"' in page
    assert session.scalar(select(func.count(RoutingRule.id))) == 1
    assert client.submit("/admin/routing/new", {**data, "name": "又一条", "priority": "4"}).status_code == 302


def test_queue_take_on_and_admin_reassign(client, session, make_user, make_listing, login):
    admin, b1, b2, company = make_user("admin"), make_user("broker"), make_user("broker"), make_user("company")
    demand = make_listing("demand", company, status="submitted")
    assert brokerage.active_assignment(session, demand.id) is None  # no rule
    login(b1)
    page = client.get("/caseload/overdue").get_data(as_text=True)
    assert demand.title in page
    resp = client.submit(f"/caseload/{demand.id}/assign", {"broker_id": str(b1.id)}, form_url="/caseload/overdue")
    assert resp.status_code == 302
    session.expire_all()
    assert brokerage.active_assignment(session, demand.id).broker_id == b1.id
    resp = client.submit(f"/caseload/{demand.id}/assign", {"broker_id": str(b2.id)}, form_url="/caseload/overdue")
    assert resp.status_code == 302
    session.expire_all()
    assert brokerage.active_assignment(session, demand.id).broker_id == b1.id  # a broker cannot give it away
    _logout(client)
    login(admin)
    resp = client.submit(f"/caseload/{demand.id}/assign", {"broker_id": str(b2.id)}, form_url="/caseload/overdue")
    assert resp.status_code == 302
    session.expire_all()
    assert brokerage.active_assignment(session, demand.id).broker_id == b2.id
    assert demand.title in client.get(f"/caseload/?broker={b2.id}").get_data(as_text=True)
    assert client.submit("/caseload/999999/assign", {"broker_id": str(b2.id)},
                         form_url="/caseload/overdue").status_code == 404
    assert session.scalar(select(func.count(DemandAssignment.id))) == 2


def test_broker_enters_a_demand_and_the_company_confirms_it(client, session, make_user, login, zh):
    broker, company, other = make_user("broker"), make_user("company"), make_user("company")
    login(broker)
    resp = client.submit("/caseload/enter", {**DEMAND_FORM, "company_id": str(company.id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    demand = session.scalar(select(Demand))
    assert demand.status == "unconfirmed" and demand.owner_id == company.id
    bad = client.submit("/caseload/enter", {**DEMAND_FORM, "company_id": str(broker.id)})
    assert bad.status_code == 422
    bad = client.submit("/caseload/enter", {**DEMAND_FORM, "company_id": str(company.id), "title": "短"})
    assert bad.status_code == 422 and zh("The title needs 4 to 120 characters.") in bad.get_data(as_text=True)
    assert session.scalar(select(func.count(Demand.id))) == 1
    _logout(client)
    assert client.get(f"/demand/{demand.id}").status_code == 404  # hidden like a draft
    login(other)
    assert client.get(f"/entered/{demand.id}").status_code == 404
    _logout(client)
    login(company)
    page = client.get(f"/entered/{demand.id}").get_data(as_text=True)
    assert demand.title in page and broker.display_name in page
    resp = client.submit(f"/entered/{demand.id}", {"intent": "confirm"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Demand, demand.id).status == "submitted"
    assert brokerage.active_assignment(session, demand.id).broker_id == broker.id
    again = client.submit(f"/entered/{demand.id}", {"intent": "confirm"})
    assert again.status_code == 302 and session.get(Demand, demand.id).status == "submitted"


def test_profile_form_saves_and_refuses_bad_input_in_both_languages(client, session, make_user, login, zh):
    broker = login(make_user("broker"))
    resp = client.submit("/brokers/profile", {"certificate_level": "intermediate", "certificate_number": "JJR-01",
                                              "training_hours": "32", "field_codes": "new_energy",
                                              "region_codes": "shaanxi"})
    assert resp.status_code == 302
    profile = session.get(BrokerProfile, broker.id)
    assert (profile.certificate_level, profile.training_hours) == ("intermediate", 32)
    message = "Enter the training hours as a whole number from 0 to 10000."
    for hours in ("-3", "20000"):
        resp = client.submit("/brokers/profile", {"certificate_level": "", "training_hours": hours})
        assert resp.status_code == 422 and zh(message) in resp.get_data(as_text=True)
    resp = client.submit("/brokers/profile", {"certificate_level": "guru", "training_hours": "1"})
    assert resp.status_code == 422
    _english(client)
    resp = client.submit("/brokers/profile", {"certificate_level": "", "training_hours": "-3"})
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(BrokerProfile, broker.id).training_hours == 32
    admin = make_user("admin")
    _logout(client)
    login(admin)
    assert "JJR-01" in client.get("/brokers/").get_data(as_text=True)


@pytest.mark.model  # its last step reads /statistics/, whose coverage figure asks the engine's index
def test_per_broker_table_page_csv_and_period_check(client, session, make_user, login, zh):
    broker = make_user("broker")
    login(make_user("admin"))
    page = client.get("/statistics/brokers/?since=2026-01-01&until=2026-12-31")
    assert page.status_code == 200 and broker.display_name in page.get_data(as_text=True)
    bad = client.get("/statistics/brokers/?since=2026-05-01&until=2026-01-01").get_data(as_text=True)
    assert zh("The end of the period cannot be before its start.") in bad
    assert client.get("/statistics/brokers/?since=notadate").status_code == 200
    csv = client.get("/statistics/brokers/brokers.csv")
    assert csv.status_code == 200 and broker.display_name in csv.get_data(as_text=True)
    assert 'href="/statistics/brokers/"' in client.get("/statistics/").get_data(as_text=True)


def test_api_caseload_rules_profile_and_performance(api, session, make_user, make_listing, token_for, zh):
    admin, broker, company = make_user("admin"), make_user("broker"), make_user("company")
    brokerage.save_rule(session, admin, None, {"name": "全部", "priority": 0, "active": True,
                                               "broker_ids": [broker.id]})
    session.commit()
    demand = make_listing("demand", company, status="submitted")
    got = api.get("/api/v1/brokerage/caseload", headers=token_for(broker)).get_json()
    assert [i["demand_id"] for i in got["items"]] == [demand.id] and got["items"][0]["days_idle"] == 0
    got = api.get(f"/api/v1/brokerage/caseload?broker={broker.id}", headers=token_for(admin)).get_json()
    assert [i["demand_id"] for i in got["items"]] == [demand.id]
    assert api.get("/api/v1/brokerage/caseload", headers=token_for(admin)).status_code == 422
    assert api.get("/api/v1/brokerage/caseload", headers=token_for(company)).status_code == 403
    rules = api.get("/api/v1/brokerage/rules", headers=token_for(admin)).get_json()["items"]
    assert rules[0]["broker_ids"] == [broker.id] and rules[0]["assigned"] == 1
    assert api.get("/api/v1/brokerage/rules", headers=token_for(broker)).status_code == 403
    ok = api.put("/api/v1/brokerage/profile", json={"certificate_level": "senior", "training_hours": 40,
                                                    "field_codes": ["new_energy"]}, headers=token_for(broker))
    assert ok.status_code == 200 and ok.get_json()["training_hours"] == 40
    bad = api.put("/api/v1/brokerage/profile", json={"region_codes": ["atlantis"]},
                  headers=token_for(broker, "zh-CN"))
    assert bad.status_code == 422 and bad.get_json()["errors"]["region_codes"] == [zh("Choose a region from the list.")]
    bad = api.put("/api/v1/brokerage/profile", json={"training_hours": -1}, headers=token_for(broker, "en"))
    assert bad.status_code == 422 and "training_hours" in bad.get_json()["errors"]
    assert session.get(BrokerProfile, broker.id).training_hours == 40
    perf = api.get("/api/v1/brokerage/performance", headers=token_for(broker)).get_json()["items"]
    assert [p["broker_id"] for p in perf] == [broker.id]
    bad = api.get("/api/v1/brokerage/performance?since=2026-05-01&until=2026-01-01", headers=token_for(broker, "en"))
    assert bad.status_code == 422 and bad.get_json()["errors"]["until"] == [
        "The end of the period cannot be before its start."]
    overdue = api.get("/api/v1/brokerage/overdue?days=1", headers=token_for(broker)).get_json()["items"]
    assert overdue == []


def test_contract_amounts_read_as_people_write_them():
    from decimal import Decimal

    from web.broker_stats import _amount

    assert [_amount(v) for v in (Decimal("15366.0000"), 120.5, None, Decimal("1234567.891"), 1e6)] == [
        "15366", "120.5", "0", "1234567.89", "1000000"]


def test_overdue_days_out_of_range_say_so_and_show_the_default(client, make_user, login, zh):
    login(make_user("broker"))
    message = zh("Enter a number of days from %(lo)s to %(hi)s; the queue shows the default of %(days)s days.",
                 lo=1, hi=365, days=14)
    for bad in ("999", "0", "abc"):
        resp = client.get(f"/caseload/overdue?days={bad}")
        assert resp.status_code == 200 and message in resp.get_data(as_text=True), bad
        assert 'value="14"' in resp.get_data(as_text=True)
    for fine in ("/caseload/overdue?days=30", "/caseload/overdue"):
        assert message not in client.get(fine).get_data(as_text=True)


def test_overdue_heading_counts_days_in_both_languages(client, make_user, login):
    login(make_user("broker"))
    assert "超期：1 天及以上未处理" in client.get("/caseload/overdue?days=1").get_data(as_text=True)
    with client.c.session_transaction() as s:
        s["lang"] = "en"
    assert "no action for 1 day or more" in client.get("/caseload/overdue?days=1").get_data(as_text=True)
    assert "no action for 30 days or more" in client.get("/caseload/overdue?days=30").get_data(as_text=True)
