"""Roadshow services: creation rules, coverage proposal, invitations, seats, wishes, schedule, intents."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from matchmaking.bands import is_match
from models import RoadshowInvitation, RoadshowMeeting
from services import clock, roadshows
from services.errors import NotFound, ServiceError

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

SOLID_DEMAND = dict(title="硫化物固态电解质界面稳定性提升",
                    description="我司全固态电池中硫化物电解质与正极界面阻抗大、空气稳定性差，希望开发界面包覆与电解质改性技术，降低界面阻抗。",
                    indicators="室温离子电导率≥5mS/cm", keywords="固态电解质,硫化物,界面阻抗")
SOLID_ACH = dict(title="硫化物固态电解质及界面修饰技术",
                 abstract="开发高离子电导率硫化物固态电解质，室温离子电导率达到8mS/cm，并通过界面修饰层降低与正极的界面阻抗，"
                          "提升全固态电池循环稳定性。", keywords="固态电解质,硫化物,界面修饰")
NICKEL_TWIN = dict(title="高镍正极表面氧化铝包覆改性技术",
                   abstract="在高镍三元正极表面包覆纳米氧化铝层，抑制界面副反应和相变，1000次循环容量保持率达到87%。",
                   keywords="高镍三元,包覆,循环寿命")


def roadshow_data(**over):
    data = {"title": "新能源电池专场路演", "theme": "动力电池材料", "field_code": "new_energy",
            "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 2, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10}
    data.update(over)
    return data


@pytest.fixture
def world(session, make_user, make_listing):
    """A broker, two companies with demands, a university with three achievements (two near-twins)."""
    broker = make_user("broker")
    uni = make_user("university", org="西北大学")
    c1, c2 = make_user("company", org="秦川电池"), make_user("company", org="长安储能")
    d1 = make_listing("demand", c1, reviewer=broker)
    d2 = make_listing("demand", c2, reviewer=broker, **SOLID_DEMAND)
    a1 = make_listing("achievement", uni, reviewer=broker)
    a2 = make_listing("achievement", uni, reviewer=broker, **NICKEL_TWIN)
    a3 = make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)
    return dict(broker=broker, uni=uni, c1=c1, c2=c2, d1=d1, d2=d2, a1=a1, a2=a2, a3=a3)


@pytest.fixture
def runtime(app):
    return app.extensions["matching"]


def test_create_refuses_past_date_no_place_and_bad_numbers(session, make_user):
    broker = make_user("broker")
    for over, code in [({"held_on": clock.today() - timedelta(days=1)}, "roadshow.date_past"),
                       ({"venue": "", "online_link": ""}, "roadshow.no_place"),
                       ({"tables": 0}, "roadshow.bad_number"),
                       ({"field_code": "nope"}, "listing.unknown_field")]:
        with pytest.raises(ServiceError) as err:
            roadshows.create_roadshow(session, broker, roadshow_data(**over))
        assert err.value.code == code
    with pytest.raises(ServiceError):
        roadshows.create_roadshow(session, make_user("company"), roadshow_data())


def test_proposal_covers_both_demands_instead_of_two_near_twins(session, world, runtime):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data())
    proposal = roadshows.propose_presenters(session, runtime, rs)
    chosen = {p.achievement_id for p in proposal.presenters}
    assert world["a3"].id in chosen and len(chosen) == 2
    assert not {world["a1"].id, world["a2"].id} <= chosen
    assert proposal.demands == 2 and proposal.covered == 2 and proposal.optimal


def test_no_open_demands_in_the_field_is_a_clear_error(session, world, runtime):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data(field_code="agriculture"))
    with pytest.raises(ServiceError) as err:
        roadshows.propose_presenters(session, runtime, rs)
    assert err.value.code == "roadshow.no_demands"


def test_swap_presenters_by_hand(session, world, runtime):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data(presentation_slots=2))
    p1 = roadshows.add_presenter(session, rs, world["a1"].id)
    roadshows.add_presenter(session, rs, world["a3"].id)
    with pytest.raises(ServiceError) as full:
        roadshows.add_presenter(session, rs, world["a2"].id)
    assert full.value.code == "roadshow.presenters_full"
    with pytest.raises(ServiceError) as dup:
        roadshows.add_presenter(session, rs, world["a1"].id)
    assert dup.value.code in ("roadshow.presenter_exists", "roadshow.presenters_full")
    roadshows.remove_presenter(session, rs, p1.id)
    roadshows.add_presenter(session, rs, world["a2"].id)
    assert {p.achievement_id for p in rs.presenters} == {world["a2"].id, world["a3"].id}


def test_companies_proposed_from_matching_demands_and_invited_once(session, world, runtime):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data())
    roadshows.add_presenter(session, rs, world["a1"].id)
    roadshows.add_presenter(session, rs, world["a3"].id)
    proposals = roadshows.propose_companies(session, runtime, rs)
    assert {p.company.id for p in proposals} == {world["c1"].id, world["c2"].id}
    by_company = {p.company.id: p for p in proposals}
    assert by_company[world["c2"].id].presenter.achievement_id == world["a3"].id
    roadshows.invite(session, rs, world["c1"].id)
    with pytest.raises(ServiceError) as err:
        roadshows.invite(session, rs, world["c1"].id)
    assert err.value.code == "roadshow.already_invited"
    with pytest.raises(ServiceError):
        roadshows.invite(session, rs, world["uni"].id)
    assert [p.invited for p in roadshows.propose_companies(session, runtime, rs)
            if p.company.id == world["c1"].id] == [True]
    from models import Notification
    notes = session.scalars(select(Notification).where(Notification.kind == "roadshow_invited")).all()
    assert [(n.user_id, n.params["roadshow_id"]) for n in notes] == [(world["c1"].id, rs.id)]  # once, the invitee


def test_registration_needs_an_invitation_and_a_seat(session, world, make_user):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data(seats=1))
    roadshows.invite(session, rs, world["c1"].id)
    roadshows.invite(session, rs, world["c2"].id)
    session.commit()
    with pytest.raises(NotFound):
        roadshows.register(session, rs.id, make_user("company"))
    roadshows.register(session, rs.id, world["c1"])
    session.commit()
    with pytest.raises(ServiceError) as again:
        roadshows.register(session, rs.id, world["c1"])
    assert again.value.code == "roadshow.already_registered"
    session.rollback()
    with pytest.raises(ServiceError) as full:
        roadshows.register(session, rs.id, world["c2"])
    assert full.value.code == "roadshow.full"
    session.rollback()
    assert session.get(type(rs), rs.id).seats_taken == 1
    assert roadshows.invitation_of(session, rs, world["c2"]).status == "invited"


def test_fifty_concurrent_bookings_for_ten_seats_confirm_exactly_ten(app, session, make_user):
    """50 threads, each with its own engine on the real SQLite file, race for 10 seats."""
    from web.db import make_engine
    from sqlalchemy.orm import Session

    broker = make_user("broker")
    companies = [make_user("company") for _ in range(50)]
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=10))
    for c in companies:
        roadshows.invite(session, rs, c.id)
    session.commit()
    url = app.config["DATABASE_URL"]
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(company_id: int) -> None:
        engine = make_engine(url)
        try:
            with Session(engine) as s:
                from models import User
                company = s.get(User, company_id)
                barrier.wait()
                try:
                    roadshows.register(s, rs.id, company)
                    s.commit()
                    result = "ok"
                except ServiceError as err:
                    s.rollback()
                    result = err.code
            with lock:
                outcomes.append(result)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=book, args=(c.id,)) for c in companies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 10
    assert outcomes.count("roadshow.full") == 40
    session.expire_all()
    registered = session.scalar(select(func.count()).select_from(RoadshowInvitation).where(
        RoadshowInvitation.roadshow_id == rs.id, RoadshowInvitation.status == "registered"))
    assert registered == 10 and session.get(type(rs), rs.id).seats_taken == 10


def _scheduled_world(session, world, runtime, **over):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data(**over))
    p1 = roadshows.add_presenter(session, rs, world["a1"].id)
    p3 = roadshows.add_presenter(session, rs, world["a3"].id)
    for c in ("c1", "c2"):
        roadshows.invite(session, rs, world[c].id)
    session.commit()
    for c in ("c1", "c2"):
        roadshows.register(session, rs.id, world[c])
    session.commit()
    return rs, p1, p3


def test_wishes_need_registration_and_carry_match_scores(session, world, runtime, make_user):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data())
    p1 = roadshows.add_presenter(session, rs, world["a1"].id)
    roadshows.invite(session, rs, world["c1"].id)
    with pytest.raises(ServiceError) as err:
        roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id])
    assert err.value.code == "roadshow.register_first"
    session.commit()
    roadshows.register(session, rs.id, world["c1"])
    [wish] = roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id])
    assert is_match(wish.score)  # the high-nickel demand matches the ALD coating
    with pytest.raises(NotFound):
        roadshows.set_wishes(session, runtime, rs, make_user("company"), [p1.id])


def test_schedule_respects_conflicts_and_names_binding_constraints(session, world, runtime):
    rs, p1, p3 = _scheduled_world(session, world, runtime, meeting_slots=1, tables=1)
    roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id, p3.id])
    roadshows.set_wishes(session, runtime, rs, world["c2"], [p3.id])
    roadshows.mark_conflict(session, rs, world["c1"].id, p3.id)
    result = roadshows.build_schedule(session, rs)
    pairs = {(m.company, m.presenter) for m in result.meetings}
    assert (world["c1"].id, p3.id) not in pairs
    assert len(result.meetings) == 1  # one slot, one table
    codes = {b["code"] for b in rs.schedule_info["bindings"]}
    assert {"conflict", "table_slots"} <= codes
    slots = [b for b in rs.schedule_info["bindings"] if b["code"] == "table_slots"][0]["params"]
    assert slots["wished"] == 2 and slots["capacity"] == 1 and slots["add_slots"] == 1
    assert session.scalar(select(func.count()).select_from(RoadshowMeeting)) == 1


def test_same_organisation_is_never_scheduled(session, world, runtime, make_user):
    insider = make_user("company")
    insider.organisation_id = world["uni"].organisation_id  # e.g. the university's own spin-off account
    session.commit()
    rs, p1, _ = _scheduled_world(session, world, runtime)
    roadshows.invite(session, rs, insider.id)
    session.commit()
    roadshows.register(session, rs.id, insider)
    roadshows.set_wishes(session, runtime, rs, insider, [p1.id])
    result = roadshows.build_schedule(session, rs)
    assert result.meetings == [] and [b["code"] for b in rs.schedule_info["bindings"]] == ["conflict"]


def test_empty_wishes_are_a_clear_error(session, world, runtime):
    rs, _, _ = _scheduled_world(session, world, runtime)
    with pytest.raises(ServiceError) as err:
        roadshows.build_schedule(session, rs)
    assert err.value.code == "roadshow.no_wishes"


def test_intents_by_each_side_only(session, world, runtime, make_user):
    rs, p1, p3 = _scheduled_world(session, world, runtime)
    roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id])
    roadshows.build_schedule(session, rs)
    [meeting] = roadshows.meetings(session, rs)
    roadshows.record_intent(session, meeting.id, world["c1"], "interested")
    roadshows.record_intent(session, meeting.id, world["uni"], "not_interested")
    assert (meeting.company_intent, meeting.presenter_intent) == ("interested", "not_interested")
    with pytest.raises(NotFound):
        roadshows.record_intent(session, meeting.id, world["c2"], "interested")
    with pytest.raises(ServiceError) as bad:
        roadshows.record_intent(session, meeting.id, world["c1"], "maybe")
    assert bad.value.code == "roadshow.bad_intent"
    assert roadshows.meetings(session, rs, world["c2"]) == []
    row = roadshows.schedule_rows(session, rs)[0]
    assert row["time"] == "14:40-15:00" and row["company"] == "秦川电池"
    assert "canary" not in repr(roadshows.schedule_rows(session, rs))


def test_both_sides_interested_puts_the_pair_into_the_brokers_pipeline_at_meeting(session, world, runtime):
    from models import Opportunity
    from services import pipeline

    rs, p1, _ = _scheduled_world(session, world, runtime)
    roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id])
    roadshows.build_schedule(session, rs)
    [meeting] = roadshows.meetings(session, rs)
    roadshows.record_intent(session, meeting.id, world["c1"], "interested")
    assert session.scalar(select(func.count()).select_from(Opportunity)) == 0  # one side is not enough
    roadshows.record_intent(session, meeting.id, world["uni"], "interested")
    opp = session.scalar(select(Opportunity))
    assert (opp.demand_id, opp.achievement_id, opp.broker_id, opp.stage) == (
        world["d1"].id, world["a1"].id, world["broker"].id, "meeting")
    assert [e.to_stage for e in opp.events] == ["introduced", "agreed", "meeting"]
    pipeline.advance(session, opp, world["broker"])  # negotiating: a repeated intent never moves it back
    roadshows.record_intent(session, meeting.id, world["uni"], "interested")
    assert opp.stage == "negotiating" and session.scalar(select(func.count()).select_from(Opportunity)) == 1


def test_big_schedules_run_as_a_job(app, session, world, runtime, monkeypatch):
    from models import Job
    from services import jobs

    rs, p1, p3 = _scheduled_world(session, world, runtime)
    roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id, p3.id])
    monkeypatch.setattr(roadshows, "INLINE_WISHES", 1)
    assert roadshows.needs_job(session, rs)
    job = roadshows.submit_schedule_job(session, rs, world["broker"])
    session.commit()
    app.extensions["jobs"].enqueue(job.id)
    session.expire_all()
    done = session.get(Job, job.id)
    assert done.status == "done" and done.result["scheduled"] == 2
    assert len(roadshows.meetings(session, session.get(type(rs), rs.id))) == 2


def test_attendance_marks_registered_companies_and_presenters(session, world, runtime):
    rs, p1, p3 = _scheduled_world(session, world, runtime)
    roadshows.set_attendance(session, rs, [world["c1"].id, 999], [p3.id])
    by_company = {i.company_id: i.attended for i in rs.invitations}
    assert by_company == {world["c1"].id: True, world["c2"].id: False}
    assert {p.id: p.attended for p in rs.presenters} == {p1.id: False, p3.id: True}


def test_a_double_invite_race_is_refused_by_the_database_not_a_crash(session, world, monkeypatch):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data())
    roadshows.invite(session, rs, world["c1"].id)
    session.commit()
    monkeypatch.setattr(roadshows, "invitation_of", lambda *a: None)  # the other request read before our commit
    with pytest.raises(ServiceError) as err:
        roadshows.invite(session, rs, world["c1"].id)
    assert err.value.code == "roadshow.already_invited"
    session.rollback()
    assert len(session.get(type(rs), rs.id).invitations) == 1


def test_registration_after_the_roadshow_is_refused(session, world):
    rs = roadshows.create_roadshow(session, world["broker"], roadshow_data())
    roadshows.invite(session, rs, world["c1"].id)
    rs.held_on = clock.today() - timedelta(days=1)  # time passed
    session.commit()
    with pytest.raises(ServiceError) as err:
        roadshows.register(session, rs.id, world["c1"])
    assert err.value.code == "roadshow.over"


def test_cancelling_gives_the_seat_back_and_drops_only_that_companys_meetings(session, world, runtime):
    rs, p1, p3 = _scheduled_world(session, world, runtime, seats=2)
    roadshows.set_wishes(session, runtime, rs, world["c1"], [p1.id])
    roadshows.set_wishes(session, runtime, rs, world["c2"], [p3.id])
    roadshows.build_schedule(session, rs)
    session.commit()
    roadshows.decline(session, rs.id, world["c1"])
    session.commit()
    assert session.get(type(rs), rs.id).seats_taken == 1
    assert [m.company_id for m in roadshows.meetings(session, rs)] == [world["c2"].id]
    with pytest.raises(ServiceError) as again:
        roadshows.decline(session, rs.id, world["c1"])
    assert again.value.code == "roadshow.already_declined"
    session.rollback()
    roadshows.register(session, rs.id, world["c1"])  # the seat can be taken again
    session.commit()
    assert session.get(type(rs), rs.id).seats_taken == 2


def test_university_sees_each_roadshow_it_presents_at_once_newest_first(session, world):
    """Two presenting achievements of one university list the roadshow once (PostgreSQL refused DISTINCT
    over the roadshow's json columns)."""
    early = roadshows.create_roadshow(session, world["broker"], roadshow_data(title="早场"))
    late = roadshows.create_roadshow(session, world["broker"], roadshow_data(
        title="晚场", held_on=clock.today() + timedelta(days=20)))
    roadshows.create_roadshow(session, world["broker"], roadshow_data(title="无关场次"))
    for rs, items in ((early, ("a1", "a3")), (late, ("a2",))):
        for key in items:
            roadshows.add_presenter(session, rs, world[key].id)
    session.commit()
    assert [r.id for r in roadshows.visible_to(session, world["uni"])] == [late.id, early.id]
