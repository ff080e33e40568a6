"""Organisation accounts (issue 21 part 3): members with roles, invitations by link, and who may see a confidential
demand's company.

Rules:
- every user of an organisation is its ``manager`` or a ``member``; whoever registers an organisation manages it;
- a manager invites by e-mail address; the invitation is a link with a one-time token (only its hash is stored),
  valid for INVITATION_DAYS days, for that address only;
- the invitee opens the link and either creates an account there (the usual case: the account gets the
  organisation's kind, company or university, and the invited role), or, already signed in with the invited
  address and not yet in any organisation (an account staff created), joins with that account. An account that
  already belongs to an organisation cannot join another by invitation (its listings belong to that one): it is
  refused with a clear message and staff move it. An address whose account is of another type than the
  organisation's kind (a company account invited into a university) is refused at invitation time, since it
  could never join. Registration never joins an organisation by its name;
- a manager removes members and changes roles; the last manager can neither be removed nor demoted. A removed
  member keeps the account but leaves the organisation's listings (they stay with the organisation).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (ORG_MANAGER, ORG_MEMBER, ORG_ROLES, Demand, Introduction, IntroStatus, Organisation,
                    OrganisationInvitation, OrgKind, Role, User, utcnow)

from . import accounts, audit
from .errors import NotFound, ServiceError

INVITATION_DAYS = 14
# the role an invited account gets: the organisation's kind decides it
ROLE_OF_KIND = {OrgKind.COMPANY.value: Role.COMPANY.value, OrgKind.UNIVERSITY.value: Role.UNIVERSITY.value}


def token_hash(token: str) -> str:
    """What is stored of an invitation link's token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_manager(user: Optional[User]) -> bool:
    """True if the user manages an organisation."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.organisation_id is not None
                and user.org_role == ORG_MANAGER)


def members(session: Session, org_id: int) -> list[User]:
    """The organisation's accounts: managers first, then by name."""
    stmt = select(User).where(User.organisation_id == org_id).order_by(
        (User.org_role != ORG_MANAGER), User.display_name, User.id)
    return list(session.scalars(stmt))


def pending_invitations(session: Session, org_id: int) -> list[OrganisationInvitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    stmt = select(OrganisationInvitation).where(
        OrganisationInvitation.organisation_id == org_id, OrganisationInvitation.accepted_at.is_(None),
        OrganisationInvitation.revoked_at.is_(None), OrganisationInvitation.expires_at > utcnow(),
    ).order_by(OrganisationInvitation.id.desc())
    return list(session.scalars(stmt))


def _require_manager(user: User) -> Organisation:
    if not is_manager(user) or user.organisation is None:
        raise ServiceError("organisation.manager_only")
    return user.organisation


def _check_role(org_role: str) -> None:
    if org_role not in ORG_ROLES:
        raise ServiceError("organisation.bad_role")


def invite(session: Session, manager: User, email: str, org_role: str = ORG_MEMBER) -> tuple[OrganisationInvitation, str]:
    """Invite an e-mail address into the manager's organisation; returns the invitation and the link's token
    (shown once: only its hash is stored)."""
    org = _require_manager(manager)
    _check_role(org_role)
    if org.kind not in ROLE_OF_KIND:
        raise ServiceError("organisation.kind_not_invitable")
    address = accounts.normalise_email(email or "")
    if "@" not in address or len(address) > 254:
        raise ServiceError("organisation.bad_email")
    if session.scalar(select(func.count()).select_from(User).where(
            User.organisation_id == org.id, User.email == address)):
        raise ServiceError("organisation.already_member")
    if any(i.email == address for i in pending_invitations(session, org.id)):
        raise ServiceError("organisation.already_invited")
    existing = accounts.get_user_by_email(session, address)
    if existing is not None and existing.role != ROLE_OF_KIND[org.kind]:  # accept_existing would refuse it
        raise ServiceError("organisation.invitee_wrong_kind")
    if existing is not None and existing.organisation_id is not None:  # accept_existing would refuse it too
        raise ServiceError("organisation.invitee_has_organisation")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invitation = OrganisationInvitation(organisation_id=org.id, email=address, org_role=org_role,
                                        token_hash=token_hash(token), invited_by_id=manager.id, created_at=now,
                                        expires_at=now + timedelta(days=INVITATION_DAYS))
    session.add(invitation)
    session.flush()
    audit.record(session, "organisation.invite", actor=manager, target=f"organisation:{org.id}",
                 detail={"role": org_role})
    return invitation, token


def revoke(session: Session, manager: User, invitation_id: int) -> OrganisationInvitation:
    """Withdraw a pending invitation of the manager's organisation."""
    org = _require_manager(manager)
    invitation = session.get(OrganisationInvitation, invitation_id)
    if invitation is None or invitation.organisation_id != org.id or invitation.accepted_at is not None:
        raise NotFound()
    invitation.revoked_at = utcnow()
    return invitation


def invitation_for(session: Session, token: str) -> OrganisationInvitation:
    """The usable invitation behind a link's token; a clear refusal for an unknown, used or expired one."""
    if not token or len(token) > 200:
        raise ServiceError("organisation.invitation_invalid")
    invitation = session.scalar(select(OrganisationInvitation).where(
        OrganisationInvitation.token_hash == token_hash(token)))
    if invitation is None or invitation.revoked_at is not None:
        raise ServiceError("organisation.invitation_invalid")
    if invitation.accepted_at is not None:
        raise ServiceError("organisation.invitation_used")
    if invitation.expires_at <= utcnow():
        raise ServiceError("organisation.invitation_expired")
    return invitation


def accept_new(session: Session, token: str, *, display_name: str, password: str) -> User:
    """Create the invited account (the invited address, the organisation's kind and the invited role)."""
    invitation = invitation_for(session, token)
    org = invitation.organisation
    user = accounts.create_user(session, email=invitation.email, password=password, display_name=display_name,
                                role=ROLE_OF_KIND[org.kind], organisation=org)
    user.org_role = invitation.org_role
    _accepted(session, invitation, user)
    return user


def accept_existing(session: Session, token: str, user: User) -> User:
    """Join with the signed-in account: only the invited address, of the organisation's kind, in no
    organisation yet."""
    invitation = invitation_for(session, token)
    org = invitation.organisation
    if accounts.normalise_email(user.email) != invitation.email:
        raise ServiceError("organisation.invitation_other_email")
    if user.role != ROLE_OF_KIND.get(org.kind):
        raise ServiceError("organisation.invitation_wrong_kind")
    if user.organisation_id is not None:
        raise ServiceError("organisation.has_organisation")
    user.organisation = org
    user.org_role = invitation.org_role
    _accepted(session, invitation, user)
    return user


def _accepted(session: Session, invitation: OrganisationInvitation, user: User) -> None:
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    session.flush()
    audit.record(session, "organisation.join", actor=user, target=f"organisation:{invitation.organisation_id}",
                 detail={"role": invitation.org_role})


def get_member(session: Session, manager: User, member_id: int) -> User:
    """A member of the manager's organisation; NotFound for anyone else."""
    return _member_of(session, manager, member_id)


def _member_of(session: Session, manager: User, member_id: int) -> User:
    org = _require_manager(manager)
    member = session.get(User, member_id)
    if member is None or member.organisation_id != org.id:
        raise NotFound()
    return member


def _managers(session: Session, org_id: int) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.organisation_id == org_id, User.org_role == ORG_MANAGER, User.active.is_(True))) or 0


