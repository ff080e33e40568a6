"""Double opt-in: contacts flow to the counterpart only after both sides agreed, and stop on withdrawal."""
from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

DEMAND_CANARY = "canary.demand@example.com"
ACH_CANARY = "canary.achievement@example.cn"


@pytest.fixture
def pair(make_user, make_listing):
    broker = make_user("broker")
    company, university = make_user("company", org="甲公司"), make_user("university", org="乙大学")
    demand = make_listing("demand", company, reviewer=broker)
    achievement = make_listing("achievement", university, reviewer=broker)
    return {"broker": broker, "company": company, "university": university, "demand": demand,
            "achievement": achievement}


def _request(client, pair, reason="贵方的包覆技术正好解决我们的循环寿命问题"):
    page = f"/achievement/{pair['achievement'].id}"
    return client.submit("/introductions/request", {"demand_id": pair["demand"].id,
                                                    "achievement_id": pair["achievement"].id,
                                                    "reason": reason, "next": page}, form_url=page)


def _intro_id(session):
    from models import Introduction
    session.expire_all()
    return session.scalar(select(Introduction.id).order_by(Introduction.id.desc()))


def _act(client, intro_id, action):
    return client.submit(f"/introductions/{intro_id}/{action}", {}, form_url="/introductions/")


def test_counterpart_sees_contact_only_after_acceptance_and_not_after_withdrawal(client, login, pair, session):
    login(pair["company"])
    detail = client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    assert ACH_CANARY not in detail and 'action="/introductions/request"' in detail
    assert _request(client, pair).status_code == 302
    assert ACH_CANARY not in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    intro = _intro_id(session)

    login(pair["university"])
    inbox = client.get("/introductions/").get_data(as_text=True)
    assert "贵方的包覆技术" in inbox and DEMAND_CANARY not in inbox
    assert DEMAND_CANARY not in client.get(f"/demand/{pair['demand'].id}").get_data(as_text=True)
    assert _act(client, intro, "accept").status_code == 302
    assert DEMAND_CANARY in client.get(f"/demand/{pair['demand'].id}").get_data(as_text=True)

    login(pair["company"])
    assert ACH_CANARY in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    assert _act(client, intro, "withdraw").status_code == 302
    assert ACH_CANARY not in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    login(pair["university"])
    assert DEMAND_CANARY not in client.get(f"/demand/{pair['demand'].id}").get_data(as_text=True)


def test_contact_reveals_are_logged_for_non_owners_only(client, login, pair, session):
    from models import AuditEvent
    login(pair["company"])
    _request(client, pair)
    login(pair["university"])
    _act(client, _intro_id(session), "accept")
    client.get(f"/demand/{pair['demand'].id}")
    client.get(f"/achievement/{pair['achievement'].id}")  # own listing: not a reveal
    session.expire_all()
    reveals = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.reveal")).all()
    assert [(r.actor_id, r.target) for r in reveals] == [(pair["university"].id, f"demand:{pair['demand'].id}")]
    assert all(DEMAND_CANARY not in str(r.detail) for r in reveals)


def test_a_decline_reads_not_taken_up_to_the_requester(client, login, pair, session, zh):
    login(pair["company"])
    _request(client, pair)
    intro = _intro_id(session)
    login(pair["university"])
    _act(client, intro, "decline")
    assert zh("Declined") in client.get("/introductions/").get_data(as_text=True)
    login(pair["company"])
    inbox = client.get("/introductions/").get_data(as_text=True)
    assert zh("Not taken up") in inbox and zh("Declined") not in inbox
    assert 'data-status="declined"' not in inbox
    assert ACH_CANARY not in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)


def test_a_broker_request_needs_both_owners(client, login, pair, session):
    login(pair["broker"])
    resp = client.submit("/introductions/request", {"demand_id": pair["demand"].id,
                                                    "achievement_id": pair["achievement"].id,
                                                    "reason": "技术指标高度吻合", "next": "/introductions/"},
                         form_url=f"/matches/demand/{pair['demand'].id}")
    assert resp.status_code == 302
    intro = _intro_id(session)
    login(pair["company"])
    _act(client, intro, "accept")
    assert ACH_CANARY not in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    login(pair["university"])
    _act(client, intro, "accept")
    assert DEMAND_CANARY in client.get(f"/demand/{pair['demand'].id}").get_data(as_text=True)
    login(pair["company"])
    assert ACH_CANARY in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)


def test_outsiders_of_the_same_role_never_see_contacts_or_act(client, login, pair, session, make_user):
    login(pair["company"])
    _request(client, pair)
    intro = _intro_id(session)
    login(pair["university"])
    _act(client, intro, "accept")
    login(make_user("company"))
    assert ACH_CANARY not in client.get(f"/achievement/{pair['achievement'].id}").get_data(as_text=True)
    assert "贵方的包覆技术" not in client.get("/introductions/").get_data(as_text=True)
    assert _act(client, intro, "withdraw").status_code == 404
    login(make_user("university"))
    assert DEMAND_CANARY not in client.get(f"/demand/{pair['demand'].id}").get_data(as_text=True)
    assert _act(client, intro, "decline").status_code == 404


