"""Who is on a listing's owning side, as plain queries over the models: a leaf module, so that the services which
notify owners (services.notifications) need not import the listing service (which imports brokerage, which
notifies). The rule itself is services.listings.can_edit_listing."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ORG_ROLES, Role, User

OWNER_ROLE = {"demand": Role.COMPANY.value, "achievement": Role.UNIVERSITY.value}  # who posts each kind


def side_user_ids(session: Session, listing: Any) -> list[int]:
    """The active accounts on a listing's owning side: its organisation's managers and members of the listing's
    owner role, or its poster when it has no organisation. Notifications meant for 'the owner' go to each of them;
    a poster who has left the organisation is no longer on it."""
    if listing.organisation_id is None:
        return [listing.owner_id] if listing.owner_id is not None else []
    return list(session.scalars(select(User.id).where(
        User.organisation_id == listing.organisation_id, User.role == OWNER_ROLE[listing.kind],
        User.org_role.in_(ORG_ROLES), User.active.is_(True)).order_by(User.id)))