def remove_member(session: Session, manager: User, member_id: int) -> User:
    """Take a member out of the organisation (the account stays; the organisation's listings stay with it)."""
    member = _member_of(session, manager, member_id)
    if member.org_role == ORG_MANAGER and _managers(session, member.organisation_id) <= 1:
        raise ServiceError("organisation.last_manager")
    org_id = member.organisation_id
    member.organisation = None
    member.organisation_id = None
    member.org_role = None
    session.flush()
    audit.record(session, "organisation.remove", actor=manager, target=f"organisation:{org_id}",
                 detail={"user": member.id})
    return member


def change_role(session: Session, manager: User, member_id: int, org_role: str) -> User:
    """Make a member a manager or a manager a member (the last manager stays one)."""
    _check_role(org_role)
    member = _member_of(session, manager, member_id)
    if member.org_role == ORG_MANAGER and org_role != ORG_MANAGER \
            and _managers(session, member.organisation_id) <= 1:
        raise ServiceError("organisation.last_manager")
    member.org_role = org_role
    audit.record(session, "organisation.role", actor=manager, target=f"organisation:{member.organisation_id}",
                 detail={"user": member.id, "role": org_role})
    return member


# -- confidential demands ---------------------------------------------------------------------------------------
def may_see_company(viewer: Any, demand: Demand, session: Optional[Session] = None) -> bool:
    """Whether the viewer may know who posted a demand: always for one that is not confidential; for a confidential
    one its organisation's members, staff, and a counterpart whose introduction about this demand both sides
    accepted (the owner of the achievement, or a member of its organisation)."""
    from . import listings

    if not getattr(demand, "confidential", False):
        return True
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    if listings.is_reviewer(viewer) or listings.can_edit_listing(viewer, demand):
        return True
    from sqlalchemy.orm import object_session

    from models import Achievement

    session = session or object_session(demand)
    if session is None or demand.id is None:
        return False
    side = Achievement.owner_id == viewer.id
    if viewer.organisation_id is not None:
        side = side | (Achievement.organisation_id == viewer.organisation_id)
    stmt = select(func.count()).select_from(Introduction).join(
        Achievement, Introduction.achievement_id == Achievement.id).where(
        Introduction.demand_id == demand.id, Introduction.status == IntroStatus.ACCEPTED.value, side)
    return bool(session.scalar(stmt))


CONFIDENTIAL_NAME = "保密企业 / Confidential company"


def demand_company_name(demand: Demand, viewer: Any, placeholder: Optional[str] = None) -> str:
    """The name to show for a demand's company: its organisation's name (or the poster's name without one), or the
    placeholder where the demand is confidential and the viewer may not know (may_see_company)."""
    if not may_see_company(viewer, demand):
        return placeholder or CONFIDENTIAL_NAME
    if demand.organisation is not None:
        return demand.organisation.name
    return demand.owner.display_name if demand.owner is not None else ""


def listing_company_name(item: Any, viewer: Any, placeholder: Optional[str] = None) -> str:
    """demand_company_name for a demand; an achievement's organisation name as it is."""
    if getattr(item, "kind", None) == "demand":
        return demand_company_name(item, viewer, placeholder)
    return item.organisation.name if getattr(item, "organisation", None) is not None else ""
