"""The deal pipeline: introduced -> agreed -> meeting -> negotiating -> signed (type, amount, date) or closed;
a board per broker with stage filter and idle flags; bad amounts get clear messages."""
from __future__ import annotations

from datetime import timedelta

import pytest
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


@pytest.fixture
def opp(make_user, make_listing, session):
    from services import pipeline
    company, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    demand = make_listing("demand", company, reviewer=broker)
    achievement = make_listing("achievement", uni, reviewer=broker)
    o = pipeline.get_or_open(session, broker, demand.id, achievement.id)
    session.commit()
    return {"opp": o, "broker": broker, "company": company}


def advance(client, oid):
    return client.submit(f"/opportunities/{oid}/advance", {"note": "双方同意"}, form_url=f"/opportunities/{oid}")


def sign(client, oid, amount, when=None, kind="license"):
    return client.submit(f"/opportunities/{oid}/sign", {"contract_type": kind, "amount": amount,
                                                         "signed_on": (when or clock.today()).isoformat()},
                         form_url=f"/opportunities/{oid}")


def test_opportunity_moves_stage_by_stage_to_a_signed_contract(client, opp, login, session, zh):
    login(opp["broker"])
    oid = opp["opp"].id
    for expected in ("agreed", "meeting", "negotiating"):
        assert advance(client, oid).status_code == 302
        session.refresh(opp["opp"])
        assert opp["opp"].stage == expected
    assert sign(client, oid, "120.5").status_code == 302
    session.refresh(opp["opp"])
    o = opp["opp"]
    assert (o.stage, o.contract_type, o.amount, o.signed_on) == ("signed", "license", 120.5, clock.today())
    assert [e.to_stage for e in o.events] == ["introduced", "agreed", "meeting", "negotiating", "signed"]
    page = client.get(f"/opportunities/{oid}").get_data(as_text=True)
    assert "120.5" in page and zh("Technology licensing") in page
    board = client.get("/opportunities/?stage=signed").get_data(as_text=True)
    assert f"/opportunities/{oid}" in board and "120.5" in board
    assert f"/opportunities/{oid}" not in client.get("/opportunities/?stage=meeting").get_data(as_text=True)
    assert advance(client, oid).status_code == 400  # nothing after signed


@pytest.mark.parametrize("amount", ["abc", "NaN", "-5", "", "1e400", "12,5万"])
def test_contract_amount_that_is_not_a_number_gets_a_clear_message(client, opp, login, session, zh, amount):
    login(opp["broker"])
    oid = opp["opp"].id
    for _ in range(3):
        advance(client, oid)
    resp = sign(client, oid, amount)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert (zh("Enter the amount as a number in 10k yuan, e.g. 120.5.") in page
            or zh("Enter an amount between 0 and 1,000,000 (in 10k yuan).") in page)
    session.refresh(opp["opp"])
    assert opp["opp"].stage == "negotiating" and opp["opp"].amount is None


def test_signing_date_in_the_future_or_too_early_a_stage_is_refused(client, opp, login, session, zh):
    login(opp["broker"])
    oid = opp["opp"].id
    resp = sign(client, oid, "10")
    assert resp.status_code == 400
    assert zh("This step is not possible at the opportunity's current stage.") in resp.get_data(as_text=True)
    for _ in range(3):
        advance(client, oid)
    resp = sign(client, oid, "10", when=clock.today() + timedelta(days=3))
    assert resp.status_code == 400 and zh("The signing date cannot be in the future.") in resp.get_data(as_text=True)


def test_closing_needs_a_reason_and_ends_the_opportunity(client, opp, login, session, zh):
    login(opp["broker"])
    oid = opp["opp"].id
    resp = client.submit(f"/opportunities/{oid}/close", {"reason": " "}, form_url=f"/opportunities/{oid}")
    assert resp.status_code == 400
    resp = client.submit(f"/opportunities/{oid}/close", {"reason": "企业预算冻结"}, form_url=f"/opportunities/{oid}")
    assert resp.status_code == 302
    session.refresh(opp["opp"])
    assert (opp["opp"].stage, opp["opp"].close_reason) == ("closed", "企业预算冻结")
    assert "企业预算冻结" in client.get("/opportunities/?stage=closed").get_data(as_text=True)


def test_only_the_opportunitys_broker_or_an_admin_sees_it(client, opp, login, make_user):
    oid = opp["opp"].id
    login(make_user("broker"))
    assert client.get(f"/opportunities/{oid}").status_code == 404
    assert f"/opportunities/{oid}" not in client.get("/opportunities/").get_data(as_text=True)
    assert client.submit(f"/opportunities/{oid}/advance", {}, form_url="/opportunities/").status_code == 404
    login(opp["company"])
    assert client.get("/opportunities/").status_code == 403
    login(make_user("admin"))
    assert client.get(f"/opportunities/{oid}").status_code == 200


def test_idle_opportunities_are_flagged_and_listed_by_the_cli(app, client, opp, login, session, zh):
    from models import utcnow
    login(opp["broker"])
    board = client.get("/opportunities/").get_data(as_text=True)
    assert 'class="opportunity idle"' not in board
    opp["opp"].stage_changed_at = utcnow() - timedelta(days=20)
    session.commit()
    board = client.get("/opportunities/").get_data(as_text=True)
    assert 'class="opportunity idle"' in board and zh("Idle") in board
    out = app.test_cli_runner().invoke(args=["opportunities", "idle"]).output
    assert f"#{opp['opp'].id}\tintroduced" in out and "1 open opportunities idle for more than 14 days" in out
    out = app.test_cli_runner().invoke(args=["opportunities", "idle", "--days", "30"]).output
    assert "0 open opportunities idle for more than 30 days" in out
    bad = app.test_cli_runner().invoke(args=["opportunities", "idle", "--days", "soon"])
    assert bad.exit_code == 2 and "--days" in bad.output


def test_service_refuses_bad_amounts_directly(opp, session):
    from services import pipeline
    from services.errors import ServiceError
    for bad in ("abc", float("nan"), float("inf"), -1, None, 2_000_000):
        with pytest.raises(ServiceError) as err:
            pipeline.clean_amount(bad)
        assert err.value.code == "opportunity.bad_amount"
    assert pipeline.clean_amount("88.888") == 88.89
