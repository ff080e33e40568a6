"""The roadshow programme: types, calendar, iCalendar, open registration with a waiting list (also under 50
concurrent registrations), applications to present, links. No embedding model: listings are published with a
plain UPDATE and not indexed (the index is not what is tested here)."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from models import Achievement, Notification, Roadshow, RoadshowInvitation
from services import clock, ical, roadshow_programme as programme, roadshows
from services.errors import NotFound, ServiceError
from tests.conftest import achievement_data


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Listings committed here are not indexed (the index is not what is tested): before the app is built."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def roadshow_data(**over):
    data = {"title": "新能源产品路演", "theme": "储能", "field_code": "new_energy", "kind": "product",
            "city": "西安", "agenda": "14:00 开场\n14:10 路演", "open_registration": True,
            "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 2, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10}
    data.update(over)
    return data


def published_achievement(session, owner, **over):
    """An achievement published without the index (a plain UPDATE of its status)."""
    from services import listings
    item = listings.create_listing(session, "achievement", owner, achievement_data(**over))
    session.flush()
    session.execute(update(Achievement).where(Achievement.id == item.id).values(status="published"))
    session.commit()
    session.expire(item)
    return item


@pytest.fixture
def broker(make_user):
    return make_user("broker")


def test_types_are_checked_and_stored(session, broker):
    rs = roadshows.create_roadshow(session, broker, roadshow_data(kind="scenario"))
    assert rs.kind == "scenario" and rs.city == "西安" and rs.open_registration
    with pytest.raises(ServiceError) as bad:
        roadshows.create_roadshow(session, broker, roadshow_data(kind="concert"))
    assert bad.value.code == "programme.bad_kind"
    with pytest.raises(ServiceError) as region:
        roadshows.create_roadshow(session, broker, roadshow_data(region_code="atlantis"))
    assert region.value.code == "programme.bad_region"


def test_calendar_splits_upcoming_and_past_filters_and_pages(session, broker):
    for n in range(5):
        roadshows.create_roadshow(session, broker, roadshow_data(title=f"西安路演{n}", held_on=clock.today() + timedelta(days=n)))
    roadshows.create_roadshow(session, broker, roadshow_data(title="宝鸡路演", city="宝鸡", field_code="smart_manufacturing"))
    past = roadshows.create_roadshow(session, broker, roadshow_data(title="去年路演"))
    past.held_on = clock.today() - timedelta(days=3)
    session.commit()
    page1 = programme.calendar(session, city="西安", per_page=2)
    assert page1.total == 5 and page1.pages == 3 and [r.title for r in page1.rows] == ["西安路演0", "西安路演1"]
    assert [r.title for r in programme.calendar(session, city="西安", per_page=2, page=3).rows] == ["西安路演4"]
    assert [r.title for r in programme.calendar(session, field_code="smart_manufacturing").rows] == ["宝鸡路演"]
    assert [r.title for r in programme.calendar(session, past=True).rows] == ["去年路演"]
    assert programme.calendar(session, kind="scenario").total == 0
    assert programme.cities(session) == sorted(["宝鸡", "西安"])


def test_icalendar_escapes_folds_and_stamps():
    long = "路演，" * 40 + "a;b,c\\d\nnext"
    start = ical.local(date(2027, 1, 5), "14:00")
    text = ical.calendar([ical.Event(uid="roadshow-1@techmatch", start=start, end=start + timedelta(hours=2),
                                     summary=long, location="西安; 高新区")], "路演日历",
                         stamp=datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    lines = text.split("\r\n")
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)
    assert "DTSTART:20270105T060000Z" in lines and "DTSTAMP:20270101T000000Z" in lines
    assert "UID:roadshow-1@techmatch" in lines and "LOCATION:西安\\; 高新区" in lines
    unfolded = text.replace("\r\n ", "")
    assert "a\\;b\\,c\\\\d\\nnext" in unfolded and "路演\\，" not in unfolded
    assert "\n" not in text.replace("\r\n", "")


def test_open_registration_seats_then_waiting_list_moves_up_on_cancellation(session, broker, make_user):
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=2))
    session.commit()
    a, b, c, d = (make_user("company") for _ in range(4))
    investor = programme.register_open(session, rs.id, a, "investor")
    programme.register_open(session, rs.id, b)
    waiting_c = programme.register_open(session, rs.id, c)
    waiting_d = programme.register_open(session, rs.id, d)
    session.commit()
    assert investor.status == "registered" and investor.participant == "investor" and investor.source == "self"
    assert [w.company_id for w in programme.waiting_list(session, rs.id)] == [c.id, d.id]
    assert programme.waiting_position(session, waiting_d) == 2
    assert programme.counts(session, rs) == {"company": 1, "investor": 1, "waiting": 2}
    with pytest.raises(ServiceError) as again:
        programme.register_open(session, rs.id, c)
    assert again.value.code == "programme.already_waiting" and again.value.params["position"] == 1
    session.rollback()
    programme.cancel(session, rs.id, a)
    session.commit()
    session.expire_all()
    assert session.get(RoadshowInvitation, waiting_c.id).status == "registered"
    assert session.get(Roadshow, rs.id).seats_taken == 2
    assert programme.waiting_position(session, session.get(RoadshowInvitation, waiting_d.id)) == 1
    told = session.scalars(select(Notification).where(Notification.user_id == c.id)).all()
    assert [n.kind for n in told] == ["roadshow_seat"]
    programme.cancel(session, rs.id, d)  # leaving the waiting list frees nothing
    programme.cancel(session, rs.id, b)  # nobody waits: the seat is free again
    session.commit()
    session.expire_all()
    assert session.get(Roadshow, rs.id).seats_taken == 1 and programme.waiting_list(session, rs.id) == []


def test_registration_refusals(session, broker, make_user):
    closed = roadshows.create_roadshow(session, broker, roadshow_data(open_registration=False))
    rs = roadshows.create_roadshow(session, broker, roadshow_data())
    session.commit()
    company = make_user("company")
    for args, code in [((closed.id, company), "programme.registration_closed"),
                       ((rs.id, make_user("university")), "programme.register_role"),
                       ((rs.id, company, "banker"), "programme.bad_participant")]:
        with pytest.raises(ServiceError) as err:
            programme.register_open(session, *args)
        assert err.value.code == code
        session.rollback()
    with pytest.raises(NotFound):
        programme.register_open(session, 999_999, company)
    session.rollback()
    with pytest.raises(ServiceError) as none:
        programme.cancel(session, rs.id, company)
    assert none.value.code == "programme.not_registered"


def test_declining_an_invitation_hands_the_seat_to_the_waiting_list(session, broker, make_user):
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=1))
    invited, waiting = make_user("company"), make_user("company")
    roadshows.invite(session, rs, invited.id)
    session.commit()
    roadshows.register(session, rs.id, invited)
    programme.register_open(session, rs.id, waiting)
    session.commit()
    roadshows.decline(session, rs.id, invited)
    session.commit()
    assert programme.entry_of(session, rs.id, waiting).status == "registered"
    assert session.get(Roadshow, rs.id).seats_taken == 1


def race(app, roadshow_id: int, company_ids: list[int]) -> list[str]:
    """Every company registers at once, each with its own engine (as separate web processes would)."""
    from sqlalchemy.orm import Session

    from models import User
    from web.db import make_engine

    url = app.config["DATABASE_URL"]
    barrier = threading.Barrier(len(company_ids))
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(company_id: int) -> None:
        engine = make_engine(url)
        try:
            with Session(engine) as s:
                company = s.get(User, company_id)
                barrier.wait()
                try:
                    row = programme.register_open(s, roadshow_id, company)
                    result = row.status
                    s.commit()
                except ServiceError as err:
                    s.rollback()
                    result = err.code
            with lock:
                outcomes.append(result)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=book, args=(c,)) for c in company_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def check_race(app, session, make_user, broker) -> None:
    """50 registrations for 10 seats: exactly 10 seats, 40 waiting in one strict order (shared with tests/pg)."""
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=10))
    session.commit()
    companies = [make_user("company").id for _ in range(50)]
    outcomes = race(app, rs.id, companies)
    assert sorted(outcomes) == ["registered"] * 10 + ["waiting"] * 40
    session.expire_all()
    assert session.get(Roadshow, rs.id).seats_taken == 10
    registered = session.scalar(select(func.count()).select_from(RoadshowInvitation).where(
        RoadshowInvitation.roadshow_id == rs.id, RoadshowInvitation.status == "registered"))
    assert registered == 10
    waiting = programme.waiting_list(session, rs.id)
    tickets = [w.ticket for w in waiting]
    assert len(waiting) == 40 and tickets == sorted(tickets) and len(set(tickets)) == 40
    seated = session.scalars(select(RoadshowInvitation.ticket).where(RoadshowInvitation.roadshow_id == rs.id,
                                                                     RoadshowInvitation.status == "registered")).all()
    assert max(seated) < min(tickets)  # first come, first seated: every seat went before anyone waited
    assert [programme.waiting_position(session, w) for w in waiting] == list(range(1, 41))


def test_fifty_concurrent_registrations_for_ten_seats_give_ten_and_an_ordered_waiting_list(app, session, make_user,
                                                                                           broker):
    check_race(app, session, make_user, broker)


def test_universities_apply_to_present_and_brokers_decide(session, broker, make_user):
    rs = roadshows.create_roadshow(session, broker, roadshow_data(presentation_slots=1))
    uni, other = make_user("university"), make_user("university")
    mine = published_achievement(session, uni)
    second = published_achievement(session, uni, title="第二项成果：钠离子电池正极材料")
    theirs = published_achievement(session, other, title="别人的成果：固态电解质")
    with pytest.raises(ServiceError) as not_mine:
        programme.apply_to_present(session, rs, uni, theirs.id)
    assert not_mine.value.code == "programme.apply_achievement"
    application = programme.apply_to_present(session, rs, uni, mine.id, "三分钟讲清楚")
    late = programme.apply_to_present(session, rs, uni, second.id)
    session.commit()
    with pytest.raises(ServiceError) as twice:
        programme.apply_to_present(session, rs, uni, mine.id)
    assert twice.value.code == "programme.already_applied"
    session.rollback()
    assert programme.applications(session, rs, other) == []
    assert [a.id for a in programme.applications(session, rs, broker)] == [application.id, late.id]
    programme.decide(session, rs, application.id, True)
    session.commit()
    assert [p.achievement_id for p in rs.presenters] == [mine.id]
    with pytest.raises(ServiceError) as full:  # one presentation slot: accepting another is refused
        programme.decide(session, rs, late.id, True)
    assert full.value.code == "roadshow.presenters_full"
    session.rollback()
    programme.decide(session, rs, late.id, False, "主题不符")
    session.commit()
    kinds = session.scalars(select(Notification.params).where(Notification.user_id == uni.id,
                                                              Notification.kind == "roadshow_application")).all()
    assert sorted(k["accepted"] for k in kinds) == [False, True]
    with pytest.raises(ServiceError) as decided:
        programme.decide(session, rs, late.id, True)
    assert decided.value.code == "programme.already_decided"


def test_links_are_checked_and_meeting_links_come_from_the_template(session, broker, make_user):
    from models import RoadshowMeeting
    rs = roadshows.create_roadshow(session, broker, roadshow_data(
        meeting_link_template="https://meet.example.cn/rs-{slot}-{table}"))
    uni = make_user("university")
    presenter = roadshows.add_presenter(session, rs, published_achievement(session, uni).id)
    programme.set_presenter_links(session, rs, presenter.id, "https://live.example.cn/1", "")
    with pytest.raises(ServiceError) as bad:
        programme.set_presenter_links(session, rs, presenter.id, "javascript:alert(1)", "")
    assert bad.value.code == "programme.bad_link"
    assert roadshows.meeting_link_for(rs, 2, 3) == "https://meet.example.cn/rs-2-3"
    company = make_user("company")
    meeting = RoadshowMeeting(roadshow_id=rs.id, company_id=company.id, presenter_id=presenter.id, slot=1,
                              table_no=1, score=50.0)
    session.add(meeting)
    session.flush()
    programme.set_meeting_link(session, rs, meeting.id, "https://meet.example.cn/x")
    assert meeting.meeting_link == "https://meet.example.cn/x"
