"""The route policy: complete, enforced for every role x route cell, object-level checks, canary sweep."""
from __future__ import annotations

import io
import itertools
import re
from collections import deque
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from tests.conftest import CSRF_RE, PASSWORD, achievement_data, app_config, demand_data, dispose_app
from services import clock, jobs as jobs_service
from tests.web.policy_builders import FEATURE_BUILDERS, api_token, is_api
from web import policy

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

ROLES = ("anonymous", "company", "university", "broker", "admin", "advisor", "provider")


@jobs_service.handler("policy.test")
def _noop_job(session: Any, job: Any, progress: Any, ctx: Any) -> dict:
    return {}

_n = itertools.count(1)
PANEL_CANARY = "金丝雀顾问评语"  # an advisor's review comment on the canary achievement's panel
# the company of a confidential demand (issue 21): staff only see it, as no one here accepted an introduction with it;
# the company has no organisation, so its name (its account's) is not in the partner lists of the challenge forms
CONFIDENTIAL_CANARY = "金丝雀保密企业"


class World:
    """One app for the whole module with a user per role and objects to point URLs at."""

    def __init__(self, app: Any) -> None:
        from web.db import sessionmaker_for

        self.app = app
        self.factory = sessionmaker_for(app)
        self.users = {role: self.user(role) for role in ROLES if role != "anonymous"}
        self.downloads: list[str] = []  # files the canary sweep reads (set by _feature_objects)

    def user(self, role: str) -> Any:
        from models import OrgKind
        from services import accounts

        with self.factory() as s:
            org = None
            if role in ("company", "university"):
                kind = OrgKind.COMPANY if role == "company" else OrgKind.UNIVERSITY
                org = accounts.find_or_create_organisation(s, f"{role} org {next(_n)}", kind, region="shaanxi")
            user = accounts.create_user(s, email=f"{role}{next(_n)}@example.com", password=PASSWORD,
                                        display_name=f"{role} {next(_n)}", role=role, organisation=org)
            s.commit()
            return user

    def listing(self, kind: str, owner: Any, status: str = "published", **over: Any) -> Any:
        from services import listings

        with self.factory() as s:
            data = demand_data(**over) if kind == "demand" else achievement_data(**over)
            item = listings.create_listing(s, kind, s.get(type(owner), owner.id), data)
            if status in ("submitted", "published"):
                listings.transition(s, item, item.owner, "submit")
            if status == "published":
                broker = s.get(type(owner), self.users["broker"].id)
                listings.transition(s, item, broker, "approve")
            s.commit()
            return item

    def job(self, owner: Any) -> Any:
        from services import jobs

        with self.factory() as s:
            job = jobs.submit_job(s, "policy.test", owner.id, {})
            s.commit()
            return job

    def field_id(self) -> int:
        from sqlalchemy import select

        from models import Field
        with self.factory() as s:
            return s.scalar(select(Field.id).limit(1))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, new_database) -> World:
    from app import create_app

    tmp = tmp_path_factory.mktemp("policy")
    app = create_app(app_config(tmp, new_database(tmp), RATELIMIT_ENABLED=False))
    yield World(app)
    dispose_app(app)


def _me(world: World, role: str) -> Any:
    """The acting user; anonymous acts on the company's objects."""
    return world.users.get(role) or world.users["company"]


def _own_kind(role: str) -> str:
    return "achievement" if role == "university" else "demand"


def _owner_for(world: World, role: str, kind: str) -> Any:
    owner_role = "company" if kind == "demand" else "university"
    return world.users[role] if role == owner_role else world.users[owner_role]


# (endpoint, method) -> builder(world, role) -> (url, form data). Every policy cell must have one.
def _listing_act(kind: str) -> Callable[[World, str], tuple[str, dict]]:
    def build(w: World, role: str) -> tuple[str, dict]:
        item = w.listing(kind, _owner_for(w, role, kind), status="draft")
        return f"/{kind}s/{item.id}/submit", {}
    return build


