"""A signed pipeline opportunity offers "register the contract", pre-filled from its pair."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from models import TechContract
from services import pipeline, regions
from services.seed import DATA
from tests.conftest import CSRF_RE

pytestmark = pytest.mark.model  # published listings: the index sync loads the real embedding model


def test_a_signed_opportunity_registers_its_contract_prefilled(client, session, make_user, make_listing, login):
    regions.load_tree(session, json.loads((DATA / "region_tree.json").read_text(encoding="utf-8")))
    session.commit()
    company, university, broker = make_user("company"), make_user("university"), make_user("broker")
    demand = make_listing("demand", company, reviewer=broker, region="xian_gaoxin")
    achievement = make_listing("achievement", university, reviewer=broker, region="xian_yanta")
    opp = pipeline.get_or_open(session, broker, demand.id, achievement.id)
    opp.stage, opp.contract_type, opp.amount, opp.signed_on = "signed", "license", 88.0, date(2026, 2, 1)
    session.commit()
    login(broker)
    show = client.get(f"/opportunities/{opp.id}").get_data(as_text=True)
    assert f"/contracts/new?opportunity={opp.id}" in show
    page = client.get(f"/contracts/new?opportunity={opp.id}").get_data(as_text=True)
    assert company.organisation.name in page and university.organisation.name in page
    assert 'value="88' in page and 'value="2026-02-01"' in page
    assert '<option selected value="license">' in page or 'value="license" selected' in page
    form = {"reg_number": "6101000000004242", "registered_on": "2026-02-03", "name": achievement.title,
            "contract_type": "license", "status": "registered", "seller_name": university.organisation.name,
            "seller_nature": "120", "seller_region": "xian_yanta", "buyer_name": company.organisation.name,
            "buyer_nature": "230", "buyer_region": "xian_gaoxin", "amount": "88", "tech_amount": "88",
            "signed_on": "2026-02-01", "field_code": "new_energy.battery", "ip_kind": "invention",
            "demand_id": str(demand.id), "achievement_id": str(achievement.id), "opportunity_id": str(opp.id),
            "csrf_token": CSRF_RE.search(page).group(1)}
    assert client.post("/contracts/new", data=form).status_code == 302
    row = session.scalar(select(TechContract).where(TechContract.opportunity_id == opp.id))
    assert row.buyer_org_id == company.organisation_id and row.seller_org_id == university.organisation_id
    again = client.get(f"/contracts/new?opportunity={opp.id}").get_data(as_text=True)
    assert "6101000000004242" in again  # the page says it is registered already
    other = make_user("broker")
    login(other)
    assert client.get(f"/contracts/new?opportunity={opp.id}").status_code == 404
