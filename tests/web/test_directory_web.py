"""The service directory on the pages and in the API: a provider registers, lists a pilot platform, a broker
publishes it, a visitor finds it, the demand that needs pilot production shows it on its match page; contacts
only after the provider accepted (double opt-in); bad input answers in both languages; no contact leaks."""
from __future__ import annotations

import re
from collections import deque
from typing import Any

import pytest

from services import directory
from tests.conftest import PASSWORD
from tests.services.test_directory import entry


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


@pytest.fixture
def people(make_user):
    return {"provider": make_user("provider"), "broker": make_user("broker"), "company": make_user("company")}


def publish(session, people, **over: Any):
    p = directory.create(session, people["provider"], entry(**over))
    directory.transition(session, p, people["provider"], "submit")
    directory.transition(session, p, people["broker"], "approve")
    session.commit()
    return p


FORM = {"kind": "pilot", "name": "西安光电显示中试平台", "description": "Micro LED 巨量转移与检测修复中试线，提供试生产服务。",
        "field_codes": ["photonics.display"], "region": "shaanxi", "services": "中试验证", "equipment": "巨量转移设备",
        "capacity": "月产能2000片", "ticket_min": "", "ticket_max": "", "website": "",
        "contact_name": "王工", "contact_phone": "029-88886666", "contact_email": "pilot.canary@example.cn"}


