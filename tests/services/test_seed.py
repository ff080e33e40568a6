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
    assert len(show.presenters) == 4 and 1 <= len(show.invitations) <= 8
    assert all(p.achievement.status == "published" and p.achievement.field.code.startswith("new_energy")
               for p in show.presenters)
    invited = {i.company_id for i in show.invitations}
    assert all(session.get(Demand, i.demand_id).owner_id == i.company_id for i in show.invitations)
    assert set(session.scalars(select(Notification.user_id).where(Notification.kind == "roadshow_invited"))) \
        == invited
    [challenge] = session.scalars(select(Challenge)).all()
    assert challenge.status == "open" and len(challenge.criteria) == 3
    for role, email in seed.DEMO_LOGINS.items():
        assert session.scalar(select(User.role).where(User.email == email)) == role