def _listing_edit(kind: str) -> Callable[[World, str], tuple[str, dict]]:
    def build(w: World, role: str) -> tuple[str, dict]:
        item = w.listing(kind, _owner_for(w, role, kind), status="draft")
        return f"/{kind}s/{item.id}/edit", {}
    return build


def _detail(w: World, role: str) -> tuple[str, dict]:
    kind = _own_kind(role)
    return f"/{kind}/{w.listing(kind, _owner_for(w, role, kind)).id}", {}


def _matches(w: World, role: str) -> tuple[str, dict]:
    kind = _own_kind(role)
    return f"/matches/{kind}/{w.listing(kind, _owner_for(w, role, kind)).id}", {}


def _review(w: World, role: str) -> tuple[str, dict]:
    return f"/review/demand/{w.listing('demand', w.users['company'], status='submitted').id}/approve", \
        {"reason": ""}


def _job(w: World, role: str) -> tuple[str, dict]:
    return f"/jobs/{w.job(_me(w, role)).id}", {}


def _job_json(w: World, role: str) -> tuple[str, dict]:
    return f"/jobs/{w.job(_me(w, role)).id}.json", {}


def _intro(w: World, role: str, requester_role: str) -> Any:
    """A requested introduction of a fresh pair, involving the role's user where it owns a side."""
    from services import introductions

    demand = w.listing("demand", _owner_for(w, role, "demand"))
    achievement = w.listing("achievement", _owner_for(w, role, "achievement"))
    requester = w.users[requester_role]
    with w.factory() as s:
        intro = introductions.request_introduction(s, s.get(type(requester), requester.id), demand.id,
                                                   achievement.id, "理由")
        s.commit()
        return intro


def _intro_request(w: World, role: str) -> tuple[str, dict]:
    demand = w.listing("demand", _owner_for(w, role, "demand"))
    achievement = w.listing("achievement", _owner_for(w, role, "achievement"))
    return "/introductions/request", {"demand_id": demand.id, "achievement_id": achievement.id, "reason": "理由"}


def _intro_answer(w: World, role: str) -> tuple[str, dict]:
    requester = {"company": "university", "university": "company"}.get(role, "broker")
    return f"/introductions/{_intro(w, role, requester).id}/accept", {}


def _intro_withdraw(w: World, role: str) -> tuple[str, dict]:
    # roles outside the listing market (advisor, provider) cannot request one: a broker's, which they may not withdraw
    requester = role if role in w.users and role in policy.MARKET else "broker"
    return f"/introductions/{_intro(w, role, requester).id}/withdraw", {}


