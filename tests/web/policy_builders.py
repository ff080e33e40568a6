"""Matrix builders for the route-policy cells of later features (tokens, imports/exports, notifications,
the REST API, reports, feedback, the pipeline, statistics, roadshows and challenges).

Not a test module: tests/web/test_policy.py merges FEATURE_BUILDERS into its builders, so they are present
whichever tests are selected. A builder takes (world, role) and returns (url, data): form fields for the
pages, the JSON body for API writes. Objects belong to the acting role's user where ownership matters, so
that an allowed role reaches the view with a valid object and a refused one is stopped by the policy.
"""
from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any, Callable

from tests.conftest import achievement_data, demand_data
from services import clock

Builder = Callable[[Any, str], tuple[str, dict]]
STAFF = ("broker", "admin")
LISTER_KIND = {"company": "demand", "university": "achievement"}
_n = itertools.count(1)


# --- who acts -----------------------------------------------------------------------------------------------

def _me(w: Any, role: str) -> Any:
    """The acting user; anonymous acts on the company's objects."""
    return w.users.get(role) or w.users["company"]


def _staff(w: Any, role: str) -> Any:
    """The acting broker/admin; other roles act on the broker's objects (the policy refuses them first)."""
    return w.users[role] if role in STAFF else w.users["broker"]


def _lister(w: Any, role: str) -> Any:
    """The acting company/university; other roles act on the company's objects."""
    return w.users[role] if role in LISTER_KIND else w.users["company"]


def _owner_for(w: Any, role: str, kind: str) -> Any:
    owner_role = "company" if kind == "demand" else "university"
    return w.users[role] if role == owner_role else w.users[owner_role]


def _fresh(s: Any, user: Any) -> Any:
    return s.get(type(user), user.id)


def _pair(w: Any, role: str) -> tuple[Any, Any]:
    """A published demand and achievement (the role's own where it owns that kind)."""
    return (w.listing("demand", _owner_for(w, role, "demand")),
            w.listing("achievement", _owner_for(w, role, "achievement")))


# --- account tokens and the API -----------------------------------------------------------------------------

def api_token(w: Any, role: str) -> str:
    """One clear API token per role's user for the whole module (a user may hold only 20 active ones)."""
    from services import tokens

    cache = w.__dict__.setdefault("api_tokens", {})
    if role not in cache:
        with w.factory() as s:
            _row, clear = tokens.create_token(s, _fresh(s, w.users[role]), "policy matrix")
            s.commit()
        cache[role] = clear
    return cache[role]


def _revoke_token(w: Any, role: str) -> tuple[str, dict]:
    from services import tokens

    with w.factory() as s:
        row, _clear = tokens.create_token(s, _fresh(s, _me(w, role)), f"revoke me {next(_n)}")
        s.commit()
        return f"/account/tokens/{row.id}/revoke", {}


def _api_new(kind: str) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        data = demand_data() if kind == "demand" else achievement_data()
        if kind == "demand":
            data["deadline"] = data["deadline"].isoformat()
        return f"/api/v1/{kind}s/", data
    return build


def _api_item(kind: str, status: str = "published", suffix: str = "", body: dict | None = None) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        item = w.listing(kind, _owner_for(w, role, kind), status=status)
        return f"/api/v1/{kind}s/{item.id}{suffix}", dict(body or {})
    return build


def _api_matches_of(kind: str) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        return f"/api/v1/{kind}s/{w.listing(kind, _owner_for(w, role, kind)).id}/matches?k=3", {}
    return build


# --- imports and exports ------------------------------------------------------------------------------------

