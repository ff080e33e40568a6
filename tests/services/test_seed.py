"""The demo data set: what a newcomer sees after `make run`."""
from __future__ import annotations

import pytest

from sqlalchemy import func, select

from models import Achievement, Challenge, Demand, Notification, Roadshow, User
from services import clock, seed


pytestmark = pytest.mark.slow  # loads the whole demo (not in `make test-fast`)


def test_demo_has_listings_in_every_state_a_roadshow_and_a_challenge(session):
    result = seed.load_demo(session)
    session.flush()
    assert result.demands >= 60 and result.achievements >= 150 and result.users >= 4
    for model in (Demand, Achievement):
        states = dict(session.execute(select(model.status, func.count()).group_by(model.status)).all())
        assert set(states) == {"draft", "submitted", "published"} and states["published"] > 50
    show = session.scalar(select(Roadshow).where(Roadshow.title == "新能源与储能技术专场路演"))  # issue 22 adds more
    assert len(show.presenters) == 5 and 1 <= len(show.invitations) <= 8
    assert all(p.achievement.status == "published" for p in show.presenters)
    assert sum(p.achievement.field.code.startswith("new_energy") for p in show.presenters) == 4
    invited = {i.company_id for i in show.invitations}
    assert all(session.get(Demand, i.demand_id).owner_id == i.company_id for i in show.invitations)
    assert set(session.scalars(select(Notification.user_id).where(Notification.kind == "roadshow_invited"))) \
        == invited
    challenge = session.scalar(select(Challenge).where(Challenge.title == "高镍正极材料循环寿命提升揭榜挂帅"))
    assert challenge.status == "open" and len(challenge.criteria) == 3
    for role, email in seed.DEMO_LOGINS.items():
        assert session.scalar(select(User.role).where(User.email == email)) == role


def test_the_readme_demo_company_and_university_take_part_in_the_roadshow(session):
    from services import roadshows
    seed.load_demo(session)
    session.flush()
    company, university = (session.scalar(select(User).where(User.email == seed.DEMO_LOGINS[role]))
                           for role in ("company", "university"))
    show = session.scalar(select(Roadshow).where(Roadshow.title == "新能源与储能技术专场路演"))  # issue 22 adds more
    [mine] = roadshows.own_presenters(session, show, university)
    invitation = roadshows.invitation_of(session, show, company)
    assert invitation is not None and invitation.status == "invited"
    demand = session.get(Demand, invitation.demand_id)
    assert demand.owner_id == company.id and demand.status == "published"
    assert mine.achievement.status == "published" and mine.achievement.field_id == demand.field_id  # a real pair
    assert show in roadshows.visible_to(session, company) and show in roadshows.visible_to(session, university)
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == company.id, Notification.kind == "roadshow_invited")) == 1
    # the company can take its seat with the printed login
    roadshows.register(session, show.id, company)
    assert roadshows.invitation_of(session, show, company).status == "registered"


def test_demo_programme_has_each_roadshow_type_past_outcomes_and_a_race_with_two_winners(session):
    from datetime import timedelta

    from models import ChallengeApplication, Opportunity, RoadshowMeeting
    from services import challenge_race, programme_stats
    seed.load_demo(session)
    session.flush()
    today = clock.today()
    coming = session.scalars(select(Roadshow).where(Roadshow.held_on >= today,
                                                    Roadshow.held_on <= today + timedelta(days=31))).all()
    assert {"achievement", "product", "scenario"} <= {r.kind for r in coming}
    past = session.scalars(select(Roadshow).where(Roadshow.held_on < today)).all()
    assert len(past) == 2 and all(p.recording_link for r in past for p in r.presenters)
    both = session.scalars(select(RoadshowMeeting).where(RoadshowMeeting.roadshow_id.in_([r.id for r in past]),
                                                         RoadshowMeeting.presenter_intent == "interested")).all()
    assert both and session.scalar(select(func.count()).select_from(Opportunity)) >= len(both)
    company = session.scalar(select(User).where(User.email == seed.DEMO_LOGINS["company"]))
    assert any(i.company_id == company.id and i.status == "registered" for r in coming for i in r.invitations)
    race = session.scalar(select(Challenge).where(Challenge.status == "announced", Challenge.max_winners == 2))
    winners = challenge_race.winners(race)
    assert len(winners) == 2 and all(len(w.milestones) == 3 for w in winners)
    assert race.issuer_org_id == company.organisation_id
    assert any(w.partners for w in winners) and 0 < challenge_race.challenge_progress(race) < 100
    assert session.scalar(select(func.count()).select_from(ChallengeApplication).where(
        ChallengeApplication.opportunity_id.is_not(None))) >= 1
    figures = programme_stats.figures(session, year=today.year)
    assert figures.roadshows >= 1 and figures.meetings >= len(both)
