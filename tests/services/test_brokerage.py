"""Broker operations (issue 21 part 4): routing under overlapping and missing rules, round robin, reassignment,
caseload and the overdue queue, demands entered on a company's behalf, profiles, and the per-broker figures
checked against plain SQL sums over seeded data."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from models import (Demand, DemandAssignment, Field, Introduction, Notification, Opportunity, OpportunityEvent, Region,
                    ReviewEvent, RoutingRule, TechContract, utcnow)
from services import brokerage, brokerage_entries, listings
from services.errors import NotFound, ServiceError


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Submitted and published demands would queue the search index sync (the embedding model): not here."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def _region(session, code: str, parent_code: str) -> Region:
    parent = session.scalar(select(Region).where(Region.code == parent_code))
    node = Region(code=code, name_zh=code, name_en=code, level="city", parent_id=parent.id, path="")
    session.add(node)
    session.flush()
    node.path = f"{parent.path}{node.id}/"
    session.commit()
    return node


def _rule(session, admin, name, brokers, field_code="", region_code="", priority=0, active=True) -> RoutingRule:
    rule = brokerage.save_rule(session, admin, None, {"name": name, "field_code": field_code,
                                                      "region_code": region_code, "priority": priority,
                                                      "active": active, "broker_ids": [b.id for b in brokers]})
    session.commit()
    return rule


def _submit(make_listing, company, **over) -> Demand:
    return make_listing("demand", company, status="submitted", **over)


def _broker_of(session, demand) -> int | None:
    row = brokerage.active_assignment(session, demand.id)
    return row.broker_id if row else None


@pytest.fixture
def people(make_user):
    return {"admin": make_user("admin"), "company": make_user("company"),
            "b": [make_user("broker") for _ in range(5)]}


def test_most_specific_rule_wins_with_overlapping_rules(session, people, make_listing):
    _region(session, "xian", "shaanxi")
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "catch-all", [b[0]])
    _rule(session, admin, "new energy", [b[1]], field_code="new_energy")
    _rule(session, admin, "shaanxi", [b[2]], region_code="shaanxi")
    _rule(session, admin, "battery in xian", [b[3]], field_code="new_energy.battery", region_code="xian")
    company = people["company"]
    other_field = session.scalar(select(Field.code).where(Field.code.like("aerospace.%")).order_by(Field.id))
    cases = [({"region": "xian"}, b[3]),  # field and region
             ({"region": "shaanxi"}, b[2]),  # region beats field
             ({"region": "jiangsu"}, b[1]),  # the parent field covers a sub-field
             ({"region": "jiangsu", "field_code": other_field}, b[0])]  # the catch-all takes the rest
    for over, expected in cases:
        demand = _submit(make_listing, company, **over)
        assert _broker_of(session, demand) == expected.id, over


def test_ties_go_to_the_higher_priority_then_the_deeper_region_then_the_older_rule(session, people, make_listing):
    _region(session, "xian", "shaanxi")
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "low", [b[0]], region_code="shaanxi", priority=1)
    _rule(session, admin, "high", [b[1]], region_code="shaanxi", priority=5)
    assert _broker_of(session, _submit(make_listing, people["company"])) == b[1].id
    _rule(session, admin, "high too", [b[2]], region_code="shaanxi", priority=5)  # same rank, newer: a fallback
    assert _broker_of(session, _submit(make_listing, people["company"])) == b[1].id
    # a copy of an active rule (same field, region, priority and brokers) would never be used: refused,
    # unless it is inactive, and it cannot then be switched on
    with pytest.raises(ServiceError) as err:
        _rule(session, admin, "high copy", [b[1]], region_code="shaanxi", priority=5)
    assert err.value.code == "brokerage.rule_duplicate" and err.value.params == {"name": "high"}
    session.rollback()
    copy = _rule(session, admin, "high copy", [b[1]], region_code="shaanxi", priority=5, active=False)
    with pytest.raises(ServiceError):
        brokerage.save_rule(session, admin, copy, {"name": "high copy", "region_code": "shaanxi", "priority": 5,
                                                   "active": True, "broker_ids": [b[1].id]})
    session.rollback()
    high = session.scalar(select(RoutingRule).where(RoutingRule.name == "high"))
    brokerage.save_rule(session, admin, high, {"name": "high", "region_code": "shaanxi", "priority": 5,
                                               "active": True, "broker_ids": [b[1].id]})  # itself is no copy
    _rule(session, admin, "xian", [b[3]], region_code="xian", priority=5)  # deeper node wins the tie
    assert _broker_of(session, _submit(make_listing, people["company"], region="xian")) == b[3].id


def test_no_rule_leaves_the_demand_unassigned_and_queued(session, people, make_listing):
    _rule(session, people["admin"], "jiangsu only", [people["b"][0]], region_code="jiangsu")
    demand = _submit(make_listing, people["company"], region="shaanxi")
    assert _broker_of(session, demand) is None
    assert [r.demand.id for r in brokerage.unassigned(session)] == [demand.id]
    # the next status change does not route it twice, and a later rule picks it up on its next submission
    assert session.scalar(select(DemandAssignment.id)) is None


def test_round_robin_within_a_rule_skips_inactive_brokers(session, people, make_listing):
    admin, b = people["admin"], people["b"]
    rule = _rule(session, admin, "all", b[:3])
    got = [_broker_of(session, _submit(make_listing, people["company"])) for _ in range(6)]
    assert got == [b[0].id, b[1].id, b[2].id] * 2
    session.refresh(rule)
    assert rule.rr_position == 6 and rule.last_broker_id == b[2].id
    b[1].active = False
    session.commit()
    got = [_broker_of(session, _submit(make_listing, people["company"])) for _ in range(4)]
    assert set(got) == {b[0].id, b[2].id} and len(got) == 4


def test_a_rule_without_active_brokers_is_passed_over(session, people, make_listing):
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "catch-all", [b[0]])
    _rule(session, admin, "shaanxi", [b[1]], region_code="shaanxi")
    b[1].active = False
    session.commit()
    assert _broker_of(session, _submit(make_listing, people["company"])) == b[0].id
    _rule(session, admin, "inactive rule", [b[2]], region_code="shaanxi", priority=9, active=False)
    assert _broker_of(session, _submit(make_listing, people["company"])) == b[0].id


def test_routing_notifies_the_broker_and_a_resubmission_keeps_the_broker(session, people, make_listing):
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "all", b[:2])
    demand = make_listing("demand", people["company"], status="published", reviewer=admin)
    assert _broker_of(session, demand) == b[0].id
    note = session.scalar(select(Notification).where(Notification.user_id == b[0].id,
                                                     Notification.kind == "demand_assigned"))
    assert note is not None and note.params["listing_id"] == demand.id
    listings.update_listing(session, demand, people["company"], {"title": "改过的需求标题"})  # back to review
    session.commit()
    assert demand.status == "submitted" and _broker_of(session, demand) == b[0].id
    assert session.scalar(select(RoutingRule.rr_position)) == 1


def test_reassign_by_admin_and_take_on_by_broker(session, people, make_listing):
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "all", [b[0]])
    demand = _submit(make_listing, people["company"])
    brokerage.assign(session, admin, demand.id, b[1].id)
    session.commit()
    rows = list(session.scalars(select(DemandAssignment).where(DemandAssignment.demand_id == demand.id)
                                .order_by(DemandAssignment.id)))
    assert [(r.broker_id, r.active, r.assigned_by) for r in rows] == [(b[0].id, False, "rule"),
                                                                      (b[1].id, True, "admin")]
    with pytest.raises(ServiceError) as err:
        brokerage.assign(session, b[2], demand.id, b[3].id)
    assert err.value.code == "brokerage.assign_self_only"
    brokerage.assign(session, b[2], demand.id, b[2].id)
    session.commit()
    assert _broker_of(session, demand) == b[2].id
    with pytest.raises(ServiceError):
        brokerage.assign(session, b[2], demand.id, b[2].id)
    with pytest.raises(ServiceError):
        brokerage.assign(session, admin, demand.id, people["company"].id)
    with pytest.raises(NotFound):
        brokerage.assign(session, admin, 999_999, b[0].id)


def test_caseload_days_since_last_action_and_the_overdue_queue(session, people, make_listing, make_user):
    admin, b = people["admin"], people["b"]
    _rule(session, admin, "all", [b[0]])
    old = _submit(make_listing, people["company"])
    fresh = _submit(make_listing, people["company"])
    long_ago = utcnow() - timedelta(days=30)
    session.execute(update(ReviewEvent).where(ReviewEvent.entity_id == old.id, ReviewEvent.entity_type == "demand")
                    .values(created_at=long_ago))
    session.commit()
    rows = brokerage.caseload(session, b[0])
    assert [r.demand.id for r in rows] == [old.id, fresh.id]
    assert rows[0].days_idle() == 30 and rows[1].days_idle() == 0 and rows[0].opportunities == 0
    assert [r.demand.id for r in brokerage.overdue(session, 14)] == [old.id]
    # pipeline activity on the demand counts as an action
    uni = make_user("university")
    ach = make_listing("achievement", uni, reviewer=admin)
    listings.transition(session, old, admin, "approve")
    session.execute(update(ReviewEvent).where(ReviewEvent.entity_id == old.id, ReviewEvent.entity_type == "demand")
                    .values(created_at=long_ago))
    opp = Opportunity(demand_id=old.id, achievement_id=ach.id, broker_id=b[0].id, created_at=long_ago,
                      stage_changed_at=long_ago)
    session.add(opp)
    session.flush()
    session.add(OpportunityEvent(opportunity_id=opp.id, to_stage="introduced", created_at=utcnow() - timedelta(days=2)))
    session.commit()
    row = next(r for r in brokerage.caseload(session, b[0]) if r.demand.id == old.id)
    assert row.days_idle() == 2 and row.opportunities == 1
    assert brokerage.overdue(session, 14) == []
    assert [r.demand.id for r in brokerage.overdue(session, 1)] == [old.id]


def test_demand_entered_for_a_company_waits_for_its_confirmation(session, people, make_listing, make_user):
    from tests.conftest import demand_data

    admin, b, company = people["admin"], people["b"], people["company"]
    _rule(session, admin, "all", [b[1]])
    demand = brokerage_entries.enter_for_company(session, b[0], company.id, demand_data(title="经纪人代录需求"))
    session.commit()
    assert demand.status == "unconfirmed" and demand.owner_id == company.id
    assert _broker_of(session, demand) is None  # not routed before confirmation
    assert demand not in listings.published(session, "demand")
    assert demand.id not in [d.id for d in session.scalars(listings.search_stmt("demand", listings.SearchFilters(),
                                                                                 None))]
    assert not listings.can_view(None, demand)
    note = session.scalar(select(Notification).where(Notification.user_id == company.id,
                                                     Notification.kind == "demand_confirm"))
    assert note.params["listing_id"] == demand.id
    assert [d.id for d in brokerage_entries.awaiting(session, company)] == [demand.id]
    with pytest.raises(NotFound):
        brokerage_entries.confirm_entry(session, make_user("company"), demand.id)
    with pytest.raises(ServiceError):
        listings.transition(session, demand, company, "submit")  # only the confirm page moves it on
    session.rollback()
    brokerage_entries.confirm_entry(session, company, demand.id)
    session.commit()
    assert demand.status == "submitted" and _broker_of(session, demand) == b[1].id
    with pytest.raises(ServiceError) as err:
        brokerage_entries.confirm_entry(session, company, demand.id)
    assert err.value.code == "brokerage.already_confirmed"
    actions = [e.action for e in listings.history(session, demand)]
    assert actions == ["create", "enter", "confirm"]


def test_confirm_as_draft_and_the_entering_broker_keeps_an_unrouted_demand(session, people):
    from tests.conftest import demand_data

    b, company = people["b"], people["company"]
    first = brokerage_entries.enter_for_company(session, b[0], company.id, demand_data())
    second = brokerage_entries.enter_for_company(session, b[0], company.id, demand_data())
    session.commit()
    brokerage_entries.confirm_entry(session, company, first.id, as_draft=True)
    brokerage_entries.confirm_entry(session, company, second.id)
    session.commit()
    assert first.status == "draft" and _broker_of(session, first) is None
    assert second.status == "submitted" and _broker_of(session, second) == b[0].id  # no rule: the entering broker
    with pytest.raises(ServiceError) as err:
        brokerage_entries.enter_for_company(session, b[0], b[1].id, demand_data())
    assert err.value.code == "brokerage.not_a_company"


def test_profile_save_and_refusals(session, people):
    broker = people["b"][0]
    profile = brokerage.save_profile(session, broker, {"certificate_level": "senior", "certificate_number": "JS-1",
                                                       "training_hours": 48, "field_codes": ["new_energy"],
                                                       "region_codes": ["shaanxi", "jiangsu"]})
    session.commit()
    assert profile.certificate_level == "senior" and [f.code for f in profile.fields] == ["new_energy"]
    assert sorted(r.code for r in profile.regions) == ["jiangsu", "shaanxi"]
    for data, code in [({"certificate_level": "expert"}, "brokerage.bad_level"),
                       ({"certificate_number": "x" * 41}, "brokerage.certificate_number"),
                       ({"training_hours": -1}, "brokerage.training_hours"),
                       ({"field_codes": ["nope"]}, "brokerage.unknown_field"),
                       ({"region_codes": ["atlantis"]}, "brokerage.unknown_region")]:
        with pytest.raises(ServiceError) as err:
            brokerage.save_profile(session, broker, data)
        assert err.value.code == code
    with pytest.raises(NotFound):
        brokerage.save_profile(session, people["company"], {})


def test_rule_refusals(session, people):
    admin, b = people["admin"], people["b"]
    base = {"name": "r", "field_code": "", "region_code": "", "priority": 0, "active": True, "broker_ids": [b[0].id]}
    for over, code in [({"name": " "}, "brokerage.rule_name"), ({"priority": 5000}, "brokerage.rule_priority"),
                       ({"field_code": "nope"}, "brokerage.unknown_field"),
                       ({"region_code": "atlantis"}, "brokerage.unknown_region"),
                       ({"broker_ids": []}, "brokerage.rule_brokers"),
                       ({"broker_ids": [people["company"].id]}, "brokerage.rule_brokers")]:
        with pytest.raises(ServiceError) as err:
            brokerage.save_rule(session, admin, None, {**base, **over})
        assert err.value.code == code
        session.rollback()


def test_per_broker_figures_equal_sql_sums_over_seeded_data(session, people, make_listing, make_user):
    admin, b = people["admin"], people["b"]
    uni = make_user("university")
    rng = random.Random(7)
    demands = [make_listing("demand", people["company"], reviewer=admin) for _ in range(4)]
    achs = [make_listing("achievement", uni, reviewer=admin) for _ in range(5)]
    start = datetime(2026, 1, 1)
    opps = []
    for d in demands:
        for a in achs:
            when = start + timedelta(days=rng.randrange(0, 300))
            broker = rng.choice(b)
            accepted = when + timedelta(days=1) if rng.random() < 0.5 else None
            session.add(Introduction(demand_id=d.id, achievement_id=a.id, requested_by_id=broker.id,
                                     requested_side="broker", reason="测试", created_at=when,
                                     status="accepted" if accepted else "declined", accepted_at=accepted))
            if rng.random() < 0.4:
                opp = Opportunity(demand_id=d.id, achievement_id=a.id, broker_id=rng.choice(b).id, created_at=when,
                                  stage_changed_at=when)
                session.add(opp)
                opps.append(opp)
    session.flush()
    region_id = session.scalar(select(Region.id).where(Region.code == "shaanxi"))
    for i in range(25):
        opp = rng.choice(opps + [None])
        session.add(TechContract(
            reg_number=f"6100{i:012d}", name=f"合同{i}", contract_type="license", category="license",
            status="registered" if i % 6 else "not_registered", seller_name="甲", seller_nature="120",
            seller_region_id=region_id, buyer_name="乙", buyer_nature="230", buyer_region_id=region_id,
            amount=Decimal(rng.randrange(1, 5000)) / 10, tech_amount=Decimal(0),
            signed_on=date(2026, 1, 1) + timedelta(days=rng.randrange(0, 300)),
            opportunity_id=opp.id if opp else None, broker_id=rng.choice(b).id if rng.random() < 0.5 else None))
    session.commit()

    def direct(since, until):
        since, until = since or date(1900, 1, 1), until or date(9999, 12, 31)
        p = {"s": since.isoformat() + " 00:00:00.000000", "u": until.isoformat() + " 23:59:59.999999"}
        pd = {"s": since.isoformat(), "u": until.isoformat()}
        out = {}
        for broker in b:
            made = session.execute(text("SELECT count(*), count(accepted_at) FROM introductions WHERE "
                                        "requested_by_id = :b AND created_at >= :s AND created_at <= :u"),
                                   {**p, "b": broker.id}).one()
            opened = session.execute(text("SELECT count(*) FROM opportunities WHERE broker_id = :b AND "
                                          "created_at >= :s AND created_at <= :u"), {**p, "b": broker.id}).scalar()
            signed = session.execute(text(
                "SELECT count(*), coalesce(sum(c.amount), 0) FROM tech_contracts c LEFT JOIN opportunities o "
                "ON o.id = c.opportunity_id WHERE c.status = 'registered' AND coalesce(c.broker_id, o.broker_id) = :b "
                "AND c.signed_on >= :s AND c.signed_on <= :u"), {**pd, "b": broker.id}).one()
            out[broker.id] = (made[0], made[1], opened, signed[0], Decimal(str(signed[1])).quantize(Decimal("0.0001")))
        return out

    for since, until in [(None, None), (date(2026, 3, 1), date(2026, 6, 30)), (date(2026, 8, 1), None)]:
        got = {r.broker.id: (r.introductions, r.agreed, r.opportunities, r.contracts,
                             r.amount.quantize(Decimal("0.0001"))) for r in brokerage.performance(session, since, until)}
        assert got == direct(since, until)
    totals = brokerage.performance(session)
    assert sum(r.introductions for r in totals) == 20 and sum(r.opportunities for r in totals) == len(opps)


def test_overdue_days_setting():
    assert brokerage.overdue_days(None) == 14 and brokerage.overdue_days("7") == 7
    assert brokerage.overdue_days("0") == 14 and brokerage.overdue_days("x") == 14


def test_concurrent_routing_under_one_rule_never_hands_out_the_same_turn_twice(app, session, people, make_user):
    """Twelve demands enter review at once, each in its own engine (separate web processes): the rule's counter
    moves by an atomic UPDATE ... RETURNING, so the three brokers get four each and the counter ends at 12."""
    import threading

    from sqlalchemy.orm import Session

    from tests.conftest import demand_data
    from web.db import make_engine

    b = people["b"][:3]
    _rule(session, people["admin"], "all", b)
    company = people["company"]
    ids = [listings.create_listing(session, "demand", company, demand_data()).id for _ in range(12)]
    session.commit()
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def submit(demand_id: int) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        try:
            with Session(engine) as s:
                demand = s.get(Demand, demand_id)
                owner = s.get(type(company), company.id)
                barrier.wait()
                listings.transition(s, demand, owner, "submit")
                s.commit()
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=submit, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    session.expire_all()
    counts = dict(session.execute(select(DemandAssignment.broker_id, func.count()).group_by(
        DemandAssignment.broker_id)).all())
    assert counts == {x.id: 4 for x in b}
    assert session.scalar(select(RoutingRule.rr_position)) == 12