BUILDERS: dict[tuple[str, str], Callable[[World, str], tuple[str, dict]]] = {
    ("static", "GET"): lambda w, r: ("/static/css/app.css", {}),
    ("public.home", "GET"): lambda w, r: ("/", {}),
    ("public.dashboard", "GET"): lambda w, r: ("/dashboard", {}),
    ("public.search", "GET"): lambda w, r: ("/search/demand?q=电池", {}),
    ("public.detail", "GET"): _detail,
    ("auth.login", "GET"): lambda w, r: ("/login", {}),
    ("auth.login", "POST"): lambda w, r: ("/login", {"email": "nobody@example.com", "password": "x"}),
    ("auth.logout", "POST"): lambda w, r: ("/logout", {}),
    ("auth.register", "GET"): lambda w, r: ("/register", {}),
    ("auth.register", "POST"): lambda w, r: ("/register", {}),
    ("auth.set_language", "POST"): lambda w, r: ("/lang/en", {"next": "/"}),
    ("demands.mine", "GET"): lambda w, r: ("/demands/mine", {}),
    ("demands.new", "GET"): lambda w, r: ("/demands/new", {}),
    ("demands.new", "POST"): lambda w, r: ("/demands/new", {}),
    ("demands.edit", "GET"): _listing_edit("demand"),
    ("demands.edit", "POST"): _listing_edit("demand"),
    ("demands.act", "POST"): _listing_act("demand"),
    ("achievements.mine", "GET"): lambda w, r: ("/achievements/mine", {}),
    ("achievements.new", "GET"): lambda w, r: ("/achievements/new", {}),
    ("achievements.new", "POST"): lambda w, r: ("/achievements/new", {}),
    ("achievements.edit", "GET"): _listing_edit("achievement"),
    ("achievements.edit", "POST"): _listing_edit("achievement"),
    ("achievements.act", "POST"): _listing_act("achievement"),
    ("review.queue", "GET"): lambda w, r: ("/review/", {}),
    ("review.decide", "POST"): _review,
    ("matches.for_listing", "GET"): _matches,
    ("admin.users", "GET"): lambda w, r: ("/admin/users", {}),
    ("admin.create_user", "POST"): lambda w, r: ("/admin/users/new", {}),
    ("admin.change_role", "POST"): lambda w, r: (f"/admin/users/{w.user('company').id}/role", {"role": "broker"}),
    ("admin.set_active", "POST"): lambda w, r: (f"/admin/users/{w.user('company').id}/deactivate", {}),
    ("admin.fields", "GET"): lambda w, r: ("/admin/fields", {}),
    ("admin.edit_field", "GET"): lambda w, r: (f"/admin/fields/{w.field_id()}/edit", {}),
    ("admin.edit_field", "POST"): lambda w, r: ("/admin/fields/new", {}),
    ("jobs.status", "GET"): _job,
    ("jobs.status_json", "GET"): _job_json,
    ("admin.audit_log", "GET"): lambda w, r: ("/admin/audit?action=auth.login", {}),
    ("account.security", "GET"): lambda w, r: ("/account/security", {}),
    ("account.password", "POST"): lambda w, r: ("/account/password", {"current": "wrong-password"}),
    ("account.logout_everywhere", "POST"): lambda w, r: ("/account/logout-everywhere", {}),
    ("auth.totp", "GET"): lambda w, r: ("/login/code", {}),
    ("auth.totp", "POST"): lambda w, r: ("/login/code", {"code": "123456"}),
    ("account.totp", "GET"): lambda w, r: ("/account/two-factor", {}),
    ("account.totp", "POST"): lambda w, r: ("/account/two-factor", {"code": "000000"}),
    ("introductions.inbox", "GET"): lambda w, r: ("/introductions/", {}),
    ("introductions.request_intro", "POST"): _intro_request,
    ("introductions.answer", "POST"): _intro_answer,
    ("introductions.withdraw", "POST"): _intro_withdraw,
}
# Cells added by later features: tests/web/policy_builders.py (FEATURE_BUILDERS, always merged below). A
# feature's own test module may also register here (EXTRA_BUILDERS.update(...)), but that only takes effect
# when that module is imported, so a cell's builder belongs in policy_builders.py.
EXTRA_BUILDERS: dict[tuple[str, str], Callable[[World, str], tuple[str, dict]]] = {}


def _builders() -> dict:
    return {**BUILDERS, **FEATURE_BUILDERS, **EXTRA_BUILDERS}


def _cells() -> list[tuple[str, str]]:
    from app import create_app  # noqa: F401  (importing registers every blueprint's rules)
    return sorted(policy.RULES)