def _batch(w: Any, role: str) -> Any:
    """A checked import batch of one row, uploaded by the acting company/university."""
    from services import imports

    owner = _lister(w, role)
    kind = LISTER_KIND[owner.role]
    data = demand_data() if kind == "demand" else achievement_data()
    values = {"field": data["field_code"], "modes": ",".join(data["modes"]),
              "deadline": data.get("deadline", "") and data["deadline"].isoformat(),
              "negotiable": "否", "stage": "中试"}
    cols = imports.columns(kind)
    header = [c.key for c in cols]
    row = [values.get(c.key, data.get(c.key, "")) for c in cols]
    with w.factory() as s:
        sheet = imports.parse_rows(kind, [header, ["" if v is None else str(v) for v in row]])
        batch = imports.start_batch(s, kind, _fresh(s, owner), "policy.csv", sheet)
        imports.validate_batch(s, batch)
        s.commit()
        return batch


# --- notifications ------------------------------------------------------------------------------------------

def _notification(w: Any, role: str) -> tuple[str, dict]:
    from services import notifications

    user = _me(w, role)
    with w.factory() as s:
        notifications.save_preference(s, user.id, "listing_approved", in_app=True, email=False)
        note = notifications.notify(s, user.id, "listing_approved",
                                    {"listing_kind": "demand", "listing_id": 1, "title": "通知", "reason": ""})
        s.commit()
        return f"/notifications/{note.id}/read", {}


def _settings_post(w: Any, role: str) -> tuple[str, dict]:
    """Save the settings with every channel on (what the module's other builders rely on)."""
    from services import notifications

    data = {}
    for topic in notifications.TOPICS:
        data[f"{topic}-in_app"] = "y"
        data[f"{topic}-email"] = "y"
    return "/notifications/settings", data


def _unsubscribe(w: Any, role: str) -> tuple[str, dict]:
    from web.notification_texts import unsubscribe_token

    with w.app.app_context():
        return f"/notifications/unsubscribe/{unsubscribe_token(_me(w, role).id, 'digest')}", {}


# --- reports, feedback, pipeline ----------------------------------------------------------------------------

def _report(w: Any, role: str) -> Any:
    """A single-listing match report run by the acting broker/admin, with rows."""
    from services import reports

    demand = w.listing("demand", w.users["company"])
    with w.factory() as s:
        report = reports.run_single(s, w.app.extensions["matching"], _fresh(s, _staff(w, role)),
                                    reports.ReportParams(scope="demand", listing_id=demand.id, k=3))
        s.commit()
        assert report.rows, "the report needs a row to comment on"
        return report


def _report_comment(w: Any, role: str) -> tuple[str, dict]:
    report = _report(w, role)
    return f"/reports/{report.id}/rows/{report.rows[0].id}/comment", {"comment": "值得推荐"}


def _report_pdf_file(w: Any, role: str) -> tuple[str, dict]:
    from services import jobs, reports

    report = _report(w, role)
    folder = os.path.join(w.app.config["INSTANCE_DIR"], "exports")
    with w.factory() as s:
        job = reports.start_pdf(s, s.get(type(report), report.id), _fresh(s, _staff(w, role)), folder,
                                w.app.config.get("PDF_FONT") or None)
        s.commit()
        job_id = job.id
    jobs.run_job(w.app.extensions["job_context"], job_id)
    return f"/reports/{report.id}/pdf/{job_id}", {}


def _report_new_post(w: Any, role: str) -> tuple[str, dict]:
    demand = w.listing("demand", w.users["company"])
    return "/reports/new", {"scope": "demand", "listing_id": demand.id, "k": 3}


def _opportunity(w: Any, role: str, stage: str = "introduced") -> Any:
    """An opportunity of a fresh published pair on the acting broker's/admin's board."""
    from services import pipeline

    demand, achievement = _pair(w, role)
    broker = _staff(w, role)
    with w.factory() as s:
        actor = _fresh(s, broker)
        opp = pipeline.get_or_open(s, actor, demand.id, achievement.id)
        while opp.stage != stage:
            pipeline.advance(s, opp, actor)
        s.commit()
        return opp


