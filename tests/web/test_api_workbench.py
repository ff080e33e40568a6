"""REST API for the broker's workbench: match reports (a batch as a job), feedback, roadshows (read-only).

Driven as each role with real tokens: allowed, refused (401 anonymous / 403 wrong role / 404 others'
objects), bad input (422 with field errors in the caller's language), and never a contact detail.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.test_api import CANARIES
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

SECRETS = CANARIES + ("张工", "李老师")


@pytest.fixture
def api(app):
    return app.test_client()


@pytest.fixture
def auth(session):
    """Authorization headers with a fresh API token of a user (None: anonymous)."""
    from services import tokens

    def make(user, lang=None):
        headers = {"Accept-Language": lang} if lang else {}
        if user is None:
            return headers
        _row, clear = tokens.create_token(session, user, "workbench test")
        session.commit()
        return {**headers, "Authorization": f"Bearer {clear}"}

    return make


@pytest.fixture
def people(make_user):
    return {role: make_user(role) for role in ("company", "university", "broker", "admin")}


@pytest.fixture
def pair(make_listing, people):
    """A published demand of the company and a published achievement of the university."""
    broker = people["broker"]
    return (make_listing("demand", people["company"], "published", reviewer=broker),
            make_listing("achievement", people["university"], "published", reviewer=broker))


def _clean(resp):
    body = resp.get_data(as_text=True)
    assert not [c for c in SECRETS if c in body], body[:500]
    return resp.get_json()


def _error(resp, status, code=None):
    body = resp.get_json()
    assert resp.status_code == status, (resp.status_code, body)
    assert set(body) >= {"code", "message"} and body["message"]
    if code:
        assert body["code"] == code, body
    return body


# -- match reports -------------------------------------------------------------------------------------------

def test_single_report_is_run_listed_and_read_by_its_broker_and_admins(api, auth, people, pair, make_user):
    demand, achievement = pair
    broker = auth(people["broker"])
    resp = api.post("/api/v1/reports/", json={"scope": "demand", "listing_id": demand.id, "k": 5}, headers=broker)
    assert resp.status_code == 201, resp.get_json()
    report = _clean(resp)
    assert report["scope"] == "demand" and report["status"] == "ready" and report["row_count"] == len(report["rows"])
    row = report["rows"][0]
    assert row["position"] == 1 and row["demand_id"] == demand.id and row["achievement_id"] == achievement.id
    assert row["demand_title"] == demand.title and row["achievement_title"] == achievement.title
    assert 0 <= row["score"] <= 100 and "semantic" in row["breakdown"] and row["feedback"] is None
    assert set(row) >= {"shared_terms", "best_sentence", "comment"}

    listed = _clean(api.get("/api/v1/reports/?per_page=1", headers=broker))
    assert listed["total"] == 1 and [r["id"] for r in listed["items"]] == [report["id"]]
    assert "rows" not in listed["items"][0]
    assert _clean(api.get(f"/api/v1/reports/{report['id']}", headers=broker))["rows"] == report["rows"]
    admin = auth(people["admin"])
    assert api.get(f"/api/v1/reports/{report['id']}", headers=admin).status_code == 200
    assert api.get("/api/v1/reports/", headers=admin).get_json()["total"] == 1

    other = auth(make_user("broker"))
    _error(api.get(f"/api/v1/reports/{report['id']}", headers=other), 404, "not_found")
    assert api.get("/api/v1/reports/", headers=other).get_json()["total"] == 0
    for role in ("company", "university"):
        headers = auth(people[role])
        _error(api.get(f"/api/v1/reports/{report['id']}", headers=headers), 403, "forbidden")
        _error(api.get("/api/v1/reports/", headers=headers), 403, "forbidden")
        _error(api.post("/api/v1/reports/", json={"scope": "batch"}, headers=headers), 403, "forbidden")
    _error(api.get(f"/api/v1/reports/{report['id']}"), 401, "unauthorized")
    _error(api.post("/api/v1/reports/", json={"scope": "batch"}), 401, "unauthorized")
    _error(api.get("/api/v1/reports/99999999999", headers=broker), 404, "not_found")


def test_report_input_errors_name_their_fields(api, auth, people, pair, make_listing, zh):
    demand, _achievement = pair
    en = auth(people["broker"], "en")
    cases = [({"scope": "demand"}, {"listing_id"}),
             ({"scope": "everything", "k": 0}, {"scope", "k"}),
             ({"scope": "demand", "listing_id": "12", "k": True}, {"listing_id", "k"}),
             ({"scope": "demand", "listing_id": 0, "k": 51}, {"listing_id", "k"}),
             ({"scope": "batch", "since": "2026-02-30", "colour": "red"}, {"since", "colour"}),
             ({"scope": "batch", "field_code": "no.such.field", "region": "atlantis"}, {"field_code", "region"}),
             ({"scope": "batch", "since": "2026-03-01", "until": "2026-02-01"}, {"until"})]
    for body, fields in cases:
        err = _error(api.post("/api/v1/reports/", json=body, headers=en), 422, "validation_error")
        assert set(err["errors"]) == fields, (body, err)
    err = api.post("/api/v1/reports/", json={"scope": "demand"}, headers=en).get_json()
    assert err["errors"]["listing_id"] == ["Enter the number of the listing to report on."]
    assert err["message"] == "Some values are missing or not valid; see errors."
    err = api.post("/api/v1/reports/", json={"scope": "demand"}, headers=auth(people["broker"], "zh-CN")).get_json()
    assert err["message"] == zh("Some values are missing or not valid; see errors.")
    assert err["errors"]["listing_id"] == [zh("Enter the number of the listing to report on.")]
    draft = make_listing("demand", people["company"], "draft")
    err = _error(api.post("/api/v1/reports/", json={"scope": "demand", "listing_id": draft.id}, headers=en), 422,
                 "report.listing_not_open")
    assert list(err["errors"]) == ["listing_id"]
    for body in ("{", "[]", "null"):
        resp = api.post("/api/v1/reports/", data=body, headers={**en, "Content-Type": "application/json"})
        assert resp.status_code in (400, 422) and set(resp.get_json()) >= {"code", "message"}


def test_batch_report_follows_the_job_pattern(api, auth, people, pair, make_user):
    demand, achievement = pair
    broker = auth(people["broker"])
    resp = api.post("/api/v1/reports/", json={"scope": "batch", "k": 3, "region": demand.region,
                                              "since": (clock.today() - timedelta(days=1)).isoformat()},
                    headers=broker)
    assert resp.status_code == 202, resp.get_json()
    started = _clean(resp)
    assert set(started) == {"report_id", "job_id", "job_url", "report_url", "queued", "warning"}
    assert started["job_url"] == f"/api/v1/jobs/{started['job_id']}" and resp.headers["Location"].endswith(
        started["job_url"])
    job = _clean(api.get(started["job_url"], headers=broker))  # JOBS_MODE is inline: done already
    assert job["status"] == "done" and job["percent"] == 100 and job["result"]["report_id"] == started["report_id"]
    report = _clean(api.get(started["report_url"], headers=broker))
    assert report["scope"] == "batch" and report["status"] == "ready" and report["job_id"] == started["job_id"]
    assert [(r["demand_id"], r["achievement_id"]) for r in report["rows"]] == [(demand.id, achievement.id)]
    other = auth(make_user("broker"))
    _error(api.get(started["job_url"], headers=other), 404, "not_found")
    _error(api.get(started["report_url"], headers=other), 404, "not_found")
    err = _error(api.post("/api/v1/reports/", json={"scope": "batch", "k": 0}, headers=broker), 422)
    assert "k" in err["errors"]


def test_a_failed_batch_is_failed_in_the_report_and_its_job(api, auth, people, session):
    from models import Job, MatchReport
    broker = people["broker"]
    report = MatchReport(owner_id=broker.id, scope="batch", title="批量撮合", params={"k": 5}, status="running")
    job = Job(kind="report.batch", owner_id=broker.id, params={}, status="failed", error="job.internal")
    session.add_all([report, job])
    session.flush()
    report.job_id = job.id
    session.commit()
    headers = auth(broker, "en")
    got = _clean(api.get(f"/api/v1/reports/{report.id}", headers=headers))
    assert got["status"] == "failed" and got["rows"] == [] and got["job_id"] == job.id
    polled = api.get(f"/api/v1/jobs/{job.id}", headers=headers).get_json()
    assert polled["status"] == "failed" and polled["error"]["code"] == "job.internal" and polled["result"] is None


def test_batch_too_large_is_refused_with_the_services_message(api, auth, people, pair, monkeypatch):
    from services import reports
    monkeypatch.setattr(reports, "MAX_PAIRS", 2)
    err = _error(api.post("/api/v1/reports/", json={"scope": "batch", "k": 3}, headers=auth(people["broker"], "en")),
                 422, "report.too_large")
    assert "k" in err["errors"]


# -- feedback ------------------------------------------------------------------------------------------------

def _introduce(session, demand, achievement):
    from services import introductions
    intro = introductions.request_introduction(session, demand.owner, demand.id, achievement.id, "理由")
    introductions.accept(session, intro, achievement.owner)
    session.commit()


def test_staff_record_feedback_and_read_a_pairs_history(api, auth, people, pair):
    demand, achievement = pair
    broker = auth(people["broker"])
    body = {"demand_id": demand.id, "achievement_id": achievement.id, "outcome": "relevant", "reason": "price_gap",
            "note": "预算差距较大"}
    resp = api.post("/api/v1/feedback/", json=body, headers=broker)
    assert resp.status_code == 201, resp.get_json()
    fb = _clean(resp)
    assert fb["outcome"] == "relevant" and fb["reason"] == "price_gap" and fb["mine"] and fb["by_role"] == "broker"
    resp = api.post("/api/v1/feedback/", json={**body, "outcome": "introduce", "reason": None},
                    headers=auth(people["admin"]))
    assert resp.status_code == 201
    url = f"/api/v1/feedback/?demand_id={demand.id}&achievement_id={achievement.id}"
    history = _clean(api.get(url, headers=broker))
    assert history["total"] == 2 and [f["outcome"] for f in history["items"]] == ["relevant", "introduce"]
    assert [f["mine"] for f in history["items"]] == [True, False]
    assert _clean(api.get(url + "&per_page=1&page=2", headers=broker))["items"][0]["outcome"] == "introduce"
    # the report shows the latest feedback of its pairs
    report = api.post("/api/v1/reports/", json={"scope": "demand", "listing_id": demand.id}, headers=broker).get_json()
    row = next(r for r in report["rows"] if r["achievement_id"] == achievement.id)
    assert row["feedback"]["outcome"] == "introduce"
    _error(api.get(f"/api/v1/feedback/?demand_id={demand.id}&achievement_id=2147483647", headers=broker), 404)
    _error(api.get(url), 401, "unauthorized")
    _error(api.post("/api/v1/feedback/", json=body), 401, "unauthorized")


def test_parties_give_feedback_only_after_an_accepted_introduction(api, auth, people, pair, session, make_user):
    demand, achievement = pair
    company, university = auth(people["company"]), auth(people["university"])
    body = {"demand_id": demand.id, "achievement_id": achievement.id, "outcome": "not_relevant"}
    url = f"/api/v1/feedback/?demand_id={demand.id}&achievement_id={achievement.id}"
    _error(api.post("/api/v1/feedback/", json=body, headers=company), 404, "not_found")
    _error(api.get(url, headers=company), 404, "not_found")
    api.post("/api/v1/feedback/", json={**body, "outcome": "relevant", "reason": "region"},
             headers=auth(people["broker"]))
    _introduce(session, demand, achievement)
    assert api.post("/api/v1/feedback/", json=body, headers=company).status_code == 201
    resp = api.post("/api/v1/feedback/", json={**body, "outcome": "relevant", "reason": "ip_issue"}, headers=university)
    assert resp.status_code == 201 and resp.get_json()["mine"]
    err = _error(api.post("/api/v1/feedback/", json={**body, "outcome": "introduce"}, headers=company), 422,
                 "feedback.party_introduce")
    assert list(err["errors"]) == ["outcome"]
    mine = _clean(api.get(url, headers=company))  # only their own, never the broker's judgement
    assert [(f["outcome"], f["mine"]) for f in mine["items"]] == [("not_relevant", True)]
    assert api.get(url, headers=auth(people["broker"])).get_json()["total"] == 3
    stranger = auth(make_user("company"))
    _error(api.post("/api/v1/feedback/", json=body, headers=stranger), 404, "not_found")
    _error(api.get(url, headers=stranger), 404, "not_found")


def test_feedback_input_errors(api, auth, people, pair, make_listing, zh):
    demand, achievement = pair
    en = auth(people["broker"], "en")
    base = {"demand_id": demand.id, "achievement_id": achievement.id}
    cases = [({}, {"demand_id", "achievement_id", "outcome"}),
             ({**base, "outcome": "maybe", "reason": "mood"}, {"outcome", "reason"}),
             ({**base, "demand_id": "1", "outcome": "relevant", "note": "x" * 501}, {"demand_id", "note"}),
             ({**base, "achievement_id": 2147483648, "outcome": "not_relevant"}, {"achievement_id"})]
    for body, fields in cases:
        err = _error(api.post("/api/v1/feedback/", json=body, headers=en), 422, "validation_error")
        assert set(err["errors"]) == fields, (body, err)
    err = _error(api.post("/api/v1/feedback/", json={**base, "outcome": "relevant"}, headers=en), 422,
                 "feedback.reason_required")
    assert err["errors"] == {"reason": ["Say why the pair is relevant but not ready: choose a reason."]}
    err = _error(api.post("/api/v1/feedback/", json={**base, "outcome": "relevant", "reason": "other"},
                          headers=auth(people["broker"], "zh-CN")), 422, "feedback.note_required")
    assert err["errors"] == {"note": [zh("Describe the other reason in a few words.")]}
    err = _error(api.get("/api/v1/feedback/?demand_id=abc", headers=en), 422, "validation_error")
    assert set(err["errors"]) == {"demand_id", "achievement_id"}
    draft = make_listing("demand", people["company"], "draft")
    _error(api.post("/api/v1/feedback/", json={**base, "demand_id": draft.id, "outcome": "not_relevant"},
                    headers=en), 409, "feedback.listing_not_open")
    _error(api.post("/api/v1/feedback/", json={**base, "demand_id": 2147483647, "outcome": "not_relevant"},
                    headers=en), 404, "not_found")


def test_feedback_keeps_the_engines_evidence_from_the_brokers_report_row(api, auth, people, pair, session):
    from models import PairFeedback
    demand, achievement = pair
    broker = auth(people["broker"])
    report = api.post("/api/v1/reports/", json={"scope": "demand", "listing_id": demand.id}, headers=broker).get_json()
    row = report["rows"][0]
    resp = api.post("/api/v1/feedback/", json={"demand_id": row["demand_id"], "achievement_id": row["achievement_id"],
                                               "outcome": "not_relevant", "report_row_id": row["id"]}, headers=broker)
    assert resp.status_code == 201
    saved = session.get(PairFeedback, resp.get_json()["id"])
    assert saved.score == pytest.approx(row["score"]) and saved.features == row["breakdown"]


# -- roadshows -----------------------------------------------------------------------------------------------

@pytest.fixture
def roadshow(app, session, people, pair):
    """A roadshow of the broker presenting the university's achievement, the company registered, with a
    scheduled meeting between them."""
    from services import roadshows
    _demand, achievement = pair
    data = {"title": "动力电池材料路演", "theme": "动力电池材料", "field_code": "new_energy",
            "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 3, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10}
    rs = roadshows.create_roadshow(session, people["broker"], data)
    presenter = roadshows.add_presenter(session, rs, achievement.id)
    roadshows.invite(session, rs, people["company"].id)
    session.commit()
    roadshows.register(session, rs.id, people["company"])
    session.commit()
    with app.app_context():
        roadshows.set_wishes(session, app.extensions["matching"], rs, people["company"], [presenter.id])
        roadshows.build_schedule(session, rs)
    session.commit()
    assert roadshows.meetings(session, rs)
    return rs


def test_roadshow_is_seen_by_its_manager_and_participants_with_their_meetings(api, auth, people, roadshow, pair):
    _demand, achievement = pair
    for role, rel in (("broker", "manager"), ("admin", "manager"), ("company", "company"),
                      ("university", "presenter")):
        headers = auth(people[role])
        listed = _clean(api.get("/api/v1/roadshows/", headers=headers))
        assert [(r["id"], r["relation"]) for r in listed["items"]] == [(roadshow.id, rel)], role
        detail = _clean(api.get(f"/api/v1/roadshows/{roadshow.id}", headers=headers))
        assert detail["relation"] == rel and detail["scheduled"]
        presenters = [(p["achievement_id"], p["title"]) for p in detail["presenters"]]
        assert presenters == [(achievement.id, achievement.title)]
        assert len(detail["meetings"]) == 1, role
        meeting = detail["meetings"][0]
        assert meeting["achievement_id"] == achievement.id and meeting["slot"] == 1 and meeting["time"]
        assert meeting["company"] == people["company"].organisation.name
        expected = {"company": people["university"].organisation.name,
                    "university": people["company"].organisation.name}.get(role)
        assert meeting["counterpart"] == expected
        assert detail["invitation_status"] == ("registered" if role == "company" else None)


def test_roadshow_refused_to_others(api, auth, people, roadshow, make_user):
    for user in (make_user("company"), make_user("university"), make_user("broker")):
        headers = auth(user)
        assert api.get("/api/v1/roadshows/", headers=headers).get_json()["total"] == 0
        _error(api.get(f"/api/v1/roadshows/{roadshow.id}", headers=headers), 404, "not_found")
    _error(api.get(f"/api/v1/roadshows/{roadshow.id}"), 401, "unauthorized")
    _error(api.get("/api/v1/roadshows/"), 401, "unauthorized")
    _error(api.get("/api/v1/roadshows/2147483647", headers=auth(people["admin"])), 404, "not_found")
    _error(api.get("/api/v1/roadshows/?per_page=0", headers=auth(people["admin"])), 422, "validation_error")


def test_a_participant_sees_only_their_own_meetings(api, auth, app, session, people, roadshow, make_user,
                                                    make_listing):
    from services import roadshows
    other = make_user("company")
    make_listing("demand", other, "published", reviewer=people["broker"], title="另一家企业的电池需求")
    roadshows.invite(session, roadshow, other.id)
    session.commit()
    roadshows.register(session, roadshow.id, other)
    session.commit()
    with app.app_context():
        roadshows.set_wishes(session, app.extensions["matching"], roadshow, other,
                             [p.id for p in roadshow.presenters])
        roadshows.build_schedule(session, roadshow)
    session.commit()
    manager = api.get(f"/api/v1/roadshows/{roadshow.id}", headers=auth(people["broker"])).get_json()
    assert len(manager["meetings"]) == 2
    for user in (people["company"], other):
        mine = api.get(f"/api/v1/roadshows/{roadshow.id}", headers=auth(user)).get_json()["meetings"]
        assert [m["company"] for m in mine] == [user.organisation.name]
    presenter = api.get(f"/api/v1/roadshows/{roadshow.id}", headers=auth(people["university"])).get_json()
    assert len(presenter["meetings"]) == 2  # both meetings are with the university's achievement
