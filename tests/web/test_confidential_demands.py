"""Confidential demands (issue 21 part 3): the company's name is hidden from the public and from universities until
an introduction is accepted by both sides; the company's own members and staff always see it. A sweep over every
page, download and API answer a role reaches checks that the name never leaks."""
from __future__ import annotations

import re
from collections import deque

import pytest

from services import introductions
from tests.conftest import CSRF_RE, PASSWORD, demand_data


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


SECRET = "秦川绝密动力电池有限公司"
LINK_RE = re.compile(r'href="(/[^"]*)"')


@pytest.fixture
def world(session, make_user, make_listing):
    broker = make_user("broker")
    company = make_user("company", org=SECRET)
    uni = make_user("university")
    demand = make_listing("demand", company, reviewer=broker, confidential=True, title="保密需求：固态电解质界面改性")
    achievement = make_listing("achievement", uni, reviewer=broker)
    return {"broker": broker, "company": company, "uni": uni, "demand": demand, "achievement": achievement}


def _client(app, user=None):
    client = app.test_client()
    if user is not None:
        page = client.get("/login").get_data(as_text=True)
        resp = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": CSRF_RE.search(page).group(1)})
        assert resp.status_code == 302
    return client


def _crawl(client, start: list[str], limit: int = 80) -> str:
    seen: dict[str, str] = {}
    todo = deque(start)
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen or url.startswith(("/static/", "/matches/", "/logout")):
            continue  # match pages need the embedding model (tests marked model cover them)
        resp = client.get(url)
        body = resp.get_data(as_text=True) if resp.mimetype in ("text/html", "application/json", "text/csv") else ""
        resp.close()
        seen[url] = body
        for link in LINK_RE.findall(body):
            link = link.replace("&amp;", "&")
            if link not in seen:
                todo.append(link)
    return "\n".join(seen.values())


def _start(world) -> list[str]:
    d = world["demand"]
    return ["/", "/dashboard", "/search/demand", f"/demand/{d.id}", "/export/search/demand.csv",
            f"/api/v1/demands/{d.id}", "/api/v1/demands/", "/introductions/", "/organisation/"]


def test_the_company_marks_a_demand_confidential_on_its_form(app, client, session, login_as):
    company = login_as("company", org="某保密企业")
    values = demand_data()
    data = {k: v for k, v in values.items() if k != "modes"}
    data.update({"modes": values["modes"], "deadline": values["deadline"].isoformat(), "min_trl": "4",
                 "confidential": "y", "intent": "draft"})
    resp = client.submit("/demands/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    from models import Demand
    from sqlalchemy import select
    item = session.scalar(select(Demand).where(Demand.owner_id == company.id))
    assert item.confidential is True
    page = client.get(f"/demand/{item.id}").get_data(as_text=True)
    assert "某保密企业" in page  # its own members see the name


def test_the_name_is_hidden_until_the_introduction_is_accepted(app, session, world, zh):
    d = world["demand"]
    for who in (None, world["uni"]):
        page = _client(app, who).get(f"/demand/{d.id}").get_data(as_text=True)
        assert SECRET not in page and zh("Confidential company") in page
    for who in (world["company"], world["broker"]):
        assert SECRET in _client(app, who).get(f"/demand/{d.id}").get_data(as_text=True)
    intro = introductions.request_introduction(session, world["uni"], d.id, world["achievement"].id, "成果契合需求")
    session.commit()
    assert SECRET not in _client(app, world["uni"]).get(f"/demand/{d.id}").get_data(as_text=True)
    introductions.accept(session, intro, world["company"])
    session.commit()
    assert SECRET in _client(app, world["uni"]).get(f"/demand/{d.id}").get_data(as_text=True)
    assert SECRET not in _client(app).get(f"/demand/{d.id}").get_data(as_text=True)


@pytest.mark.parametrize("who", ["anonymous", "uni", "other_company"])
def test_no_page_download_or_api_answer_leaks_the_name(app, session, world, make_user, who):
    user = {"anonymous": None, "uni": world["uni"], "other_company": make_user("company")}[who]
    client = _client(app, user)
    text = _crawl(client, _start(world))
    assert world["demand"].title in text  # the demand itself was reached
    assert SECRET not in text
    if user is not None:  # the API with a token, too
        from services import tokens
        _row, clear = tokens.create_token(session, user, "sweep")
        session.commit()
        for url in (f"/api/v1/demands/{world['demand'].id}", "/api/v1/demands/"):
            assert SECRET not in client.get(url, headers={"Authorization": f"Bearer {clear}"}).get_data(as_text=True)


@pytest.mark.model  # the staff crawl reaches /statistics/, whose coverage figure asks the engine's index
def test_the_owner_and_staff_see_the_name_in_the_sweep(app, world):
    for who in ("company", "broker"):
        assert SECRET in _crawl(_client(app, world[who]), _start(world), limit=40)


def test_the_api_takes_and_answers_confidential_and_rights_status(app, session, make_user, zh):
    from services import tokens
    from tests.conftest import achievement_data

    api = app.test_client()
    for role, body, key, value in (("company", demand_data(confidential=True), "confidential", True),
                                   ("university", achievement_data(rights_status="full"), "rights_status", "full")):
        _row, clear = tokens.create_token(session, make_user(role), "t")
        session.commit()
        headers = {"Authorization": f"Bearer {clear}"}
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in body.items()}
        resp = api.post(f"/api/v1/{'demands' if role == 'company' else 'achievements'}/", json=body, headers=headers)
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()[key] == value
    bad = api.post("/api/v1/achievements/", json={**achievement_data(), "rights_status": "half"},
                   headers={**headers, "Accept-Language": "en"})
    assert bad.status_code == 422 and "rights_status" in bad.get_json()["errors"]