def test_requester_cannot_accept_for_the_other_side_and_pairs_are_not_duplicated(client, login, pair, session, zh):
    login(pair["company"])
    _request(client, pair)
    intro = _intro_id(session)
    resp = _act(client, intro, "accept")
    assert resp.status_code == 302
    follow = client.get("/introductions/").get_data(as_text=True)
    assert zh("This introduction is not waiting for your answer.") in follow
    resp = _request(client, pair, reason="再次申请：请双方尽快联系")
    page = resp.get_data(as_text=True)  # refused on its own page, the reason as typed
    assert resp.status_code == 422 and "再次申请：请双方尽快联系" in page
    assert zh("An introduction of these two listings is already under way.") in page


def test_bad_request_input_is_answered_on_its_own_page_with_the_reason_kept(client, login, pair, zh):
    login(pair["company"])
    ids = {"demand_id": pair["demand"].id, "achievement_id": pair["achievement"].id, "next": "/introductions/"}
    long = "我们的循环寿命问题" * 112  # 1,008 characters: one over is refused, and nothing typed is lost
    for data, message in (({**ids, "reason": long}, zh("Keep this under %(max)d characters.", max=1000)),
                          ({**ids, "reason": ""}, zh("This field is required.")),
                          ({**ids, "demand_id": "x", "reason": "技术吻合"},
                           zh("This listing cannot be found. Go back and choose one from the list."))):
        resp = client.submit("/introductions/request", data, form_url="/introductions/")
        page = resp.get_data(as_text=True)
        assert resp.status_code == 422 and message in page, data
        assert data["reason"] in page and 'name="next" value="/introductions/"' in page
        assert pair["achievement"].title in page
    resp = client.submit("/introductions/request", {"demand_id": 99999, "achievement_id": pair["achievement"].id,
                                                    "reason": "r", "next": "/"}, form_url="/introductions/")
    assert resp.status_code == 404


def test_broker_introduction_notifies_owners_and_moves_the_opportunity_to_agreed(
        app, client, login, pair, session):
    from models import Notification, Opportunity
    from services import pipeline

    opp = pipeline.get_or_open(session, pair["broker"], pair["demand"].id, pair["achievement"].id)
    session.commit()
    login(pair["broker"])
    client.submit("/introductions/request", {"demand_id": pair["demand"].id, "achievement_id": pair["achievement"].id,
                                             "reason": "技术指标高度吻合", "next": "/introductions/"},
                  form_url="/introductions/")
    intro = _intro_id(session)
    notes = session.scalars(select(Notification).where(Notification.kind == "intro_requested")).all()
    assert sorted(n.user_id for n in notes) == sorted([pair["company"].id, pair["university"].id])
    assert all(DEMAND_CANARY not in str(n.params) and ACH_CANARY not in str(n.params) for n in notes)
    for owner in ("company", "university"):
        login(pair[owner])
        assert "/introductions/" in client.get("/notifications/").get_data(as_text=True)
        _act(client, intro, "accept")
    session.expire_all()
    assert session.get(Opportunity, opp.id).stage == "agreed"
    accepted = session.scalars(select(Notification).where(Notification.kind == "intro_accepted")).all()
    assert [n.user_id for n in accepted] == [pair["broker"].id]


def test_party_request_without_an_opportunity_opens_none(client, login, pair, session):
    from models import Opportunity

    login(pair["company"])
    _request(client, pair)
    intro = _intro_id(session)
    login(pair["university"])
    _act(client, intro, "accept")
    assert session.scalar(select(Opportunity.id)) is None


def test_parties_record_feedback_once_introduced_and_only_then(client, login, pair, session, make_user, zh):
    from models import PairFeedback

    url = f"/feedback/{pair['demand'].id}/{pair['achievement'].id}"
    judged = {"outcome": "relevant", "reason": "price_gap", "note": "", "next": "/introductions/"}
    login(pair["company"])
    _request(client, pair)
    intro = _intro_id(session)
    assert 'action="' + url not in client.get("/introductions/").get_data(as_text=True)
    assert client.submit(url, judged, form_url="/introductions/").status_code == 404  # not introduced yet
    login(pair["university"])
    _act(client, intro, "accept")
    page = client.get("/introductions/").get_data(as_text=True)
    assert 'action="' + url in page and 'value="introduce"' not in page
    assert client.submit(url, judged, form_url="/introductions/").status_code == 302
    refused = client.submit(url, {**judged, "outcome": "introduce"}, form_url="/introductions/")
    assert refused.status_code == 302
    assert zh("This pair is introduced already: say whether it is relevant or not.") in \
        client.get("/introductions/").get_data(as_text=True)
    login(pair["company"])
    assert client.submit(url, {**judged, "outcome": "not_relevant"}, form_url="/introductions/").status_code == 302
    rows = session.scalars(select(PairFeedback).order_by(PairFeedback.id)).all()
    assert [(r.user_id, r.outcome, r.reason) for r in rows] == [
        (pair["university"].id, "relevant", "price_gap"), (pair["company"].id, "not_relevant", None)]
    login(make_user("company"))  # a stranger of the same role: the pair is not theirs
    assert client.submit(url, judged, form_url="/introductions/").status_code == 404
