"""Findings of a new user's walk through issue 21: an organisation's members see its achievements' advisory
panels (advisors only theirs, other organisations 404); the company confirming a broker-entered demand sees every
field, and the broker can mark it confidential; a roadshow already held says so instead of offering a panel form
no deadline fits; an invitation to an account of another type is refused when it is made."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Demand, OrganisationInvitation, Panel
from services import clock, panels, roadshows
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


@pytest.fixture(autouse=True)
def _lexical(_no_index, app):  # after _no_index: the app binds IndexSync.on_commit when it is built
    app.config["PANEL_SUGGEST_ENGINE"] = False


def _logout(client):
    assert client.submit("/logout", {}, form_url="/").status_code == 302


def _english(client):
    client.submit("/lang/en", {"next": "/"}, form_url="/")


def _advisor(session, admin, n: int):
    return panels.create_advisor(session, admin, {
        "display_name": f"走查顾问{n}", "email": f"walk{n}@example.com", "password": PASSWORD,
        "perspective": "scientist", "expertise": "锂离子电池正极材料", "fields": "新能源",
        "organisation_name": f"某顾问单位{n}", "organisation_kind": "company"})


def test_every_member_of_the_owning_organisation_sees_its_panels(client, session, make_user, make_listing, login):
    broker, admin = make_user("broker"), make_user("admin")
    manager = make_user("university", org="走查大学技术转移中心")
    member = make_user("university", org="走查大学技术转移中心")
    member.org_role = "member"
    outsider = make_user("university", org="另一所大学")
    achievement = make_listing("achievement", manager, reviewer=broker)
    mine, other = _advisor(session, admin, 1), _advisor(session, admin, 2)
    panel = panels.create_panel(session, broker, {"achievement_id": achievement.id, "advisor_ids": [mine.user_id],
                                                  "deadline": clock.today() + timedelta(days=5)})
    session.commit()
    for user in (manager, member):
        login(user)
        assert client.get(f"/panels/{panel.id}").status_code == 200
        assert f"/panels/{panel.id}" in client.get("/panels/").get_data(as_text=True)
        _logout(client)
    login(outsider)
    assert client.get(f"/panels/{panel.id}").status_code == 404
    assert f"/panels/{panel.id}" not in client.get("/panels/").get_data(as_text=True)
    _logout(client)
    assert [p.id for p in panels.panels_for(session, mine.user)] == [panel.id]
    assert panels.panels_for(session, other.user) == []
    assert not panels.can_see_summary(other.user, panel) and not panels.can_see_summary(mine.user, panel)


def test_the_company_confirms_every_field_of_a_broker_entered_demand(client, session, make_user, login):
    broker, company = make_user("broker"), make_user("company")
    login(broker)
    assert 'name="confidential"' in client.get("/caseload/enter").get_data(as_text=True)
    resp = client.submit("/caseload/enter", {
        "company_id": str(company.id), "title": "高镍正极循环寿命提升需求",
        "description": "我司动力电池高镍正极循环衰减快，希望通过表面包覆提升循环寿命。",
        "indicators": "1000次循环容量保持率≥85%", "field_code": "new_energy.battery", "region": "shaanxi",
        "keywords": "高镍,包覆改性", "modes": "joint", "budget_min": "50", "budget_max": "200",
        "deadline": (clock.today() + timedelta(days=30)).isoformat(), "min_trl": "4", "confidential": "y",
        "contact_name": "张工", "contact_phone": "13800000001", "contact_email": "zhang@example.com"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    demand = session.scalar(select(Demand))
    assert demand.confidential and demand.status == "unconfirmed"
    _logout(client)
    login(company)
    _english(client)
    resp = client.get(f"/entered/{demand.id}")
    page = resp.get_data(as_text=True)
    assert resp.headers.get("Cache-Control", "").startswith("no-store")
    for text in ("1000次循环容量保持率≥85%", "包覆改性", "CNY 500,000–2 million", demand.deadline.isoformat(), "TRL 4", "张工",
                 "13800000001", "zhang@example.com", "Confidential company", "Cooperation modes", "Region"):
        assert text in page, text


def test_a_roadshow_already_held_says_so_instead_of_offering_panels(client, session, make_user, make_listing,
                                                                     login):
    broker, admin = make_user("broker"), make_user("admin")
    achievement = make_listing("achievement", make_user("university"), reviewer=broker)
    advisor = _advisor(session, admin, 3)
    show = roadshows.create_roadshow(session, broker, {
        "title": "已举办的路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=20),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 4, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    roadshows.add_presenter(session, show, achievement.id)
    show.held_on = clock.today() - timedelta(days=1)
    session.commit()
    login(broker)
    _english(client)
    message = "already took place on %s: panels before it can no longer be formed." % show.held_on.isoformat()
    page = client.get(f"/panels/new?roadshow={show.id}").get_data(as_text=True)
    assert message in page and f"/roadshows/{show.id}" in page and 'name="deadline"' not in page
    resp = client.submit(f"/panels/new?roadshow={show.id}", {
        "roadshow": str(show.id), "achievement_ids": str(achievement.id), "advisor_ids": str(advisor.user_id),
        "deadline": clock.today().isoformat()}, form_url=f"/panels/new?roadshow={show.id}")
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert session.scalar(select(func.count(Panel.id))) == 0


@pytest.mark.parametrize("role, address, says", [
    # another type of account could never join this organisation
    ("company", "boss@company.example.com",
     "This address already belongs to an account whose type does not fit this organisation"),
    # an account in another organisation would be refused at accept: said up front, not in a link that dead-ends
    ("university", "prof@other.example.com", "already belongs to an account of another organisation"),
])
def test_an_invitation_that_could_never_be_accepted_is_refused_keeping_the_input(client, session, make_user, login,
                                                                                  role, address, says):
    manager = make_user("university", org="走查研究院")
    make_user(role, email=address, org="别的单位")
    login(manager)
    _english(client)
    resp = client.submit("/organisation/invite", {"email": address, "org_role": "member"}, form_url="/organisation/")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and says in page and f'value="{address}"' in page
    assert session.scalar(select(func.count(OrganisationInvitation.id))) == 0
