"""The programme's API: registration with the waiting list, applications to present, intents, challenge
applications; refusals with their code and a message in the caller's language. No embedding model."""
from __future__ import annotations

from datetime import timedelta

import pytest

from models import RoadshowMeeting
from services import challenge_race, clock, roadshows
from tests.services.test_roadshow_programme import roadshow_data
from tests.web.test_programme_web import publish


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def test_registration_waiting_list_and_cancellation(api, session, make_user, token_for, zh):
    broker = make_user("broker")
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=1))
    session.commit()
    a, b = make_user("company"), make_user("company")
    url = f"/api/v1/programme/roadshows/{rs.id}/registration"
    first = api.post(url, json={"participant": "investor"}, headers=token_for(a))
    assert first.status_code == 201 and first.get_json() == {"roadshow_id": rs.id, "status": "registered",
                                                             "participant": "investor", "position": None}
    second = api.post(url, json={}, headers=token_for(b))
    assert second.get_json()["status"] == "waiting" and second.get_json()["position"] == 1
    again = api.post(url, json={}, headers=token_for(b))
    assert again.status_code == 409 and again.get_json()["message"] == zh(
        "You are already on the waiting list (number %(n)s).", n=1)
    bad = api.post(url, json={"participant": "banker"}, headers=token_for(b, "en"))
    assert bad.status_code == 422 and "participant" in bad.get_json()["errors"]
    assert api.delete(url, headers=token_for(a)).get_json()["status"] == "declined"
    assert api.post(url, json={}, headers=token_for(make_user("university"))).status_code == 403
    gone = api.delete(url, headers=token_for(a, "en"))
    assert gone.status_code == 422 and gone.get_json()["code"] == "programme.not_registered"
    assert gone.get_json()["message"] == "You hold no seat and no place on the waiting list of this roadshow."
    assert api.post("/api/v1/programme/roadshows/999999/registration", json={}, headers=token_for(b)).status_code == 404


def test_presenting_and_intents(api, session, make_user, token_for):
    broker, uni, company = make_user("broker"), make_user("university"), make_user("company")
    rs = roadshows.create_roadshow(session, broker, roadshow_data())
    ach = publish(session, "achievement", uni)
    other = publish(session, "achievement", make_user("university"), title="别人的成果：钠电正极")
    session.commit()
    url = f"/api/v1/programme/roadshows/{rs.id}/presenting"
    resp = api.post(url, json={"achievement_id": ach.id, "pitch": "适合"}, headers=token_for(uni))
    assert resp.status_code == 201 and resp.get_json()["status"] == "submitted"
    theirs = api.post(url, json={"achievement_id": other.id}, headers=token_for(uni, "en"))
    assert theirs.status_code == 422 and theirs.get_json()["errors"] == {
        "achievement_id": ["Choose one of your own published achievements."]}
    assert api.post(url, json={"achievement_id": "x"}, headers=token_for(uni)).status_code == 422
    presenter = roadshows.add_presenter(session, rs, ach.id)
    meeting = RoadshowMeeting(roadshow_id=rs.id, company_id=company.id, presenter_id=presenter.id, slot=1,
                              table_no=1, score=50.0)
    session.add(meeting)
    session.commit()
    intent = f"/api/v1/programme/meetings/{meeting.id}/intent"
    assert api.post(intent, json={"intent": "interested"}, headers=token_for(company)).get_json()["company_intent"] \
        == "interested"
    assert api.post(intent, json={"intent": "maybe"}, headers=token_for(uni)).status_code == 422
    assert api.post(intent, json={"intent": "interested"}, headers=token_for(make_user("company"))).status_code == 404


def test_challenge_applications_alone_and_jointly(api, session, make_user, token_for, zh):
    broker, issuer = make_user("broker"), make_user("company", org="发榜企业")
    demand = publish(session, "demand", issuer)
    challenge = challenge_race.create_from_demands(session, broker, [demand.id], {
        "title": "电池安全揭榜", "problem": "高镍电池热失控风险高，需要从材料到系统的安全防护技术方案。", "indicators": "≥30min",
        "reward": 100.0, "deadline": clock.today() + timedelta(days=9), "criteria": "技术 | scientist | 1"})
    session.commit()
    partner = make_user("university", org="合作大学")
    url = f"/api/v1/programme/challenges/{challenge.id}/applications"
    body = {"team": "联合团队", "approach": "正极包覆与电池包隔热层协同，降低热失控风险并延缓蔓延。"}
    resp = api.post(url, json=dict(body, partner_ids=[partner.organisation_id]), headers=token_for(make_user("company", org="申报企业")))
    assert resp.status_code == 201 and resp.get_json()["team"] == "申报企业 + 合作大学"
    me = make_user("university", org="单独大学")
    own = api.post(url, json=dict(body, partner_ids=[me.organisation_id]), headers=token_for(me))
    assert own.status_code == 422 and own.get_json()["message"] == zh(
        "Partners must be other companies or universities registered on the platform, not your own organisation.")
    short = api.post(url, json={"team": "x", "approach": "y"}, headers=token_for(me, "en"))
    assert short.status_code == 422 and {"team", "approach"} <= set(short.get_json()["errors"])
    assert api.post(url, json=body, headers=token_for(broker)).status_code == 403
