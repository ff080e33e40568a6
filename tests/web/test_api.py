"""REST API: token auth only, policy and visibility as on the pages, contacts only where allowed, errors."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import achievement_data, demand_data

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

CANARIES = ("canary.demand@example.com", "canary.achievement@example.cn", "13800000001", "13900000012")


@pytest.fixture
def token_for(session):
    """A clear API token for a user, made through the service."""
    from services import tokens

    def make(user):
        _row, clear = tokens.create_token(session, user, "test")
        session.commit()
        return {"Authorization": f"Bearer {clear}"}

    return make


@pytest.fixture
def api(app):
    return app.test_client()


def _demand_json(**over):
    data = demand_data(**over)
    data["deadline"] = data["deadline"].isoformat()
    return data


def test_tokens_are_created_once_listed_by_prefix_and_revoked_in_the_ui(client, login_as, session, api):
    from models import ApiToken
    user = login_as("company")
    page = client.submit("/account/tokens", {"name": "ERP sync"})
    clear = re.search(r"<code>(tm_[A-Za-z0-9_-]+)</code>", page.get_data(as_text=True)).group(1)
    row = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert clear not in row.token_hash and row.prefix in clear and len(row.token_hash) == 64
    assert clear not in client.get("/account/tokens").get_data(as_text=True)  # shown once only
    assert api.get("/api/v1/demands/", headers={"Authorization": f"Bearer {clear}"}).status_code == 200
    client.submit(f"/account/tokens/{row.id}/revoke", {}, form_url="/account/tokens")
    resp = api.get("/api/v1/demands/", headers={"Authorization": f"Bearer {clear}"})
    assert resp.status_code == 401 and resp.get_json()["code"] == "unauthorized"


def test_someone_elses_token_cannot_be_revoked(client, login_as, make_user, token_for, session):
    from models import ApiToken
    other = make_user("company")
    token_for(other)
    row = session.scalar(select(ApiToken).where(ApiToken.user_id == other.id))
    login_as("company")
    assert client.submit(f"/account/tokens/{row.id}/revoke", {}, form_url="/account/tokens").status_code == 404
    session.refresh(row)
    assert row.revoked_at is None


def test_session_cookie_is_not_api_auth(client, login_as):
    login_as("company")  # signed in on the website
    resp = client.post("/api/v1/demands/", json=_demand_json())
    assert resp.status_code == 401  # the cookie is ignored: no CSRF-free cookie writes


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer tm_abc_def", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bad_tokens_are_401_even_on_public_endpoints(api, header):
    resp = api.get("/api/v1/demands/", headers={"Authorization": header})
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_inactive_users_token_stops_working(api, make_user, token_for, session):
    user = make_user("company")
    headers = token_for(user)
    user.active = False
    session.commit()
    assert api.get("/api/v1/demands/", headers=headers).status_code == 401


def test_public_list_and_detail_hide_contacts_and_drafts(api, make_user, make_listing, token_for):
    owner, broker = make_user("company"), make_user("broker")
    pub = make_listing("demand", owner, "published", reviewer=broker)
    draft = make_listing("demand", owner, "draft", title="尚未提交的需求草稿")
    for headers in ({}, token_for(make_user("company")), token_for(make_user("university"))):
        body = api.get("/api/v1/demands/", headers=headers).get_data(as_text=True)
        assert "尚未提交的需求草稿" not in body and not any(c in body for c in CANARIES)
        detail = api.get(f"/api/v1/demands/{pub.id}", headers=headers).get_json()
        assert detail["contact"] is None and detail["review_note"] is None
        assert api.get(f"/api/v1/demands/{draft.id}", headers=headers).status_code == 404
    mine = api.get(f"/api/v1/demands/{draft.id}", headers=token_for(owner)).get_json()
    assert mine["contact"]["email"] == "canary.demand@example.com"
    staff = api.get(f"/api/v1/demands/{pub.id}", headers=token_for(broker)).get_json()
    assert staff["contact"] is not None


def test_list_filters_and_pagination(api, make_user, make_listing):
    owner, broker = make_user("university"), make_user("broker")
    for i in range(3):
        make_listing("achievement", owner, "published", reviewer=broker, title=f"原子层沉积包覆技术第{i}号")
    make_listing("achievement", owner, "published", reviewer=broker, title="光伏组件清洗机器人", region="shaanxi")
    page = api.get("/api/v1/achievements/?per_page=2&page=2").get_json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["page"] == 2
    only = api.get("/api/v1/achievements/?region=shaanxi").get_json()
    assert [i["title"] for i in only["items"]] == ["光伏组件清洗机器人"]
    bad = api.get("/api/v1/achievements/?per_page=500&stage=space", headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"per_page", "stage"}
    # a misspelt filter is refused by name, not ignored into an unfiltered list
    typo = api.get("/api/v1/achievements/?regoin=shaanxi", headers={"Accept-Language": "en"})
    assert typo.status_code == 422 and typo.get_json()["errors"] == {"regoin": ["Unknown field."]}



def test_a_reversed_period_is_named_and_spaces_around_dates_are_no_error(api, make_user, make_listing, zh):
    from services import clock
    owner, broker = make_user("university"), make_user("broker")
    make_listing("achievement", owner, "published", reviewer=broker)
    today = clock.today().isoformat()
    bad = api.get(f"/api/v1/achievements/?since={today}&until=2000-01-01")
    assert bad.status_code == 422 and bad.get_json()["errors"] == {
        "until": [zh("The end date (until) is before the start date (since): swap them or move one.")]}
    ok = api.get(f"/api/v1/achievements/?since=%20{today}%20&until={today}")
    assert ok.status_code == 200 and ok.get_json()["total"] == 1


def test_owner_creates_updates_and_submits_a_draft(api, make_user, token_for):
    user = make_user("company")
    headers = token_for(user)
    resp = api.post("/api/v1/demands/", json=_demand_json(), headers=headers)
    assert resp.status_code == 201, resp.get_json()
    item = resp.get_json()
    assert item["status"] == "draft" and item["contact"]["phone"] == "13800000001"
    resp = api.patch(f"/api/v1/demands/{item['id']}", json={"budget_max": 300}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["budget_max"] == 300
    resp = api.post(f"/api/v1/demands/{item['id']}/submit", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "submitted"
    again = api.post(f"/api/v1/demands/{item['id']}/submit", headers=headers)
    assert again.status_code == 409 and again.get_json()["code"] == "listing.bad_transition"


def test_same_role_non_owner_gets_404(api, make_user, make_listing, token_for):
    owner = make_user("company")
    draft = make_listing("demand", owner, "draft")
    other = token_for(make_user("company"))
    assert api.patch(f"/api/v1/demands/{draft.id}", json={"title": "被别人改掉的标题"}, headers=other).status_code == 404
    assert api.post(f"/api/v1/demands/{draft.id}/submit", headers=other).status_code == 404


@pytest.mark.parametrize("role,status", [(None, 401), ("university", 403), ("broker", 403), ("admin", 403)])
def test_only_companies_create_demands(api, make_user, token_for, role, status):
    headers = token_for(make_user(role)) if role else {}
    resp = api.post("/api/v1/demands/", json=_demand_json(), headers=headers)
    assert resp.status_code == status and resp.get_json()["code"] in ("unauthorized", "forbidden")


def test_validation_errors_name_fields_in_the_callers_language(api, make_user, token_for, zh):
    headers = token_for(make_user("university"))
    body = achievement_data(stage="pilot", trl=2, region="atlantis", modes=["barter"], price=None,
                            contact_phone="123")
    resp = api.post("/api/v1/achievements/", json=body, headers=headers)
    err = resp.get_json()
    assert resp.status_code == 422 and err["code"] == "validation_error"
    assert {"modes.0", "contact_phone"} <= set(err["errors"])
    assert err["message"] == zh("Some values are missing or not valid; see errors.")
    resp = api.post("/api/v1/achievements/", json=achievement_data(stage="pilot", trl=2, region="atlantis"),
                    headers=dict(headers, **{"Accept-Language": "en"}))
    err = resp.get_json()
    assert resp.status_code == 422 and err["errors"] == {"region": ["Choose a region from the list."]}
    resp = api.post("/api/v1/achievements/", json=achievement_data(stage="pilot", trl=2),
                    headers=dict(headers, **{"Accept-Language": "en"}))
    assert resp.status_code == 422 and resp.get_json()["code"] == "listing.stage_trl"
    assert "trl" in resp.get_json()["errors"]


def test_malformed_json_is_a_400_or_422_not_500(api, make_user, token_for):
    headers = dict(token_for(make_user("company")), **{"Content-Type": "application/json"})
    for body in ("{", "[]", "null", "\"x\"", "{\"budget_min\": NaN}"):
        resp = api.post("/api/v1/demands/", data=body, headers=headers)
        assert resp.status_code in (400, 422), (body, resp.status_code)
        assert set(resp.get_json()) >= {"code", "message"}


def test_matches_for_owner_of_published_listing_and_staff(api, make_user, make_listing, token_for):
    company, university, broker = make_user("company"), make_user("university"), make_user("broker")
    demand = make_listing("demand", company, "published", reviewer=broker)
    make_listing("achievement", university, "published", reviewer=broker)
    resp = api.get(f"/api/v1/demands/{demand.id}/matches?k=5", headers=token_for(company))
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert items and items[0]["listing"]["kind"] == "achievement" and items[0]["listing"]["contact"] is None
    assert "semantic" in items[0]["breakdown"]
    assert api.get(f"/api/v1/demands/{demand.id}/matches", headers=token_for(broker)).status_code == 200
    assert api.get(f"/api/v1/demands/{demand.id}/matches",
                   headers=token_for(make_user("company"))).status_code == 404
    assert api.get(f"/api/v1/demands/{demand.id}/matches").status_code == 401


def test_job_status_for_its_owner_only(api, make_user, token_for, session):
    from services import jobs
    import tests.services.test_jobs  # noqa: F401  registers test.count
    owner = make_user("university")
    job = jobs.submit_job(session, "test.count", owner.id, {"n": 3})
    session.commit()
    resp = api.get(f"/api/v1/jobs/{job.id}", headers=token_for(owner))
    assert resp.status_code == 200 and resp.get_json()["status"] == "queued" and resp.get_json()["result"] is None
    assert api.get(f"/api/v1/jobs/{job.id}", headers=token_for(make_user("university"))).status_code == 404


def test_unknown_api_paths_and_methods_answer_json(api):
    resp = api.get("/api/v1/gadgets")
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    resp = api.delete("/api/v1/demands/")
    assert resp.status_code == 405 and resp.get_json()["code"] == "method_not_allowed"


def test_docs_work_offline(api):
    page = api.get("/api/v1/docs").get_data(as_text=True)
    assert "http" not in re.sub(r"https?://(localhost|swagger\.io|github\.com)[^\s\"']*", "", page).split("<script>")[0]
    assert "<script>" not in page  # no inline script: the CSP would block it (tests/e2e/test_api_docs.py)
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert src.startswith(("/api/v1/docs/assets/", "/static/js/"))
        with api.get(src) as asset:
            assert asset.status_code == 200 and len(asset.data) > 100  # a real file, not an error page
    spec = api.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "bearerAuth" in spec["components"]["securitySchemes"]


def test_every_api_endpoint_is_in_the_policy(app):
    from web import policy
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert policy.rule_for(rule.endpoint, method) is not None, (rule.endpoint, method)


def _reveals(session):
    from models import AuditEvent
    session.expire_all()
    return [(e.actor_id, e.target) for e in
            session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.reveal").order_by(AuditEvent.id))]


def test_api_reads_that_return_contacts_are_audited_like_page_views(api, make_user, make_listing, token_for,
                                                                   session):
    owner, broker = make_user("company"), make_user("broker")
    pub = make_listing("demand", owner, "published", reviewer=broker)
    staff = token_for(broker)
    assert api.get(f"/api/v1/demands/{pub.id}", headers=staff).get_json()["contact"] is not None
    assert _reveals(session) == [(broker.id, f"demand:{pub.id}")]
    listed = api.get("/api/v1/demands/", headers=staff).get_json()
    assert listed["items"][0]["contact"] is not None
    assert _reveals(session)[1:] == [(broker.id, f"demand:{pub.id}")]


def test_api_reads_without_contacts_and_the_owners_own_are_not_audited(api, make_user, make_listing, token_for,
                                                                       session):
    owner, broker = make_user("company"), make_user("broker")
    pub = make_listing("demand", owner, "published", reviewer=broker)
    for headers in ({}, token_for(make_user("company")), token_for(make_user("university"))):
        assert api.get(f"/api/v1/demands/{pub.id}", headers=headers).get_json()["contact"] is None
        assert api.get("/api/v1/demands/", headers=headers).status_code == 200
    assert api.get(f"/api/v1/demands/{pub.id}", headers=token_for(owner)).get_json()["contact"] is not None
    assert _reveals(session) == []


def test_api_answers_with_contacts_are_not_cached(api, make_user, make_listing, token_for):
    owner, broker = make_user("company"), make_user("broker")
    pub = make_listing("demand", owner, "published", reviewer=broker)
    assert api.get(f"/api/v1/demands/{pub.id}", headers=token_for(broker)).headers.get("Cache-Control") == "no-store"
    assert api.get(f"/api/v1/demands/{pub.id}", headers=token_for(owner)).headers.get("Cache-Control") == "no-store"
    assert api.get("/api/v1/demands/", headers=token_for(broker)).headers.get("Cache-Control") == "no-store"
    assert "no-store" not in api.get(f"/api/v1/demands/{pub.id}").headers.get("Cache-Control", "")
