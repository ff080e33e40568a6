"""Introduction rules at the service level: consent per side, one live per pair, who may answer."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from models import Introduction
from services import introductions as intro_svc
from services import listings
from services.errors import NotFound, ServiceError

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


@pytest.fixture
def pair(make_user, make_listing):
    broker = make_user("broker")
    company, university = make_user("company"), make_user("university")
    return {"broker": broker, "company": company, "university": university,
            "demand": make_listing("demand", company, reviewer=broker),
            "achievement": make_listing("achievement", university, reviewer=broker)}


def test_owner_request_consents_for_its_side_and_the_other_side_accepts(session, pair):
    intro = intro_svc.request_introduction(session, pair["company"], pair["demand"].id, pair["achievement"].id, "r")
    assert intro.requested_side == "demand" and intro_svc.pending_sides(intro) == ["achievement"]
    assert not listings.can_see_contact(pair["company"], pair["achievement"])
    intro_svc.accept(session, intro, pair["university"])
    session.flush()
    assert intro.status == "accepted"
    assert listings.can_see_contact(pair["company"], pair["achievement"])
    assert listings.can_see_contact(pair["university"], pair["demand"])


def test_only_one_live_introduction_per_pair_even_bypassing_the_service(session, pair):
    intro_svc.request_introduction(session, pair["company"], pair["demand"].id, pair["achievement"].id, "r")
    with pytest.raises(ServiceError) as err:
        intro_svc.request_introduction(session, pair["broker"], pair["demand"].id, pair["achievement"].id, "r")
    assert err.value.code == "intro.exists"
    session.add(Introduction(demand_id=pair["demand"].id, achievement_id=pair["achievement"].id,
                             requested_by_id=pair["broker"].id, requested_side="broker", reason="x",
                             status="requested"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_after_withdrawal_a_new_request_is_possible(session, pair):
    first = intro_svc.request_introduction(session, pair["company"], pair["demand"].id, pair["achievement"].id, "r")
    intro_svc.withdraw(session, first, pair["university"])
    session.flush()
    second = intro_svc.request_introduction(session, pair["university"], pair["demand"].id,
                                            pair["achievement"].id, "r2")
    assert second.requested_side == "achievement" and first.status == "withdrawn"


def test_unpublished_or_invisible_listings_cannot_be_introduced(session, pair, make_listing):
    draft = make_listing("demand", pair["company"], status="draft")
    with pytest.raises(ServiceError) as err:
        intro_svc.request_introduction(session, pair["company"], draft.id, pair["achievement"].id, "r")
    assert err.value.code == "intro.not_published"
    with pytest.raises(NotFound):
        intro_svc.request_introduction(session, pair["university"], draft.id, pair["achievement"].id, "r")


def test_strangers_cannot_request_answer_or_withdraw(session, pair, make_user):
    stranger = make_user("company")
    with pytest.raises(ServiceError) as err:
        intro_svc.request_introduction(session, stranger, pair["demand"].id, pair["achievement"].id, "r")
    assert err.value.code == "intro.not_a_party"
    intro = intro_svc.request_introduction(session, pair["broker"], pair["demand"].id, pair["achievement"].id, "r")
    with pytest.raises(NotFound):
        intro_svc.get_for(session, intro.id, stranger)
    assert not intro_svc.can_answer(stranger, intro) and not intro_svc.can_withdraw(stranger, intro)


def test_decline_shows_as_not_taken_up_except_to_the_decliner(session, pair):
    intro = intro_svc.request_introduction(session, pair["company"], pair["demand"].id, pair["achievement"].id, "r")
    intro_svc.decline(session, intro, pair["university"])
    assert intro_svc.shown_status(intro, pair["company"]) == "not_taken_up"
    assert intro_svc.shown_status(intro, pair["broker"]) == "not_taken_up"
    assert intro_svc.shown_status(intro, pair["university"]) == "declined"
    with pytest.raises(ServiceError):
        intro_svc.accept(session, intro, pair["university"])