def test_a_provider_registers_and_lands_on_the_new_entry_form(client):
    resp = client.submit("/register", {"role": "provider", "org_name": "西安光电显示中试平台有限公司", "region": "shaanxi",
                                       "industry": "", "credit_code": "", "display_name": "王工",
                                       "email": "wang@pilot.example.cn", "password": "pilot-platform-2026"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/directory/new")
    assert client.get("/directory/new").status_code == 200
    assert client.get("/directory/mine").status_code == 200


def test_the_journey_from_entry_to_the_demand_match_page(client, login, session, people, make_listing, zh):
    login(people["provider"])
    resp = client.submit("/directory/new", FORM)
    assert resp.status_code == 302
    entry_id = int(re.search(r"/directory/(\d+)", resp.headers["Location"]).group(1))
    assert client.submit(f"/directory/{entry_id}/submit", {}, form_url=f"/directory/{entry_id}").status_code == 302
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(people["broker"])
    assert "西安光电显示中试平台" in client.get("/directory/review").get_data(as_text=True)
    assert client.submit(f"/directory/{entry_id}/review/approve", {"reason": ""},
                         form_url="/directory/review").status_code == 302
    client.post("/logout", data={"csrf_token": client.token("/")})
    # a visitor finds it by kind, field and words; the contact stays hidden
    page = client.get("/directory/?kind=pilot&field=photonics&q=micro+led").get_data(as_text=True)
    assert "西安光电显示中试平台" in page
    assert "西安光电显示中试平台" not in client.get("/directory/?kind=lab").get_data(as_text=True)
    detail = client.get(f"/directory/{entry_id}").get_data(as_text=True)
    assert "巨量转移设备" in detail and "pilot.canary@example.cn" not in detail and "029-88886666" not in detail
    # the demand that needs pilot production shows it on its match page (its owner)
    demand = make_listing("demand", people["company"], reviewer=people["broker"], title="Micro LED巨量转移良率提升",
                          description="公司正在建设Micro LED显示模组中试线，希望引进巨量转移及快速检测修复技术。",
                          field_code="photonics.display", keywords="Micro LED,巨量转移", min_trl=None)
    login(people["company"])
    matches = client.get(f"/matches/demand/{demand.id}")
    assert matches.status_code == 200
    text = matches.get_data(as_text=True)
    assert "providers-for-demand" in text and f"/directory/{entry_id}" in text
    assert "pilot.canary@example.cn" not in text
    fit = text.split(f"/directory/{entry_id}")[1].split('class="meta fit"')[1].split("</p>")[0]
    assert zh("same field") in fit and (zh("same region") in fit or zh("another region") in fit)  # why it is listed


def test_contact_after_the_provider_accepts_and_hidden_after_withdrawal(client, login, session, people):
    p = publish(session, people)
    login(people["company"])
    assert client.submit(f"/directory/{p.id}/contact", {"message": "想预约中试"}).status_code == 302
    page = client.get(f"/directory/{p.id}").get_data(as_text=True)
    assert "pilot.canary@example.cn" not in page
    req = directory.requests_for(session, people["company"])[1][0]
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(people["provider"])
    received = client.get("/directory/requests").get_data(as_text=True)
    assert "想预约中试" in received and people["company"].email not in received  # requester's e-mail after accepting
    told = client.get("/notifications/").get_data(as_text=True)  # the provider hears of the request, with a way to it
    assert p.name in told and 'href="/directory/requests"' in told and people["company"].email not in told
    assert client.submit(f"/directory/requests/{req.id}/accept", {}, form_url="/directory/requests").status_code == 302
    assert people["company"].email in client.get("/directory/requests").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(people["company"])
    answered = client.get("/notifications/").get_data(as_text=True)  # and the requester of the answer
    assert p.name in answered and f'href="/directory/{p.id}"' in answered and "pilot.canary@example.cn" not in answered
    assert "pilot.canary@example.cn" in client.get(f"/directory/{p.id}").get_data(as_text=True)
    assert client.submit(f"/directory/requests/{req.id}/withdraw", {},
                         form_url="/directory/requests").status_code == 302
    assert "pilot.canary@example.cn" not in client.get(f"/directory/{p.id}").get_data(as_text=True)


def test_another_provider_and_other_roles_cannot_touch_an_entry(client, login, session, people, make_user):
    draft = directory.create(session, people["provider"], entry())
    session.commit()
    login(make_user("provider"))
    assert client.get(f"/directory/{draft.id}").status_code == 404
    assert client.get(f"/directory/{draft.id}/edit").status_code == 404
    assert client.submit(f"/directory/{draft.id}/submit", {}, form_url="/directory/mine").status_code == 404
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(people["company"])
    assert client.get("/directory/new").status_code == 403
    assert client.get("/directory/review").status_code == 403


BAD = [({"name": "x"}, "The name needs 2 to 120 characters."),
       ({"field_codes": []}, "This field is required."),
       ({"contact_email": "nobody"}, "Enter a valid e-mail address, like name@example.com."),
       ({"contact_phone": "12"}, "Enter a mobile number (11 digits) or a landline such as 029-88886666."),
       ({"website": "javascript:alert(1)"}, "Enter a web address starting with http:// or https://."),
       ({"kind": "investor", "ticket_min": "500", "ticket_max": "100"},
        "The largest ticket must be at least the smallest."),
       ({"ticket_min": "abc"}, None), ({"kind": "bank"}, None), ({"region": "atlantis"}, None),
       ({"field_codes": ["nope"]}, None)]


@pytest.mark.parametrize("over,msgid", BAD)
def test_bad_input_on_the_entry_form_answers_in_both_languages(client, login, session, people, over, msgid, zh):
    login(people["provider"])
    resp = client.submit("/directory/new", {**FORM, **over})  # Chinese by default
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert 'class="error"' in body
    if msgid:
        assert zh(msgid) in body
        client.submit("/lang/en", {"next": "/"}, form_url="/")
        assert msgid in client.submit("/directory/new", {**FORM, **over}).get_data(as_text=True)
    session.expire_all()
    assert directory.owned_by(session, people["provider"]) == []


def test_service_refusal_is_translated_on_the_form(client, login, people, zh, monkeypatch):
    login(people["provider"])

    def refuse(*_a, **_kw):
        raise directory.ServiceError("directory.bad_stages", field="stages")
    monkeypatch.setattr(directory, "create", refuse)
    resp = client.submit("/directory/new", FORM)
    assert resp.status_code == 422 and zh("Choose investment stages from the list.") in resp.get_data(as_text=True)
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    assert "Choose investment stages from the list." in client.submit("/directory/new", FORM).get_data(as_text=True)


def test_bad_filters_never_fail(client):
    for query in ("?kind=bank", "?field=%00", "?region=x" * 50, "?q=" + "长" * 500, "?page=-3", "?status=draft"):
        assert client.get("/directory/" + query).status_code in (200, 400, 422)  # 400: the input guard (NUL)


# --- the API --------------------------------------------------------------------------------------------------

@pytest.fixture
def token_for(session):
    from services import tokens

    def make(user, lang: str = ""):
        _row, clear = tokens.create_token(session, user, "test")
        session.commit()
        return {"Authorization": f"Bearer {clear}", **({"Accept-Language": lang} if lang else {})}

    return make


def test_api_read_and_write(app, session, people, token_for, zh):
    api = app.test_client()
    published = publish(session, people)
    listed = api.get("/api/v1/directory/?kind=pilot").get_json()
    assert [i["id"] for i in listed["items"]] == [published.id] and listed["items"][0]["contact"] is None
    assert api.get(f"/api/v1/directory/{published.id}", headers=token_for(people["company"])).get_json()["contact"] is None
    own = api.get(f"/api/v1/directory/{published.id}", headers=token_for(people["provider"])).get_json()
    assert own["contact"]["email"] == "pilot.canary@example.cn"
    body = {k: v for k, v in entry().items() if k not in ("ticket_min", "ticket_max")}
    created = api.post("/api/v1/directory/", json=body, headers=token_for(people["provider"]))
    assert created.status_code == 201 and created.get_json()["status"] == "draft"
    new_id = created.get_json()["id"]
    assert api.get(f"/api/v1/directory/{new_id}").status_code == 404  # a draft is not public
    assert api.post("/api/v1/directory/", json=body, headers=token_for(people["company"])).status_code == 403
    assert api.post("/api/v1/directory/", json=body).status_code == 401
    bad = api.post("/api/v1/directory/", json={**body, "region": "atlantis"}, headers=token_for(people["provider"], "en"))
    assert bad.status_code == 422 and bad.get_json()["errors"]["region"] == ["Choose a region from the list."]
    bad = api.post("/api/v1/directory/", json={**body, "kind": "investor", "ticket_min": 9, "ticket_max": 1},
                   headers=token_for(people["provider"], "zh-CN"))
    assert bad.status_code == 422 and bad.get_json()["errors"]["ticket_max"] == [
        zh("The largest ticket must be at least the smallest.")]
    assert api.post("/api/v1/directory/", json={**body, "kind": "bank"},
                    headers=token_for(people["provider"])).status_code == 422
    assert api.post(f"/api/v1/directory/{new_id}/submit", headers=token_for(people["provider"])).get_json()[
        "status"] == "submitted"
    again = api.post(f"/api/v1/directory/{new_id}/submit", headers=token_for(people["provider"]))
    assert again.status_code == 422 and again.get_json()["code"] == "directory.bad_transition"
    other = api.patch(f"/api/v1/directory/{published.id}", json=body, headers=token_for(people["broker"]))
    assert other.status_code == 403


# --- no leak of contacts: every directory page each role reaches --------------------------------------------

LINK_RE = re.compile(r'href="(/[^"]*)"')


def _crawl(client: Any, start: list[str], limit: int = 150) -> str:
    seen: dict[str, str] = {}
    todo = deque(start)
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen or url.startswith("/static/"):
            continue
        resp = client.get(url)
        seen[url] = resp.get_data(as_text=True) if resp.mimetype in ("text/html", "application/json") else ""
        for link in LINK_RE.findall(seen[url]):
            link = link.replace("&amp;", "&")
            if link.startswith(("/directory", "/api/v1/directory", "/matches")) and link not in seen:
                todo.append(link)
    return "\n".join(seen.values())


@pytest.mark.parametrize("role", ["anonymous", "company", "university", "broker", "provider", "other_provider"])
def test_directory_canary_sweep(app, session, people, make_user, make_listing, role, token_for):
    other = make_user("provider")
    university = make_user("university")
    rows = []
    for owner in (people["provider"], other):
        for n, status in enumerate(("draft", "submitted", "published", "returned")):
            tag = f"{owner.id}x{n}"
            p = directory.create(session, owner, entry(contact_name=f"金丝雀{tag}", contact_phone=f"029-6{owner.id:03d}{n:04d}",
                                                       contact_email=f"canary{tag}@directory-leak.test"))
            if status != "draft":
                directory.transition(session, p, owner, "submit")
            if status == "published":
                directory.transition(session, p, people["broker"], "approve")
            if status == "returned":
                directory.transition(session, p, people["broker"], "return", "补充")
            rows.append(p)
    session.commit()
    # the company's request to the first provider's published entry is accepted: it sees exactly that contact
    first = next(p for p in rows if p.owner_id == people["provider"].id and p.status == "published")
    req = directory.request_contact(session, people["company"], first)
    directory.answer(session, req, people["provider"], True)
    # and a pending request of the university to the other provider's entry shows nothing
    second = next(p for p in rows if p.owner_id == other.id and p.status == "published")
    directory.request_contact(session, university, second)
    demand = make_listing("demand", people["company"], reviewer=people["broker"], min_trl=5)
    session.commit()
    viewer = {"anonymous": None, "company": people["company"], "university": university, "broker": people["broker"],
              "provider": people["provider"], "other_provider": other}[role]
    client = app.test_client()
    if viewer is not None:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
            re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert client.post("/login", data={"email": viewer.email, "password": PASSWORD,
                                           "csrf_token": token.group(1)}).status_code == 302
    start = ["/directory/", "/directory/mine", "/directory/review", "/directory/requests",
             "/directory/?status=draft", "/directory/?status=returned", f"/matches/demand/{demand.id}"]
    start += [f"/directory/{p.id}" for p in rows]
    text = _crawl(client, start)
    api = app.test_client()
    headers = token_for(viewer) if viewer is not None else {}
    text += "\n".join(api.get(url, headers=headers).get_data(as_text=True)
                      for url in ["/api/v1/directory/?per_page=100"] + [f"/api/v1/directory/{p.id}" for p in rows])
    seen_any = False
    for p in rows:
        fresh = session.get(type(p), p.id)
        if directory.can_see_contact(session, viewer, fresh):
            seen_any = seen_any or p.contact_email in text
            continue
        for value in (p.contact_email, p.contact_phone, p.contact_name):
            assert value not in text, (role, p.status, value)
    if role in ("company", "broker", "provider", "other_provider"):
        assert seen_any
    if role == "company":
        assert first.contact_email in text


def test_a_too_long_contact_message_comes_back_to_be_shortened(client, login, session, people):
    p = publish(session, people)
    login(people["company"])
    long = "我们希望预约中试服务。" * 120
    resp = client.submit(f"/directory/{p.id}/contact", {"message": long})
    assert resp.status_code == 422 and long in resp.get_data(as_text=True)
    assert directory.requests_for(session, people["company"])[1] == []


def test_a_whole_field_shows_by_its_name_not_its_code(client, session, people):
    p = publish(session, people, field_codes=["new_energy"])
    page = client.get("/directory/").get_data(as_text=True) + client.get(f"/directory/{p.id}").get_data(as_text=True)
    shown = re.sub(r'value="[^"]*"', "", page)  # the filter's option values are codes, by design
    assert "new_energy" not in shown and "新能源" in shown


def test_a_page_past_the_end_says_so_and_leads_back(client, session, people, zh):
    """An old link or a typed ?page=999 used to read "page 999 of 1" over an empty list."""
    publish(session, people)
    page = client.get("/directory/?page=999").get_data(as_text=True)
    assert zh("There is no page %(p)s: the last page is %(n)s.", p=999, n=1) in page
    assert "/directory/?page=1" in page and zh("Go to the last page") in page
    assert zh("No provider matches these filters.") not in page  # there are providers: only not on page 999
    assert zh("There is no page %(p)s: the last page is %(n)s.", p=1, n=1) not in \
        client.get("/directory/").get_data(as_text=True)
