"""The roadshow programme and 揭榜挂帅 end to end through the pages: public calendar and feed, public roadshow
page without contacts, self-registration with a waiting list, applications to present, online links, figures,
and a challenge from demands raced by two winning teams with milestones and an acceptance. No embedding model:
listings are published with a plain UPDATE and not indexed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from models import (Achievement, Challenge, ChallengeApplication, Demand, Notification, Opportunity, Roadshow,
                    RoadshowInvitation, RoadshowMeeting)
from services import challenges, clock, roadshows
from tests.conftest import achievement_data, demand_data
from tests.services.test_roadshow_programme import roadshow_data


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def publish(session, kind, owner, **over):
    from services import listings
    data = demand_data(**over) if kind == "demand" else achievement_data(**over)
    item = listings.create_listing(session, kind, owner, data)
    session.flush()
    model = Demand if kind == "demand" else Achievement
    session.execute(update(model).where(model.id == item.id).values(status="published"))
    session.commit()
    session.expire(item)
    return item


def english(client):
    client.submit("/lang/en", {"next": "/"}, form_url="/")


def logout(client):
    client.post("/logout", data={"csrf_token": client.token("/")})


@pytest.fixture
def show(session, make_user):
    broker = make_user("broker")
    uni = make_user("university", org="西北工业大学")
    ach = publish(session, "achievement", uni, contact_email="secret.presenter@leak.test", contact_phone="17700001111")
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=1, online_link="https://live.example.cn/rs"))
    presenter = roadshows.add_presenter(session, rs, ach.id)
    session.commit()
    return {"broker": broker, "uni": uni, "ach": ach, "rs": rs, "presenter": presenter}


def test_visitor_browses_the_calendar_and_the_public_page_without_contacts(client, show, session):
    page = text(client.get("/programme/?city=西安"))
    assert show["rs"].title in page and "calendar.ics" in page
    assert show["rs"].title not in text(client.get("/programme/?when=past"))
    public = text(client.get(f"/programme/roadshows/{show['rs'].id}"))
    assert show["ach"].title in public and "西北工业大学" in public and "https://live.example.cn/rs" in public
    assert "14:10 路演" in public
    assert "secret.presenter@leak.test" not in public and "17700001111" not in public
    feed = client.get("/programme/calendar.ics?kind=product")
    assert feed.mimetype == "text/calendar"
    body = text(feed)
    assert body.startswith("BEGIN:VCALENDAR\r\n") and f"UID:roadshow-{show['rs'].id}@" in body
    assert "DTSTAMP:" in body and "secret.presenter" not in body
    assert "BEGIN:VEVENT" not in text(client.get("/programme/calendar.ics?kind=scenario"))
    assert client.get("/programme/roadshows/999999").status_code == 404


def test_companies_and_investors_register_and_the_waiting_list_moves_up(client, login, make_user, show, session, zh):
    first, second = make_user("company"), make_user("company")
    url = f"/programme/roadshows/{show['rs'].id}"
    login(first)
    resp = client.submit(f"{url}/register", {"participant": "investor"}, form_url=url, follow_redirects=True)
    assert zh("You are registered.") in text(resp)
    logout(client)
    login(second)
    resp = client.submit(f"{url}/register", {"participant": "company"}, form_url=url, follow_redirects=True)
    assert zh("All seats are taken: you are number %(n)s on the waiting list. You will be told when a seat is yours.",
              n=1) in text(resp)
    bad = client.submit(f"{url}/register", {"participant": "banker"}, form_url=url, follow_redirects=True)
    assert bad.status_code == 200 and zh("Choose one of the options in the list.") in text(bad)
    logout(client)
    login(first)
    client.submit(f"{url}/cancel", {}, form_url=url)
    session.expire_all()
    row = session.scalar(select(RoadshowInvitation).where(RoadshowInvitation.company_id == second.id))
    assert row.status == "registered"
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == second.id, Notification.kind == "roadshow_seat")) == 1
    english(client)
    again = client.submit(f"{url}/cancel", {}, form_url=url, follow_redirects=True)
    assert "You hold no seat and no place on the waiting list of this roadshow." in text(again)


def test_universities_apply_and_the_broker_accepts_with_links(client, login, make_user, show, session, zh):
    other_uni = make_user("university", org="长安大学")
    ach = publish(session, "achievement", other_uni, title="钠离子电池层状氧化物正极", contact_email="x2@leak.test")
    rs = show["rs"]
    rs.presentation_slots = 3
    session.commit()
    url = f"/programme/roadshows/{rs.id}"
    login(other_uni)
    resp = client.submit(f"{url}/apply", {"achievement_id": ach.id, "pitch": "适合储能场景"}, form_url=url,
                         follow_redirects=True)
    assert zh("Your application to present is submitted; the broker will decide.") in text(resp)
    twice = client.submit(f"{url}/apply", {"achievement_id": ach.id}, form_url=url, follow_redirects=True)
    assert zh("This achievement has already applied to present at this roadshow.") in text(twice)
    logout(client)
    login(show["broker"])
    from models import RoadshowApplication
    application_id = session.scalar(select(RoadshowApplication.id).where(RoadshowApplication.achievement_id == ach.id))
    client.submit(f"{url}/applications/{application_id}/decide", {"decision": "accept"}, form_url=url)
    session.expire_all()
    assert ach.id in [p.achievement_id for p in session.get(Roadshow, rs.id).presenters]
    english(client)
    bad = client.submit(f"{url}/presenters/{show['presenter'].id}/links",
                        {"live_link": "ftp://nope", "recording_link": ""}, form_url=url, follow_redirects=True)
    assert "Enter a link starting with http:// or https://." in text(bad)
    client.submit(f"{url}/presenters/{show['presenter'].id}/links",
                  {"live_link": "https://live.example.cn/p1", "recording_link": "https://rec.example.cn/p1"}, form_url=url)
    assert "https://rec.example.cn/p1" in text(client.get(url))


def test_the_schedule_carries_meeting_links_into_the_participants_calendar(client, login, make_user, show, session):
    company = make_user("company", org="秦川储能")
    rs = show["rs"]
    rs.meeting_link_template = "https://meet.example.cn/{slot}-{table}"
    roadshows.invite(session, rs, company.id)
    session.commit()
    roadshows.register(session, rs.id, company)
    # wishes need the engine's scores and the solver: the scheduled meeting is stored as build_schedule stores it
    session.add(RoadshowMeeting(roadshow_id=rs.id, company_id=company.id, presenter_id=show["presenter"].id, slot=2,
                                table_no=1, score=60.0, meeting_link=roadshows.meeting_link_for(rs, 2, 1)))
    session.commit()
    login(company)
    ics = text(client.get(f"/programme/roadshows/{rs.id}.ics"))
    assert ics.count("BEGIN:VEVENT") == 2 and "https://meet.example.cn/2-1" in ics.replace("\r\n ", "")
    assert "https://meet.example.cn/2-1" in text(client.get(f"/programme/roadshows/{rs.id}"))
    logout(client)
    assert text(client.get(f"/programme/roadshows/{rs.id}.ics")).count("BEGIN:VEVENT") == 1


def test_figures_page_shows_the_sql_counts_and_lists_every_roadshow_paged(client, make_user, session):
    broker = make_user("broker")
    for n in range(25):
        roadshows.create_roadshow(session, broker, roadshow_data(title=f"路演{n:02d}", kind=("product", "scenario")[n % 2]))
    session.commit()
    year = (clock.today() + timedelta(days=10)).year  # roadshow_data's date
    page = text(client.get(f"/programme/figures?year={year}"))
    assert 'id="fig-roadshows">25<' in page and 'id="fig-kind-scenario">12<' in page
    assert page.count('href="/programme/roadshows/') == 20  # every roadshow, 20 per page
    assert text(client.get(f"/programme/figures?page=2&year={year}")).count('href="/programme/roadshows/') == 5


def test_bad_figures_and_calendar_arguments_never_fail(client):
    for url in ("/programme/?page=abc", "/programme/?page=-3&kind=<script>", "/programme/figures?year=99999",
                "/programme/figures?region=nowhere&page=0", "/programme/calendar.ics?field=%00"):
        assert client.get(url).status_code in (200, 400), url  # NUL bytes: the input guard's 400


def test_challenge_from_demands_raced_by_two_winners_end_to_end(client, login, make_user, session, zh):
    broker = make_user("broker")
    issuer = make_user("company", org="陕西电池集团")
    d1 = publish(session, "demand", issuer, contact_email="issuer@leak.test")
    d2 = publish(session, "demand", issuer, title="电池包热失控预警与阻隔技术")
    uni = make_user("university", org="西安交通大学")
    partner_company = make_user("company", org="秦创原新材料")
    ach = publish(session, "achievement", uni)
    lone = make_user("company", org="独立攻关公司")
    login(broker)
    resp = client.submit("/programme/challenges/new", {
        "demand_ids": [d1.id, d2.id], "title": "动力电池安全揭榜", "problem": "高镍电池热失控风险高，需要从材料到系统的安全防护技术方案。",
        "indicators": "热失控蔓延时间≥30min", "reward": "300", "budget": "600", "max_winners": "2",
        "deadline": (clock.today() + timedelta(days=20)).isoformat(), "eligibility": "",
        "criteria": "技术先进性 | scientist | 60\n产业化 | entrepreneur | 40"})
    assert resp.status_code == 302, text(resp)[:2000]
    challenge = session.scalar(select(Challenge).where(Challenge.title == "动力电池安全揭榜"))
    assert challenge.issuer.name == "陕西电池集团" and challenge.budget == 600 and challenge.max_winners == 2
    assert sorted(d.demand_id for d in challenge.demands) == sorted([d1.id, d2.id])
    bad = client.submit("/programme/challenges/new", {"demand_ids": [], "title": "x"}, follow_redirects=True)
    assert zh("Choose at least one published demand.") in text(bad)
    logout(client)
    race = f"/programme/challenges/{challenge.id}"
    login(uni)
    org_id = partner_company.organisation_id
    application = {"team": "西交大+秦创原联合团队", "approach": "正极包覆与电池包隔热层协同，降低热失控风险并延缓蔓延。",
                   "achievement_ids": [ach.id]}
    page = client.get(race).get_data(as_text=True)
    assert "秦创原新材料" not in page  # the platform does not list every organisation to every applicant
    for typed, message in (("秦创原新材料\n不存在的公司", zh(
            "No company or university is registered as %(names)s: type each partner's name as it is registered on "
            "the platform, one per line.", names="不存在的公司")),
                           ("西安交通大学", zh("Your own organisation is the applicant, not a partner: leave it out.")),
                           ("\n".join(f"伙伴{i}" for i in range(6)), zh("A joint application has at most %(n)s partners.",
                                                                        n=5))):
        refused = client.submit(f"{race}/apply", dict(application, partners=typed), form_url=race)
        assert refused.status_code == 422 and message in text(refused), typed
        assert typed.split("\n")[0] in text(refused)  # what was typed is kept
    resp = client.submit(f"{race}/apply", dict(application, partners="秦创原新材料"), form_url=race,
                         follow_redirects=True)
    assert zh("Your application is submitted.") in text(resp)
    logout(client)
    login(lone)
    client.submit(f"{race}/apply", {"team": "独立团队", "approach": "电池管理系统早期预警算法，识别热失控前兆并主动隔离。"}, form_url=race)
    logout(client)
    session.expire_all()
    apps = {a.applicant_id: a for a in session.get(Challenge, challenge.id).applications}
    assert set(apps) == {uni.id, lone.id} and [p.organisation_id for p in apps[uni.id].partners] == [org_id]
    # the deadline passes; the broker shortlists both (existing page), then both win
    session.execute(update(Challenge).where(Challenge.id == challenge.id).values(deadline=clock.today() - timedelta(days=1)))
    session.commit()
    ch = session.get(Challenge, challenge.id)
    challenges.shortlist(session, ch, [a.id for a in apps.values()])
    session.commit()
    login(broker)
    client.submit(f"{race}/award", {"application_ids": [apps[uni.id].id, apps[lone.id].id]}, form_url=race)
    session.expire_all()
    ch = session.get(Challenge, challenge.id)
    assert ch.status == "announced" and sorted(a.place for a in ch.applications) == ["1", "2"]
    results = session.execute(select(Notification.user_id, Notification.params).where(
        Notification.kind == "challenge_result")).all()
    told = {(u, p["result"]) for u, p in results}
    assert {(uni.id, "winner"), (partner_company.id, "winner"), (lone.id, "winner"), (uni.id, "shortlisted")} <= told
    opps = session.scalars(select(Opportunity).where(Opportunity.achievement_id == ach.id)).all()
    assert sorted(o.demand_id for o in opps) == sorted([d1.id, d2.id])
    assert session.get(ChallengeApplication, apps[uni.id].id).opportunity_id in [o.id for o in opps]
    # milestones, progress rolling up, acceptance by the panel
    win = apps[uni.id].id
    client.submit(f"{race}/applications/{win}/milestones", {"due_on": (clock.today() + timedelta(days=90)).isoformat(),
                                                              "deliverable": "样品电池包", "amount": "100"}, form_url=race)
    client.submit(f"{race}/applications/{win}/milestones", {"due_on": (clock.today() + timedelta(days=180)).isoformat(),
                                                              "deliverable": "中试验证报告", "amount": "300"}, form_url=race)
    english(client)
    bad = client.submit(f"{race}/applications/{win}/milestones", {"due_on": "", "deliverable": "", "amount": "abc"},
                        form_url=race, follow_redirects=True)
    assert "Enter a date, like 2026-12-01." in text(bad)
    session.expire_all()
    stones = session.get(ChallengeApplication, win).milestones
    client.submit(f"{race}/milestones/{stones[0].id}/progress", {"progress": "100"}, form_url=race)
    over = client.submit(f"{race}/milestones/{stones[1].id}/progress", {"progress": "101"}, form_url=race,
                         follow_redirects=True)
    assert "Enter a whole number from 0 to 100." in text(over)
    page = text(client.get(race))
    assert 'id="progress">12.5%<' in page  # (100 x 100 + 0 x 300) / 400 = 25 for the team, / 2 teams
    challenges.assign_panelist(session, session.get(Challenge, challenge.id), broker.id)
    session.commit()
    client.submit(f"{race}/applications/{win}/acceptance", {"score": "82"}, form_url=race)
    client.submit(f"{race}/applications/{win}/conclude", {}, form_url=race)
    session.expire_all()
    done = session.get(ChallengeApplication, win)
    assert done.acceptance_score == 82 and done.acceptance_passed
    board = text(client.get("/programme/challenges/"))
    assert "动力电池安全揭榜" in board and "西安交通大学 + 秦创原新材料" in board and "issuer@leak.test" not in board
