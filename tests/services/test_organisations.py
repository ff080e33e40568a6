"""Organisation accounts (issue 21 part 3): roles, invitations, removal, listings shared by the organisation, and
who may know a confidential demand's company."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, Introduction, IntroStatus, OrganisationInvitation, utcnow
from services import introductions, listings, organisations
from services.errors import NotFound, ServiceError
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


@pytest.fixture
def tto(session, make_user):
    """A university TTO: its manager, and a colleague who joined by invitation."""
    manager = make_user("university", org="西北大学技术转移中心")
    _, token = organisations.invite(session, manager, "colleague@nwu.example.cn")
    colleague = organisations.accept_new(session, token, display_name="赵老师", password=PASSWORD)
    session.commit()
    return manager, colleague


def test_the_registering_user_manages_and_an_invitee_joins_with_the_role(session, tto):
    manager, colleague = tto
    assert manager.org_role == "manager" and organisations.is_manager(manager)
    assert colleague.organisation_id == manager.organisation_id and colleague.org_role == "member"
    assert colleague.role == "university" and colleague.email == "colleague@nwu.example.cn"
    assert not organisations.is_manager(colleague)
    invitation = session.scalar(select(OrganisationInvitation))
    assert invitation.accepted_by_id == colleague.id and invitation.accepted_at is not None
    assert len(invitation.token_hash) == 64  # only the hash is kept
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"organisation.invite", "organisation.join"} <= actions


def test_an_invitation_is_used_once_and_expires(session, make_user):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "a@example.com")
    organisations.accept_new(session, token, display_name="A", password=PASSWORD)
    with pytest.raises(ServiceError) as err:
        organisations.accept_new(session, token, display_name="B", password=PASSWORD)
    assert err.value.code == "organisation.invitation_used"
    invitation, token = organisations.invite(session, manager, "b@example.com")
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    with pytest.raises(ServiceError) as err:
        organisations.invitation_for(session, token)
    assert err.value.code == "organisation.invitation_expired"
    with pytest.raises(ServiceError) as err:
        organisations.invitation_for(session, "no-such-token")
    assert err.value.code == "organisation.invitation_invalid"


def test_only_managers_invite_remove_and_change_roles(session, tto, make_user):
    manager, colleague = tto
    for call in (lambda: organisations.invite(session, colleague, "x@example.com"),
                 lambda: organisations.remove_member(session, colleague, manager.id),
                 lambda: organisations.change_role(session, colleague, colleague.id, "manager")):
        with pytest.raises(ServiceError) as err:
            call()
        assert err.value.code == "organisation.manager_only"
    stranger = make_user("university")
    with pytest.raises(NotFound):
        organisations.remove_member(session, manager, stranger.id)  # not of this organisation
    with pytest.raises(ServiceError) as err:
        organisations.invite(session, manager, colleague.email)
    assert err.value.code == "organisation.already_member"
    organisations.invite(session, manager, "twice@example.com")
    with pytest.raises(ServiceError) as err:
        organisations.invite(session, manager, "Twice@Example.com")
    assert err.value.code == "organisation.already_invited"
    with pytest.raises(ServiceError) as err:
        organisations.invite(session, manager, "y@example.com", "owner")
    assert err.value.code == "organisation.bad_role"


def test_the_last_manager_stays(session, tto):
    manager, colleague = tto
    for call in (lambda: organisations.remove_member(session, manager, manager.id),
                 lambda: organisations.change_role(session, manager, manager.id, "member")):
        with pytest.raises(ServiceError) as err:
            call()
        assert err.value.code == "organisation.last_manager"
    organisations.change_role(session, manager, colleague.id, "manager")
    organisations.change_role(session, manager, manager.id, "member")  # another manager now
    assert manager.org_role == "member" and colleague.org_role == "manager"


def test_members_edit_the_organisations_listings_and_a_removed_member_no_longer_does(session, tto, make_user,
                                                                                      make_listing):
    manager, colleague = tto
    item = make_listing("achievement", manager, status="draft")
    assert listings.can_edit_listing(colleague, item) and listings.can_view_listing(colleague, item)
    assert [x.id for x in listings.owned_by(session, "achievement", colleague)] == [item.id]
    listings.update_listing(session, item, colleague, {"title": "同事改过的成果标题"})
    listings.transition(session, item, colleague, "submit")
    assert item.status == "submitted"
    outsider = make_user("university")
    assert not listings.can_edit_listing(outsider, item) and not listings.can_view_listing(outsider, item)
    with pytest.raises(NotFound):
        listings.get_owned(session, "achievement", item.id, outsider)
    organisations.remove_member(session, manager, colleague.id)
    session.commit()
    assert colleague.organisation_id is None and colleague.org_role is None
    assert not listings.can_edit_listing(colleague, item)
    assert listings.owned_by(session, "achievement", colleague) == []
    assert listings.can_edit_listing(manager, item)  # the listing stays with the organisation


def test_closing_is_for_managers_and_the_poster(session, tto, make_user, make_listing):
    manager, colleague = tto
    broker = make_user("broker")
    item = make_listing("achievement", manager, reviewer=broker)
    with pytest.raises(ServiceError) as err:
        listings.transition(session, item, colleague, "close")
    assert err.value.code == "listing.manager_only"
    listings.transition(session, item, manager, "close")
    assert item.status == "closed"
    own = make_listing("achievement", colleague, reviewer=broker)
    listings.transition(session, own, colleague, "close")  # the member who posted it
    assert own.status == "closed"


def test_an_existing_account_joins_only_without_an_organisation(session, make_user):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "loner@example.com")
    loner = make_user("company", email="loner@example.com")  # registered: has an organisation of its own
    with pytest.raises(ServiceError) as err:
        organisations.accept_existing(session, token, loner)
    assert err.value.code == "organisation.has_organisation"
    loner.organisation_id, loner.org_role = None, None
    other = make_user("company")
    with pytest.raises(ServiceError) as err:
        organisations.accept_existing(session, token, other)
    assert err.value.code == "organisation.invitation_other_email"
    organisations.accept_existing(session, token, loner)
    assert loner.organisation_id == manager.organisation_id and loner.org_role == "member"


def test_a_confidential_demands_company_shows_only_after_an_accepted_introduction(session, make_user,
                                                                                   make_listing):
    broker = make_user("broker")
    company = make_user("company", org="秦川保密电池")
    uni = make_user("university")
    demand = make_listing("demand", company, reviewer=broker, confidential=True)
    achievement = make_listing("achievement", uni, reviewer=broker)
    placeholder = organisations.CONFIDENTIAL_NAME
    assert organisations.demand_company_name(demand, None) == placeholder
    assert organisations.demand_company_name(demand, uni) == placeholder
    assert organisations.demand_company_name(demand, company) == "秦川保密电池"
    assert organisations.demand_company_name(demand, broker) == "秦川保密电池"
    intro = introductions.request_introduction(session, uni, demand.id, achievement.id, "贵司需求与我们的成果高度契合")
    session.commit()
    assert organisations.demand_company_name(demand, uni) == placeholder  # asked, not yet accepted
    introductions.accept(session, intro, company)
    session.commit()
    assert intro.status == IntroStatus.ACCEPTED.value
    assert organisations.demand_company_name(demand, uni) == "秦川保密电池"
    assert organisations.demand_company_name(demand, make_user("university")) == placeholder
    public = make_listing("demand", company, reviewer=broker)
    assert organisations.demand_company_name(public, None) == "秦川保密电池"
    assert session.scalar(select(Introduction.id)) == intro.id


def test_the_demo_gives_two_organisations_several_members(session, make_user, make_listing):
    from services import demo_organisations

    managers = {"company": make_user("company"), "university": make_user("university")}
    shared = make_listing("achievement", managers["university"], status="draft")
    assert demo_organisations.load(session, managers, PASSWORD) == 3
    assert demo_organisations.load(session, managers, PASSWORD) == 0  # once
    session.commit()
    tto = organisations.members(session, managers["university"].organisation_id)
    assert [m.org_role for m in tto] == ["manager", "member", "member"]
    assert all(listings.can_edit_listing(m, shared) for m in tto)
    assert len(organisations.members(session, managers["company"].organisation_id)) == 2
    assert [i.email for i in organisations.pending_invitations(session, managers["company"].organisation_id)] == \
        ["company.li@demo.example.cn"]