def signed_in_client(world: World, role: str) -> Any:
    """A test client signed in as the role's user through the real form (anonymous: not signed in)."""
    client = world.app.test_client()
    if role != "anonymous":
        token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
        resp = client.post("/login", data={"email": world.users[role].email, "password": PASSWORD,
                                           "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client


def _call(world: World, role: str, endpoint: str, method: str) -> Any:
    url, data = _builders()[(endpoint, method)](world, role)
    client = signed_in_client(world, role)
    if is_api(url):  # the API ignores the session cookie: a Bearer token for signed-in roles, JSON bodies
        headers = {"Authorization": f"Bearer {api_token(world, role)}"} if role != "anonymous" else {}
        kw = {"json": data} if method in ("POST", "PUT", "PATCH") else {}
        resp = getattr(client, method.lower())(url, headers=headers, **kw)
    elif method == "GET":
        resp = client.get(url)
    else:
        token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
        resp = getattr(client, method.lower())(url, data={**data, "csrf_token": token})
    resp.get_data()
    resp.close()  # static files hold an open file until closed
    return resp


def test_every_route_of_the_app_is_in_the_policy(app):
    assert policy.missing(app) == []


def test_every_policy_cell_has_a_matrix_builder_and_a_route(app):
    routed = {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods or ()}
    assert sorted(set(policy.RULES) - routed) == []
    assert sorted(set(policy.RULES) - set(_builders())) == []


def test_an_unregistered_route_never_runs(app, client):
    ran = []

    @app.route("/unregistered-probe")
    def unregistered_probe():
        ran.append(1)
        return "ran"

    assert client.get("/unregistered-probe").status_code == 404
    assert ran == []


def _is_api_endpoint(app: Any, endpoint: str) -> bool:
    return any(is_api(r.rule) for r in app.url_map.iter_rules() if r.endpoint == endpoint)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint,method", _cells())
def test_role_route_matrix(world, role, endpoint, method):
    resp = _call(world, role, endpoint, method)
    allowed = role in policy.RULES[(endpoint, method)].roles
    location = resp.headers.get("Location", "")
    if _is_api_endpoint(world.app, endpoint):  # JSON answers, never the sign-in page
        if allowed:
            assert resp.status_code in (200, 201), (endpoint, method, role, resp.status_code, resp.get_data()[:300])
        elif role == "anonymous":
            assert resp.status_code == 401 and resp.get_json()["code"] == "unauthorized", (endpoint, resp.status_code)
        else:
            assert resp.status_code == 403 and resp.get_json()["code"] == "forbidden", (endpoint, method, role,
                                                                                          resp.status_code)
    elif allowed:
        assert resp.status_code in (200, 302, 422), (endpoint, method, role, resp.status_code)
        assert "/login" not in location or endpoint in ("auth.logout", "account.logout_everywhere", "auth.totp"), location
    elif role == "anonymous":
        assert resp.status_code == 302 and urlsplit(location).path == "/login", (endpoint, location)
    else:
        assert resp.status_code == 403, (endpoint, method, role, resp.status_code)


# --- object level: two users of the same role -------------------------------------------------------------

@pytest.mark.parametrize("kind,role", [("demand", "company"), ("achievement", "university")])
def test_a_non_owner_of_the_same_role_never_gets_the_others_listing(world, kind, role):
    owner, other = world.user(role), world.user(role)
    draft = world.listing(kind, owner, status="draft", contact_email=f"draft{next(_n)}@canary.test")
    submitted = world.listing(kind, owner, status="submitted", contact_email=f"sub{next(_n)}@canary.test")
    published = world.listing(kind, owner, contact_email=f"pub{next(_n)}@canary.test")
    world.users["_other"] = other
    try:
        client = signed_in_client(world, "_other")
    finally:
        del world.users["_other"]
    for item in (draft, submitted):
        assert client.get(f"/{kind}/{item.id}").status_code == 404
        assert client.get(f"/{kind}s/{item.id}/edit").status_code == 404
        assert client.get(f"/matches/{kind}/{item.id}").status_code == 404
    token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    assert client.post(f"/{kind}s/{draft.id}/submit", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/{kind}s/{published.id}/close", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/matches/{kind}/{published.id}").status_code == 404
    page = client.get(f"/{kind}/{published.id}").get_data(as_text=True)
    assert published.title in page and published.contact_email not in page
    assert published.contact_phone not in page
    mine = client.get(f"/{kind}s/mine").get_data(as_text=True)
    for item in (draft, submitted, published):
        assert item.contact_email not in mine
    job = world.job(owner)
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}.json").status_code == 404


# --- canary sweep: every page a role can reach never shows contacts it may not see ---------------------------

LINK_RE = re.compile(r'href="(/[^"]*)"')


def _text_of(resp: Any) -> str:
    """What a reader gets from a response: HTML, JSON and CSV as text, the cells of an .xlsx, a PDF's text."""
    if resp.mimetype in ("text/html", "application/json", "text/csv", "text/calendar"):
        return resp.get_data(as_text=True)
    if resp.status_code != 200:
        return ""
    if resp.mimetype.endswith("spreadsheetml.sheet"):
        from openpyxl import load_workbook
        book = load_workbook(io.BytesIO(resp.get_data()), read_only=True)
        return "\n".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                         for v in row if v is not None)
    if resp.mimetype == "application/pdf":
        from pypdf import PdfReader
        pages = PdfReader(io.BytesIO(resp.get_data())).pages
        return "\n".join((page.extract_text() or "").replace("\x00", "") for page in pages)
    return ""


