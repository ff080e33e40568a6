"""Demands a broker enters on a company's behalf (issue 21 part 4): saved as the company's, in the status
'unconfirmed' (hidden like a draft: publication, search, matching and the index only read published listings)
until the company confirms; then the normal review path, and routing (services/brokerage.py), follow.
Apart from services/brokerage.py because services/listings.py calls the routing there."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Demand, DemandEntry, ReviewEvent, Role, Status, User, utcnow

from . import audit, brokerage, listings, notifications
from .errors import NotFound, ServiceError


def companies(session: Session) -> list[User]:
    """Active company accounts a broker may enter a demand for."""
    return list(session.scalars(select(User).where(User.role == Role.COMPANY.value, User.active.is_(True))
                                .order_by(User.display_name, User.id)))


def enter_for_company(session: Session, broker: User, company_user_id: int, data: dict[str, Any]) -> Demand:
    """A broker enters a demand for a company account: it is saved as the company's, awaiting its confirmation
    (hidden like a draft), and the company is notified."""
    if broker.role not in (Role.BROKER.value, Role.ADMIN.value):
        raise NotFound()
    company = session.get(User, company_user_id)
    if company is None or company.role != Role.COMPANY.value or not company.active:
        raise ServiceError("brokerage.not_a_company")
    demand = listings.create_listing(session, "demand", company, data)
    demand.status = Status.AWAITING_CONFIRMATION.value
    session.add(ReviewEvent(entity_type="demand", entity_id=demand.id, actor=broker, action="enter",
                            from_status=Status.DRAFT.value, to_status=Status.AWAITING_CONFIRMATION.value))
    session.add(DemandEntry(demand_id=demand.id, broker_id=broker.id, entered_at=utcnow()))
    session.flush()
    notifications.notify(session, company.id, "demand_confirm",
                         {"listing_kind": "demand", "listing_id": demand.id, "title": demand.title,
                          "broker": broker.display_name})
    audit.record(session, "demand.entered_for", actor=broker, target=f"demand:{demand.id}",
                 detail={"company": company.id})
    return demand


def entry_for(session: Session, user: User, demand_id: int) -> tuple[Demand, DemandEntry]:
    """A demand entered for the user's account and its entry; NotFound for anyone else (its owner only)."""
    entry = session.get(DemandEntry, demand_id)
    demand = session.get(Demand, demand_id)
    if entry is None or demand is None or not listings.is_owner(user, demand):
        raise NotFound()
    return demand, entry


def confirm_entry(session: Session, user: User, demand_id: int, *, as_draft: bool = False) -> Demand:
    """The company confirms a demand entered for it: it goes to review (and routing) as if it had submitted it;
    as_draft keeps it as the company's draft to change first."""
    demand, entry = entry_for(session, user, demand_id)
    if demand.status != Status.AWAITING_CONFIRMATION.value:
        raise ServiceError("brokerage.already_confirmed")
    entry.confirmed_at = utcnow()
    target = Status.DRAFT.value if as_draft else Status.SUBMITTED.value
    listings._move(session, demand, user, "confirm", target)
    if not as_draft:
        # the broker who entered it keeps it, unless a rule already gave it to someone
        current = brokerage.active_assignment(session, demand.id)
        if current is None:
            broker = session.get(User, entry.broker_id)
            if broker is not None and broker.role == Role.BROKER.value and broker.active:
                brokerage.assign_to(session, demand, broker, "self", broker)
    return demand


def awaiting(session: Session, user: User) -> list[Demand]:
    """Demands entered for the user that wait for the user's confirmation."""
    return list(session.scalars(select(Demand).join(DemandEntry, DemandEntry.demand_id == Demand.id).where(
        Demand.owner_id == user.id, Demand.status == Status.AWAITING_CONFIRMATION.value).order_by(Demand.id)))