def _feedback(w: Any, role: str) -> tuple[str, dict]:
    """A fresh pair whose owners (the role's user on its side) accepted an introduction: staff may judge any
    pair, the parties of an accepted introduction theirs."""
    from services import introductions

    demand, achievement = _pair(w, role)
    with w.factory() as s:
        intro = introductions.request_introduction(s, _fresh(s, demand.owner), demand.id, achievement.id, "理由")
        introductions.accept(s, intro, _fresh(s, achievement.owner))
        s.commit()
    return f"/feedback/{demand.id}/{achievement.id}", {"outcome": "relevant", "reason": "price_gap",
                                                       "next": "/reports/"}


# --- roadshows ----------------------------------------------------------------------------------------------

def _roadshow(w: Any, role: str, *, register: bool = False, meeting: bool = False) -> dict[str, Any]:
    """A roadshow managed by the acting broker/admin, presenting the university's achievement and inviting
    the company (registered and with a scheduled meeting when asked)."""
    from models import RoadshowMeeting
    from services import roadshows

    achievement = w.listing("achievement", w.users["university"])
    data = {"title": f"路演 {next(_n)}", "theme": "动力电池材料", "field_code": "new_energy",
            "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 3, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10}
    with w.factory() as s:
        roadshow = roadshows.create_roadshow(s, _fresh(s, _staff(w, role)), data)
        presenter = roadshows.add_presenter(s, roadshow, achievement.id)
        company = _fresh(s, w.users["company"])
        roadshows.invite(s, roadshow, company.id)
        s.commit()
        out = {"id": roadshow.id, "presenter_id": presenter.id, "company_id": company.id}
        if register or meeting:
            roadshows.register(s, roadshow.id, company)
            s.commit()
        if meeting:
            # the meeting a built schedule holds, written directly: set_wishes scores every open demand of
            # the company through the engine, which is slow once the module's world has many
            row = RoadshowMeeting(roadshow_id=roadshow.id, company_id=company.id, presenter_id=presenter.id,
                                  slot=1, table_no=1, score=50.0)
            s.add(row)
            s.commit()
            assert [m.id for m in roadshows.meetings(s, roadshow, company)] == [row.id]
            out["meeting_id"] = row.id
        return out


def _rs(path: str, data: Callable[[dict], dict] | None = None, **kw: Any) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        r = _roadshow(w, role, **kw)
        return f"/roadshows/{r['id']}{path.format(**r)}", (data(r) if data else {})
    return build


def _add_presenter(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role)
    return f"/roadshows/{r['id']}/presenters", {"achievement_id": w.listing("achievement", w.users["university"]).id}


def _invite(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role)
    return f"/roadshows/{r['id']}/invite", {"company_id": w.user("company").id}


def _intent(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role, meeting=True)
    return f"/roadshows/meetings/{r['meeting_id']}/intent", {"intent": "interested"}


# --- challenges ---------------------------------------------------------------------------------------------

CRITERIA = "技术先进性 | scientist | 40\n产业化前景 | entrepreneur | 35\n投资价值 | investor | 25"
APPROACH = "采用原位聚合界面层与卤素掺杂硫化物电解质协同改性，降低界面阻抗。"


def _challenge(w: Any, role: str, *, application: bool = False, panelist: bool = False) -> dict[str, Any]:
    """A challenge published by the acting broker/admin; with the university's application and the actor on
    the panel when asked."""
    from services import challenges

    data = {"title": f"揭榜挂帅难题 {next(_n)}", "sponsor": "陕西省科技厅",
            "problem": "硫化物固态电解质与高镍正极界面阻抗大、循环衰减快，需要开发界面修饰与电解质改性技术。",
            "indicators": "室温离子电导率≥5mS/cm", "reward": 500.0, "deadline": clock.today() + timedelta(days=30),
            "eligibility": "高校团队", "field_code": "new_energy.battery", "criteria": CRITERIA}
    with w.factory() as s:
        actor = _fresh(s, _staff(w, role))
        challenge = challenges.create_challenge(s, actor, data)
        out: dict[str, Any] = {"id": challenge.id}
        if application:
            app = challenges.apply(s, challenge, _fresh(s, w.users["university"]),
                                   {"team": "王教授团队，8人", "approach": APPROACH, "achievement_ids": []})
            out["application_id"] = app.id
        if panelist:
            challenges.assign_panelist(s, challenge, actor.id)
        s.commit()
        return out


def _ch(path: str, data: Callable[[dict], dict] | None = None, **kw: Any) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        c = _challenge(w, role, **kw)
        return f"/challenges/{c['id']}{path.format(**c)}", (data(c) if data else {})
    return build


def _panel(w: Any, role: str) -> tuple[str, dict]:
    return f"/challenges/{_challenge(w, role)['id']}/panel", {"user_id": _staff(w, role).id}


def _apply(w: Any, role: str) -> tuple[str, dict]:
    c = _challenge(w, role)
    return f"/challenges/{c['id']}/apply", {"team": "王教授团队，8人", "approach": APPROACH}


# --- the table ----------------------------------------------------------------------------------------------

def _draft_body(kind: str) -> dict:
    return {"title": "更新后的标题：高镍正极循环寿命"} if kind == "demand" else {"title": "更新后的标题：原子层沉积包覆"}


def _failed_job(w: Any, role: str) -> tuple[str, dict]:
    """A failed job (an admin may send it back to the queue)."""
    from services import jobs

    with w.factory() as s:
        job = jobs.submit_job(s, "roadshow.schedule", _staff(w, role).id, {"roadshow_id": 2_000_000_000})
        job.status, job.error = "failed", "not_found"
        s.commit()
        return f"/jobs/{job.id}/retry", {}


FEATURE_BUILDERS: dict[tuple[str, str], Builder] = {
    ("auth.forgot_password", "GET"): lambda w, r: ("/password/forgot", {}),
    ("auth.forgot_password", "POST"): lambda w, r: ("/password/forgot", {"email": f"nobody.{r}@example.com"}),
    ("auth.reset_password", "GET"): lambda w, r: ("/password/reset/not-a-real-token", {}),
    ("auth.reset_password", "POST"): lambda w, r: ("/password/reset/not-a-real-token", {"password": "", "confirm": ""}),
    # the admins' job queue page
    ("jobs.queue", "GET"): lambda w, r: ("/jobs/queue?status=failed", {}),
    ("jobs.retry", "POST"): _failed_job,
    # personal API tokens
    ("account.tokens", "GET"): lambda w, r: ("/account/tokens", {}),
    ("account.tokens", "POST"): lambda w, r: ("/account/tokens", {"name": ""}),
    ("account.revoke_token", "POST"): _revoke_token,
    # the REST API (Bearer token; JSON bodies)
    ("api-docs.openapi_json", "GET"): lambda w, r: ("/api/v1/openapi.json", {}),
    ("api-docs.openapi_swagger_ui", "GET"): lambda w, r: ("/api/v1/docs", {}),
    ("api_assets.asset", "GET"): lambda w, r: ("/api/v1/docs/assets/swagger-ui.css", {}),
    ("api_jobs.job", "GET"): lambda w, r: (f"/api/v1/jobs/{w.job(_me(w, r)).id}", {}),
    ("api_demands.Collection", "GET"): lambda w, r: ("/api/v1/demands/?q=电池", {}),
    ("api_demands.Collection", "POST"): _api_new("demand"),
    ("api_demands.Item", "GET"): _api_item("demand"),
    ("api_demands.Item", "PATCH"): _api_item("demand", "draft", body=_draft_body("demand")),
    ("api_demands.submit", "POST"): _api_item("demand", "draft", "/submit"),
    ("api_demands.matches", "GET"): _api_matches_of("demand"),
    ("api_achievements.Collection", "GET"): lambda w, r: ("/api/v1/achievements/?q=电池", {}),
    ("api_achievements.Collection", "POST"): _api_new("achievement"),
    ("api_achievements.Item", "GET"): _api_item("achievement"),
    ("api_achievements.Item", "PATCH"): _api_item("achievement", "draft", body=_draft_body("achievement")),
    ("api_achievements.submit", "POST"): _api_item("achievement", "draft", "/submit"),
    ("api_achievements.matches", "GET"): _api_matches_of("achievement"),
    # imports and exports
    ("imports.template", "GET"): lambda w, r: ("/imports/template.xlsx", {}),
    ("imports.upload", "GET"): lambda w, r: ("/imports/", {}),
    ("imports.upload", "POST"): lambda w, r: ("/imports/", {}),
    ("imports.preview", "GET"): lambda w, r: (f"/imports/{_batch(w, r).id}", {}),
    ("imports.commit", "POST"): lambda w, r: (f"/imports/{_batch(w, r).id}/import", {}),
    ("imports.rejects", "GET"): lambda w, r: (f"/imports/{_batch(w, r).id}/rejects.csv", {}),
    ("exports.search", "GET"): lambda w, r: ("/export/search/demand.csv?q=电池", {}),
    ("exports.mine", "GET"): lambda w, r: ("/export/mine.xlsx", {}),
    # notifications
    ("notifications.index", "GET"): lambda w, r: ("/notifications/", {}),
    ("notifications.read", "POST"): _notification,
    ("notifications.read_all", "POST"): lambda w, r: ("/notifications/read-all", {}),
    ("notifications.settings", "GET"): lambda w, r: ("/notifications/settings", {}),
    ("notifications.settings", "POST"): _settings_post,
    ("notifications.unsubscribe", "GET"): _unsubscribe,
    ("notifications.unsubscribe", "POST"): _unsubscribe,
    # match reports, feedback, the pipeline, statistics
    ("reports.index", "GET"): lambda w, r: ("/reports/", {}),
    ("reports.new", "GET"): lambda w, r: ("/reports/new", {}),
    ("reports.new", "POST"): _report_new_post,
    ("reports.show", "GET"): lambda w, r: (f"/reports/{_report(w, r).id}", {}),
    ("reports.comment", "POST"): _report_comment,
    ("reports.export_xlsx", "GET"): lambda w, r: (f"/reports/{_report(w, r).id}.xlsx", {}),
    ("reports.export_csv", "GET"): lambda w, r: (f"/reports/{_report(w, r).id}.csv", {}),
    ("reports.export_pdf", "GET"): lambda w, r: (f"/reports/{_report(w, r).id}.pdf", {}),
    ("reports.pdf_file", "GET"): _report_pdf_file,
    ("feedback.record", "POST"): _feedback,
    ("pipeline.board", "GET"): lambda w, r: ("/opportunities/", {}),
    ("pipeline.show", "GET"): lambda w, r: (f"/opportunities/{_opportunity(w, r).id}", {}),
    ("pipeline.advance", "POST"): lambda w, r: (f"/opportunities/{_opportunity(w, r).id}/advance", {"note": "见面"}),
    ("pipeline.sign", "POST"): lambda w, r: (f"/opportunities/{_opportunity(w, r, 'negotiating').id}/sign",
                                             {"contract_type": "transfer", "amount": "120.5",
                                              "signed_on": clock.today().isoformat()}),
    ("pipeline.close", "POST"): lambda w, r: (f"/opportunities/{_opportunity(w, r).id}/close", {"reason": "预算不足"}),
    ("statistics.dashboard", "GET"): lambda w, r: ("/statistics/", {}),
    ("statistics.csv", "GET"): lambda w, r: ("/statistics/by_field.csv", {}),
    # roadshows
    ("roadshows.index", "GET"): lambda w, r: ("/roadshows/", {}),
    ("roadshows.new", "GET"): lambda w, r: ("/roadshows/new", {}),
    ("roadshows.new", "POST"): lambda w, r: ("/roadshows/new", {}),
    ("roadshows.detail", "GET"): _rs(""),
    ("roadshows.propose", "POST"): _rs("/propose"),
    ("roadshows.add_presenter", "POST"): _add_presenter,
    ("roadshows.remove_presenter", "POST"): _rs("/presenters/{presenter_id}/remove"),
    ("roadshows.companies", "GET"): _rs("/companies"),
    ("roadshows.invite", "POST"): _invite,
    ("roadshows.attendance", "POST"): _rs("/attendance", register=True),
    ("roadshows.conflict", "POST"): _rs("/conflicts", lambda r: {"company_id": r["company_id"],
                                                                 "presenter_id": r["presenter_id"]}),
    ("roadshows.schedule", "POST"): _rs("/schedule", register=True),
    ("roadshows.export", "GET"): _rs("/schedule.xlsx", meeting=True),
    ("roadshows.register", "POST"): _rs("/register"),
    ("roadshows.decline", "POST"): _rs("/decline"),
    ("roadshows.wishes", "POST"): _rs("/wishes", lambda r: {"presenter_ids": [r["presenter_id"]]}, register=True),
    ("roadshows.intent", "POST"): _intent,
    # challenges (揭榜挂帅)
    ("challenges.index", "GET"): lambda w, r: ("/challenges/", {}),
    ("challenges.new", "GET"): lambda w, r: ("/challenges/new", {}),
    ("challenges.new", "POST"): lambda w, r: ("/challenges/new", {}),
    ("challenges.detail", "GET"): _ch(""),
    ("challenges.edit", "GET"): _ch("/edit"),
    ("challenges.edit", "POST"): _ch("/edit"),
    ("challenges.apply", "POST"): _apply,
    ("challenges.panel", "POST"): _panel,
    ("challenges.score", "POST"): _ch("/applications/{application_id}/score",
                                      lambda c: {"score-0": "8", "score-1": "7", "score-2": "6"},
                                      application=True, panelist=True),
    ("challenges.shortlist", "POST"): _ch("/shortlist", lambda c: {"application_ids": [c["application_id"]]},
                                          application=True),
    ("challenges.announce", "POST"): _ch("/announce", lambda c: {"application_id": c["application_id"]},
                                         application=True),
}


def is_api(url: str) -> bool:
    """Calls under /api/ authenticate by Bearer token and send JSON."""
    return url.startswith("/api/")


# the API cells of the workbench (reports, feedback, roadshows) live in their own module
from tests.web.policy_builders_api import API_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(API_BUILDERS)

# the contract register, regions and contract statistics (issue 20) live in their own module
from tests.web.policy_builders_contracts import CONTRACT_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(CONTRACT_BUILDERS)

# the roadshow programme and 揭榜挂帅 end to end (issue 22) live in their own module
from tests.web.policy_builders_programme import PROGRAMME_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(PROGRAMME_BUILDERS)

# the industry-chain map (issue 20 step 4) lives in its own module
from tests.web.policy_builders_chains import CHAIN_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(CHAIN_BUILDERS)

# organisation accounts and confidential demands (issue 21 part 3) live in their own module
from tests.web.policy_builders_organisations import ORGANISATION_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(ORGANISATION_BUILDERS)

# the advisory panel (科技顾问团, issue 21) lives in its own module
from tests.web.policy_builders_panels import PANEL_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(PANEL_BUILDERS)

# the service directory (科技大市场, issue 21 part 2) lives in its own module
from tests.web.policy_builders_directory import DIRECTORY_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(DIRECTORY_BUILDERS)

# broker operations (issue 21 part 4) live in their own module
from tests.web.policy_builders_brokerage import BROKERAGE_BUILDERS  # noqa: E402

FEATURE_BUILDERS.update(BROKERAGE_BUILDERS)