def crawl(client: Any, start: list[str], limit: int = 400) -> dict[str, str]:
    """GET every same-site link reachable from start (HTML and JSON), at most limit pages; breadth first, so
    every start page is visited however many pages the first ones link to."""
    seen: dict[str, str] = {}
    todo = deque(start)
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen or url.startswith("/static/"):
            continue
        resp = client.get(url)
        body = _text_of(resp)
        resp.close()  # file downloads (the API docs' assets) hold an open file until closed
        seen[url] = body
        for link in LINK_RE.findall(body):
            link = link.replace("&amp;", "&")
            if link not in seen:
                todo.append(link)
    return seen


@pytest.fixture(scope="module")
def canaries(world):
    """Listings in every status for two owners of each kind, each with unique canary contact values."""
    from services import listings as svc

    rows = []
    owners = {"company": [world.users["company"], world.user("company")],
              "university": [world.users["university"], world.user("university")]}
    for role, kind in (("company", "demand"), ("university", "achievement")):
        for owner in owners[role]:
            for status in ("draft", "submitted", "published"):
                n = next(_n)
                item = world.listing(kind, owner, status=status, contact_name=f"金丝雀{n}",
                                     contact_phone=f"1770000{n:04d}", contact_email=f"canary{n}@leak.test")
                rows.append(item)
    pair = _accepted_between(world, rows, owners["company"][0], owners["university"][0])
    secret = _confidential_company(world)
    n = next(_n)
    rows.append(world.listing("demand", secret, confidential=True, contact_name=f"金丝雀{n}",
                              contact_phone=f"1770000{n:04d}", contact_email=f"canary{n}@leak.test"))
    _feature_objects(world, rows, owners["company"][0], owners["university"][1])
    _confidential_objects(world, rows, secret, owners["university"][0])
    return rows, svc, pair


def _confidential_company(world: World) -> Any:
    from services import accounts

    with world.factory() as s:
        user = accounts.create_user(s, email=f"secret{next(_n)}@example.com", password=PASSWORD,
                                    display_name=CONFIDENTIAL_CANARY, role="company")
        s.commit()
        return user


def _confidential_objects(world: World, rows: list, secret: Any, university: Any) -> None:
    """The confidential demand's company meets the first university's presenting achievement at the canary roadshow
    (invited for that demand), and a challenge is made from the demand: the company stays unnamed to both."""
    from sqlalchemy import select

    from models import Roadshow, RoadshowMeeting
    from services import challenge_race, roadshows

    demand = rows[-1]
    achievement = next(r for r in rows if r.owner_id == university.id and r.status == "published")
    with world.factory() as s:
        roadshow = s.scalar(select(Roadshow).where(Roadshow.title == "金丝雀路演"))
        kept = [(m.company_id, m.presenter_id, m.slot, m.table_no, m.score) for m in s.scalars(
            select(RoadshowMeeting).where(RoadshowMeeting.roadshow_id == roadshow.id))]
        presenter = roadshows.add_presenter(s, roadshow, achievement.id)  # clears the schedule: put back below
        s.add_all(RoadshowMeeting(roadshow_id=roadshow.id, company_id=c, presenter_id=p, slot=slot, table_no=t,
                                  score=score) for c, p, slot, t, score in kept)
        roadshows.invite(s, roadshow, secret.id, demand_id=demand.id)
        roadshows.register(s, roadshow.id, s.get(type(secret), secret.id))
        s.add(RoadshowMeeting(roadshow_id=roadshow.id, company_id=secret.id, presenter_id=presenter.id, slot=2,
                              table_no=1, score=60.0))
        challenge_race.create_from_demands(s, s.get(type(secret), world.users["broker"].id), [demand.id], {
            "title": "金丝雀保密揭榜", "problem": "储能电池热失控风险高，需要从材料到系统的安全防护技术方案。",
            "indicators": "", "reward": 100.0, "deadline": clock.today() + timedelta(days=20), "eligibility": "",
            "criteria": "技术先进性 | scientist | 100"})
        s.commit()


