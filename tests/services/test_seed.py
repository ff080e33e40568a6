"""The demo data set: what a newcomer sees after `make run`."""
from __future__ import annotations

import pytest

from sqlalchemy import func, select

from models import Achievement, Challenge, Demand, Notification, Roadshow, User
from services import seed


pytestmark = pytest.mark.slow  # loads the whole demo (not in `make test-fast`)


def test_demo_has_listings_in_every_state_a_roadshow_and_a_challenge(session):
    result = seed.load_demo(session)
    session.flush()
    assert result.demands >= 60 and result.achievements >= 150 and result.users >= 4
    for model in (Demand, Achievement):
        states = dict(session.execute(select(model.status, func.count()).group_by(model.status)).all())
        assert set(states) == {"draft", "submitted", "published"} and states["published"] > 50
    [show] = session.scalars(select(Roadshow)).all()
    assert len(show.presenters) == 5 and 1 <= len(show.invitations) <= 8
    assert all(p.achievement.status == "published" for p in show.presenters)
    assert sum(p.achievement.field.code.startswith("new_energy") for p in show.presenters) == 4
    invited = {i.company_id for i in show.invitations}
    assert all(session.get(Demand, i.demand_id).owner_id == i.company_id for i in show.invitations)
    assert set(session.scalars(select(Notification.user_id).where(Notification.kind == "roadshow_invited"))) \
        == invited
    [challenge] = session.scalars(select(Challenge)).all()
    assert challenge.status == "open" and len(challenge.criteria) == 3
    for role, email in seed.DEMO_LOGINS.items():
        assert session.scalar(select(User.role).where(User.email == email)) == role


def test_the_readme_demo_company_and_university_take_part_in_the_roadshow(session):
    from services import roadshows
    seed.load_demo(session)
    session.flush()
    company, university = (session.scalar(select(User).where(User.email == seed.DEMO_LOGINS[role]))
                           for role in ("company", "university"))
    [show] = session.scalars(select(Roadshow)).all()
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