def _feature_objects(world: World, rows: list, company: Any, presenter_owner: Any) -> None:
    """Canary listings inside later features' pages that listers browse: the other university's published
    achievement presents at a roadshow the company attends (with a meeting) and is linked to its application
    to a challenge; neither gives the company or the first university the right to its contact."""
    from models import RoadshowMeeting
    from services import challenges, roadshows

    achievement = next(r for r in rows if r.owner_id == presenter_owner.id and r.status == "published")
    reviewer = world.user("advisor")  # 科技顾问团: its review comment is a canary for staff and the owner only
    with world.factory() as s:
        broker = s.get(type(company), world.users["broker"].id)
        roadshow = roadshows.create_roadshow(s, broker, {
            "title": "金丝雀路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=9),
            "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 2, "meeting_slots": 2,
            "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
        presenter = roadshows.add_presenter(s, roadshow, achievement.id)
        roadshows.invite(s, roadshow, company.id)
        roadshows.register(s, roadshow.id, s.get(type(company), company.id))
        s.add(RoadshowMeeting(roadshow_id=roadshow.id, company_id=company.id, presenter_id=presenter.id, slot=1,
                              table_no=1, score=50.0))
        challenge = challenges.create_challenge(s, broker, {
            "title": "金丝雀揭榜难题", "sponsor": "", "problem": "硫化物固态电解质与高镍正极界面阻抗大，需要界面修饰技术。",
            "indicators": "离子电导率≥5mS/cm", "reward": 100.0, "deadline": clock.today() + timedelta(days=20),
            "eligibility": "", "field_code": "new_energy.battery", "criteria": "技术先进性 | scientist | 100"})
        challenges.apply(s, challenge, s.get(type(company), presenter_owner.id),
                         {"team": "金丝雀团队", "approach": "采用原位聚合界面层协同改性，降低界面阻抗并提升循环寿命。",
                          "achievement_ids": [achievement.id]})
        from services import panels
        seated = [reviewer.id, world.users["advisor"].id]  # the world's advisor sits on it without reviewing
        for advisor_id in seated:
            panels.save_profile(s, s.get(type(company), advisor_id), {"perspective": "scientist", "expertise": "电池材料"})
        panel = panels.create_panel(s, broker, {"achievement_id": achievement.id, "advisor_ids": seated,
                                                "deadline": clock.today() + timedelta(days=5)})
        panels.submit_review(s, panel.id, s.get(type(company), reviewer.id), {
            "tech_score": 4, "market_score": 4, "value_score": 4, "comment": PANEL_CANARY})
        s.commit()
        # the roadshow's schedule downloads (managers only) carry the canary achievement: read as .xlsx and PDF
        world.downloads = [f"/roadshows/{roadshow.id}/schedule.pdf", f"/roadshows/{roadshow.id}/schedule.xlsx"]


def _accepted_between(world: World, rows: list, company: Any, university: Any) -> dict:
    """Company and university agree to one introduction: each may then see exactly that counterpart."""
    from services import introductions

    demand = next(r for r in rows if r.owner_id == company.id and r.status == "published")
    achievement = next(r for r in rows if r.owner_id == university.id and r.status == "published")
    with world.factory() as s:
        intro = introductions.request_introduction(s, s.get(type(company), company.id), demand.id,
                                                   achievement.id, "理由")
        introductions.accept(s, intro, s.get(type(university), university.id))
        s.commit()
    return {"company": achievement, "university": demand}


def _start_pages(kind_rows: list, role: str) -> list[str]:
    pages = ["/", "/dashboard", "/search/demand", "/search/achievement", "/demands/mine", "/achievements/mine",
             "/review/", "/admin/users", "/search/demand?status=submitted", "/search/achievement?status=draft"]
    pages += [f"/{item.kind}/{item.id}" for item in kind_rows]
    pages += [f"/matches/{item.kind}/{item.id}" for item in kind_rows]
    # start pages of later features (each role crawls what it may open; the rest answers 403 or the sign-in
    # page): first, so that their own links (reports, roadshows, challenges...) are crawled early too
    features = ["/account/tokens", "/imports/", "/export/mine.csv", "/export/mine.xlsx", "/export/search/demand.xlsx",
                "/export/search/demand.csv",
                "/export/search/achievement.csv", "/notifications/", "/notifications/settings", "/reports/",
                "/reports/new", "/opportunities/", "/statistics/", "/roadshows/", "/challenges/", "/contracts/",
                "/contracts/statistics/", "/admin/regions/", "/programme/", "/programme/figures",
                "/programme/challenges/", "/programme/calendar.ics"]
    features += ["/panels/", "/panels/mine", "/panels/advisors/"]  # 科技顾问团 (issue 21)
    return features + pages + ["/introductions/"]


@pytest.mark.parametrize("role", ROLES)
def test_canary_sweep_never_leaks_contacts(world, canaries, role):
    rows, svc, pair = canaries
    client = signed_in_client(world, role)
    pages = crawl(client, world.downloads + _start_pages(rows, role))
    text = "\n".join(pages.values())
    viewer = world.users.get(role)
    from web.db import sessionmaker_for
    with sessionmaker_for(world.app)() as s:
        seen_any = False
        for item in rows:
            fresh = s.get(type(item), item.id)
            user = s.get(type(viewer), viewer.id) if viewer else None
            if svc.can_see_contact(user, fresh):
                seen_any = seen_any or item.contact_email in text
                continue
            for value in (item.contact_email, item.contact_phone, item.contact_name):
                assert value not in text, (role, item.kind, item.status, value)
    assert len(pages) > 5
    # the sweep can fail: every signed-in role here is entitled to some contacts and does see them
    # an advisor is entitled to no listing contact at all, nor a provider (its own directory entry's contacts and
    # those of accepted contact requests: tests/web/test_directory_web.py sweeps them)
    assert seen_any or role in ("anonymous", "advisor", "provider")
    if role in pair:  # the counterpart of the accepted introduction sees exactly that contact
        assert pair[role].contact_email in text
    if role in ("company", "university"):  # downloads are read too: the owner's .xlsx carries its own contacts
        own = next(item for item in rows if item.owner_id == viewer.id)
        assert own.contact_email in pages["/export/mine.xlsx"]
    if role == "broker":  # ... and PDFs and spreadsheets of the roadshow schedule as text
        assert "金丝雀路演" in pages[world.downloads[0]] and "14:40-15:00" in pages[world.downloads[1]]
    if role not in ("broker", "admin"):  # panel scores: staff and the achievement's owner only (not these roles)
        assert PANEL_CANARY not in text, role
        # a confidential demand's company: on no page, download or API answer (the roadshow, its calendar file,
        # the challenge made from it, search, the university's matches)
        assert CONFIDENTIAL_CANARY not in text, role
    else:  # staff always see it
        assert CONFIDENTIAL_CANARY in pages[f"/demand/{rows[-1].id}"]
    if role == "university":  # the presenter meeting the confidential company reached the roadshow's pages
        assert "金丝雀路演" in text and "金丝雀保密揭榜" in text
    if role != "anonymous":  # the later features' pages holding canary listings were crawled (_feature_objects)
        assert "金丝雀揭榜难题" in text
        assert "金丝雀路演" in text or role == "university"
