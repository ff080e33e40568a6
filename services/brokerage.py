"""Broker operations (issue 21 part 4): routing new demands to brokers by field and region rules (round robin
within a rule), caseloads and the overdue queue, reassignment, demands a broker enters on a company's behalf
(the company confirms before review), broker profiles, and the per-broker performance figures.

Routing runs when a demand enters review (services/listings.py calls route_demand from its one status-move
function). The most specific matching rule wins: field and region > region > field > catch-all; then the higher
priority, then the deeper region node, then the exact field over its parent, then the older rule. A rule whose
brokers are all inactive is passed over; no rule at all leaves the demand unassigned (it shows in the queue)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from models import (CERTIFICATE_LEVELS, BrokerProfile, Demand, DemandAssignment, Field,
                    Introduction, Opportunity, OpportunityEvent, Region, ReviewEvent, Role, RoutingRule, Status,
                    TechContract, User, utcnow)

from . import audit, notifications
from .errors import NotFound, ServiceError

OPEN_STATUSES = (Status.SUBMITTED.value, Status.PUBLISHED.value)
DEFAULT_OVERDUE_DAYS = 14
OVERDUE_DAYS_RANGE = (1, 365)


# ---------------------------------------------------------------- routing rules


def rules(session: Session) -> list[RoutingRule]:
    """Every rule, most specific first (the order routing tries them in)."""
    return sorted(session.scalars(select(RoutingRule)), key=_rank)


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound()
    return rule


def brokers(session: Session) -> list[User]:
    """Active brokers, by name."""
    return list(session.scalars(select(User).where(User.role == Role.BROKER.value, User.active.is_(True))
                                .order_by(User.display_name, User.id)))


def save_rule(session: Session, actor: User, rule: Optional[RoutingRule], data: dict[str, Any]) -> RoutingRule:
    """Create (rule None) or change a rule; data: name, field_code, region_code, priority, active, broker_ids."""
    name = (data.get("name") or "").strip()
    if not 1 <= len(name) <= 80:
        raise ServiceError("brokerage.rule_name")
    priority = data.get("priority") or 0
    if not isinstance(priority, int) or not -1000 <= priority <= 1000:
        raise ServiceError("brokerage.rule_priority")
    field = None
    if data.get("field_code"):
        field = session.scalar(select(Field).where(Field.code == data["field_code"]))
        if field is None:
            raise ServiceError("brokerage.unknown_field")
    region = None
    if data.get("region_code"):
        region = session.scalar(select(Region).where(Region.code == data["region_code"]))
        if region is None:
            raise ServiceError("brokerage.unknown_region")
    ids = sorted(set(data.get("broker_ids") or []))
    chosen = list(session.scalars(select(User).where(User.id.in_(ids), User.role == Role.BROKER.value,
                                                     User.active.is_(True)))) if ids else []
    if not chosen or len(chosen) != len(ids):
        raise ServiceError("brokerage.rule_brokers")
    active = bool(data.get("active", True))
    if active:
        # an active twin (same field, region and priority) to the same brokers is a copy that never fires: the
        # older one always wins. A twin to other brokers is a fallback (a rule whose brokers are all inactive is
        # passed over), so it stays allowed.
        twins = session.scalars(select(RoutingRule).where(
            RoutingRule.active.is_(True), RoutingRule.priority == priority,
            RoutingRule.field_id.is_(None) if field is None else RoutingRule.field_id == field.id,
            RoutingRule.region_id.is_(None) if region is None else RoutingRule.region_id == region.id,
            *(() if rule is None or rule.id is None else (RoutingRule.id != rule.id,))).order_by(RoutingRule.id))
        same = next((t for t in twins if sorted(u.id for u in t.brokers) == ids), None)
        if same is not None:
            raise ServiceError("brokerage.rule_duplicate", name=same.name)
    if rule is None:
        rule = RoutingRule(rr_position=0)
        session.add(rule)
    rule.name, rule.field, rule.region, rule.priority = name, field, region, priority
    rule.active = active
    rule.brokers = sorted(chosen, key=lambda u: u.id)
    session.flush()
    audit.record(session, "routing.rule_saved", actor=actor, target=f"routing_rule:{rule.id}",
                 detail={"field": field.code if field else None, "region": region.code if region else None,
                         "brokers": [u.id for u in rule.brokers], "active": rule.active})
    return rule


def delete_rule(session: Session, actor: User, rule: RoutingRule) -> None:
    """Remove a rule; assignments made under it stay (their rule link becomes empty)."""
    session.execute(update(DemandAssignment).where(DemandAssignment.rule_id == rule.id).values(rule_id=None)
                    .execution_options(synchronize_session=False))
    audit.record(session, "routing.rule_deleted", actor=actor, target=f"routing_rule:{rule.id}", detail={})
    session.delete(rule)
    session.flush()


def _specificity(rule: RoutingRule) -> int:
    return {(True, True): 3, (False, True): 2, (True, False): 1, (False, False): 0}[
        (rule.field_id is not None, rule.region_id is not None)]


def _rank(rule: RoutingRule, demand_field_id: Optional[int] = None) -> tuple:
    depth = len(rule.region.path.strip("/").split("/")) if rule.region is not None and rule.region.path else 0
    exact = 1 if demand_field_id is not None and rule.field_id == demand_field_id else 0
    return (-_specificity(rule), -(rule.priority or 0), -depth, -exact, rule.id or 0)


def matching_rules(session: Session, demand: Demand) -> list[RoutingRule]:
    """Active rules that cover the demand (its field or the field's parent; its region node or one above it),
    most specific first."""
    field = session.get(Field, demand.field_id) if demand.field_id else None
    field_ids = {i for i in (field.id if field else None, field.parent_id if field else None) if i}
    node = session.get(Region, demand.region_id) if demand.region_id else None
    found = []
    for rule in session.scalars(select(RoutingRule).where(RoutingRule.active.is_(True))):
        if rule.field_id is not None and rule.field_id not in field_ids:
            continue
        if rule.region_id is not None and (node is None or rule.region is None
                                           or not node.path.startswith(rule.region.path)):
            continue
        found.append(rule)
    return sorted(found, key=lambda r: _rank(r, demand.field_id))


def active_assignment(session: Session, demand_id: int) -> Optional[DemandAssignment]:
    return session.scalar(select(DemandAssignment).where(DemandAssignment.demand_id == demand_id,
                                                         DemandAssignment.active.is_(True)))


def route_demand(session: Session, demand: Demand) -> Optional[DemandAssignment]:
    """Assign a demand entering review to a broker under the rules (nothing if it has a broker already; None if
    no rule with an active broker covers it). The rule's counter moves by one atomic UPDATE ... RETURNING: on
    PostgreSQL a second routing under the same rule waits for the row lock and reads the next value."""
    current = active_assignment(session, demand.id)
    if current is not None:
        return current
    for rule in matching_rules(session, demand):
        pool = [b for b in rule.brokers if b.active and b.role == Role.BROKER.value]
        if not pool:
            continue
        position = session.execute(
            update(RoutingRule).where(RoutingRule.id == rule.id)
            .values(rr_position=RoutingRule.rr_position + 1).returning(RoutingRule.rr_position)
            .execution_options(synchronize_session=False)).scalar_one()
        broker = pool[(position - 1) % len(pool)]
        session.execute(update(RoutingRule).where(RoutingRule.id == rule.id).values(last_broker_id=broker.id)
                        .execution_options(synchronize_session=False))
        session.expire(rule, ["rr_position", "last_broker_id"])
        return assign_to(session, demand, broker, "rule", None, rule)
    return None


def assign_to(session: Session, demand: Demand, broker: User, how: str, actor: Optional[User],
            rule: Optional[RoutingRule] = None) -> DemandAssignment:
    for old in session.scalars(select(DemandAssignment).where(DemandAssignment.demand_id == demand.id,
                                                              DemandAssignment.active.is_(True))):
        old.active = False
    session.flush()
    row = DemandAssignment(demand_id=demand.id, broker_id=broker.id, rule_id=rule.id if rule else None,
                           assigned_by=how, assigned_by_id=actor.id if actor else None, assigned_at=utcnow(),
                           active=True)
    session.add(row)
    session.flush()
    notifications.notify(session, broker.id, "demand_assigned",
                         {"listing_kind": "demand", "listing_id": demand.id, "title": demand.title, "how": how})
    return row


def assign(session: Session, actor: User, demand_id: int, broker_id: int) -> DemandAssignment:
    """Reassign a demand: an admin to any active broker, a broker only to themselves (taking it on)."""
    demand = session.get(Demand, demand_id)
    if demand is None or demand.status not in OPEN_STATUSES:
        raise NotFound()
    if actor.role == Role.BROKER.value and broker_id != actor.id:
        raise ServiceError("brokerage.assign_self_only")
    if actor.role not in (Role.BROKER.value, Role.ADMIN.value):
        raise NotFound()
    broker = session.get(User, broker_id)
    if broker is None or broker.role != Role.BROKER.value or not broker.active:
        raise ServiceError("brokerage.not_a_broker")
    current = active_assignment(session, demand.id)
    if current is not None and current.broker_id == broker.id:
        raise ServiceError("brokerage.already_assigned")
    how = "self" if actor.id == broker.id else "admin"
    row = assign_to(session, demand, broker, how, actor)
    audit.record(session, "routing.assigned", actor=actor, target=f"demand:{demand.id}",
                 detail={"broker": broker.id, "how": how,
                         "previous": current.broker_id if current is not None else None})
    return row


# ---------------------------------------------------------------- caseload and the overdue queue


@dataclass
class CaseRow:
    demand: Demand
    broker: Optional[User]
    assigned_at: Optional[datetime]
    last_action: Optional[datetime]
    opportunities: int

    def days_idle(self, now: Optional[datetime] = None) -> Optional[int]:
        if self.last_action is None:
            return None
        return max(((now or utcnow()) - self.last_action).days, 0)


def _activity_columns() -> list[Any]:
    """Correlated subqueries per demand: the latest review event, pipeline event, opportunity and introduction
    step, and the number of opportunities (the latest of the first ones is the demand's last action)."""
    review = select(func.max(ReviewEvent.created_at)).where(ReviewEvent.entity_type == "demand",
                                                            ReviewEvent.entity_id == Demand.id)
    pipe = select(func.max(OpportunityEvent.created_at)).join(
        Opportunity, OpportunityEvent.opportunity_id == Opportunity.id).where(Opportunity.demand_id == Demand.id)
    opp = select(func.max(Opportunity.created_at)).where(Opportunity.demand_id == Demand.id)
    intro = [select(func.max(col)).where(Introduction.demand_id == Demand.id)
             for col in (Introduction.created_at, Introduction.accepted_at, Introduction.closed_at)]
    count = select(func.count(Opportunity.id)).where(Opportunity.demand_id == Demand.id)
    return [q.correlate(Demand).scalar_subquery() for q in [review, pipe, opp, *intro]] + \
        [count.correlate(Demand).scalar_subquery()]


def _rows(session: Session, stmt: Any) -> list[CaseRow]:
    out = []
    for row in session.execute(stmt).all():
        demand, assignment, *times, count = row
        seen = [t for t in times if t is not None]
        out.append(CaseRow(demand=demand, broker=assignment.broker if assignment else None,
                           assigned_at=assignment.assigned_at if assignment else None,
                           last_action=max(seen) if seen else None, opportunities=int(count or 0)))
    return out


def caseload(session: Session, broker: User) -> list[CaseRow]:
    """The broker's assigned demands (active assignments), longest idle first."""
    stmt = (select(Demand, DemandAssignment, *_activity_columns())
            .join(DemandAssignment, and_(DemandAssignment.demand_id == Demand.id, DemandAssignment.active.is_(True)))
            .where(DemandAssignment.broker_id == broker.id))
    return sorted(_rows(session, stmt), key=lambda r: (r.last_action or datetime.min, r.demand.id))


def overdue(session: Session, days: int, now: Optional[datetime] = None) -> list[CaseRow]:
    """Open demands (in review or published) nobody acted on for `days` days, assigned or not, oldest first."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    stmt = (select(Demand, DemandAssignment, *_activity_columns())
            .outerjoin(DemandAssignment, and_(DemandAssignment.demand_id == Demand.id,
                                              DemandAssignment.active.is_(True)))
            .where(Demand.status.in_(OPEN_STATUSES)))
    rows = [r for r in _rows(session, stmt) if r.last_action is None or r.last_action <= cutoff]
    return sorted(rows, key=lambda r: (r.last_action or datetime.min, r.demand.id))


def unassigned(session: Session) -> list[CaseRow]:
    """Open demands without an active assignment (no rule covered them, or their broker left)."""
    stmt = (select(Demand, DemandAssignment, *_activity_columns())
            .outerjoin(DemandAssignment, and_(DemandAssignment.demand_id == Demand.id,
                                              DemandAssignment.active.is_(True)))
            .where(Demand.status.in_(OPEN_STATUSES), DemandAssignment.id.is_(None)))
    return sorted(_rows(session, stmt), key=lambda r: (r.last_action or datetime.min, r.demand.id))


# ---------------------------------------------------------------- broker profiles


def profile_of(session: Session, user: User) -> BrokerProfile:
    """The broker's profile (an empty one, not yet saved, if there is none)."""
    profile = session.get(BrokerProfile, user.id)
    return profile if profile is not None else BrokerProfile(user_id=user.id, certificate_level=None,
                                                             certificate_number="", training_hours=0)


def save_profile(session: Session, user: User, data: dict[str, Any]) -> BrokerProfile:
    """Save a broker's profile: level (or none), certificate number, training hours, field and region codes."""
    if user.role != Role.BROKER.value:
        raise NotFound()
    level = data.get("certificate_level") or None
    if level is not None and level not in CERTIFICATE_LEVELS:
        raise ServiceError("brokerage.bad_level")
    number = (data.get("certificate_number") or "").strip()
    if len(number) > 40:
        raise ServiceError("brokerage.certificate_number")
    hours = data.get("training_hours") or 0
    if not isinstance(hours, int) or not 0 <= hours <= 10000:
        raise ServiceError("brokerage.training_hours")
    field_codes = list(dict.fromkeys(data.get("field_codes") or []))
    region_codes = list(dict.fromkeys(data.get("region_codes") or []))
    fields = list(session.scalars(select(Field).where(Field.code.in_(field_codes)))) if field_codes else []
    places = list(session.scalars(select(Region).where(Region.code.in_(region_codes)))) if region_codes else []
    if len(fields) != len(field_codes):
        raise ServiceError("brokerage.unknown_field")
    if len(places) != len(region_codes):
        raise ServiceError("brokerage.unknown_region")
    profile = session.get(BrokerProfile, user.id)
    if profile is None:
        profile = BrokerProfile(user_id=user.id)
        session.add(profile)
    profile.certificate_level, profile.certificate_number, profile.training_hours = level, number, hours
    profile.fields = sorted(fields, key=lambda f: f.id)
    profile.regions = sorted(places, key=lambda r: r.id)
    session.flush()
    return profile


def all_profiles(session: Session) -> list[tuple[User, Optional[BrokerProfile]]]:
    """Every broker account with its profile (None if not filled in)."""
    users = list(session.scalars(select(User).where(User.role == Role.BROKER.value).order_by(User.display_name,
                                                                                             User.id)))
    profiles = {p.user_id: p for p in session.scalars(select(BrokerProfile))}
    return [(u, profiles.get(u.id)) for u in users]


# ---------------------------------------------------------------- per-broker performance


@dataclass
class BrokerFigures:
    broker: User
    introductions: int = 0
    agreed: int = 0
    opportunities: int = 0
    contracts: int = 0
    amount: Decimal = Decimal(0)


def _in_period(col: Any, since: Optional[date], until: Optional[date], *, is_date: bool = False,
               zone: tzinfo = timezone.utc) -> list[Any]:
    """Conditions for a period of whole days: a date column compares with the days; a stored (UTC) time with
    the days as they are in the platform's time zone."""
    if is_date:
        return [c for c in (col >= since if since else None, col <= until if until else None) if c is not None]
    start, end = audit.day_range(since, until, zone)
    return [c for c in (col >= start if start is not None else None, col < end if end is not None else None)
            if c is not None]


def performance(session: Session, since: Optional[date] = None, until: Optional[date] = None,
                zone: tzinfo = timezone.utc) -> list[BrokerFigures]:
    """Per broker, in the period: introductions the broker asked for (by request time), of those agreed by both
    sides, opportunities opened (by creation), registered contracts signed (the contract's broker, or its
    opportunity's when the contract names none) and their amount (万元). One GROUP BY query per figure."""
    out = {u.id: BrokerFigures(u) for u in session.scalars(
        select(User).where(User.role == Role.BROKER.value).order_by(User.display_name, User.id))}
    intro = session.execute(
        select(Introduction.requested_by_id, func.count(Introduction.id),
               func.count(Introduction.accepted_at))
        .where(*_in_period(Introduction.created_at, since, until, zone=zone))
        .group_by(Introduction.requested_by_id)).all()
    for uid, made, agreed in intro:
        if uid in out:
            out[uid].introductions, out[uid].agreed = int(made), int(agreed)
    for uid, n in session.execute(select(Opportunity.broker_id, func.count(Opportunity.id))
                                  .where(*_in_period(Opportunity.created_at, since, until, zone=zone))
                                  .group_by(Opportunity.broker_id)).all():
        if uid in out:
            out[uid].opportunities = int(n)
    who = func.coalesce(TechContract.broker_id, Opportunity.broker_id)
    for uid, n, amount in session.execute(
            select(who, func.count(TechContract.id), func.coalesce(func.sum(TechContract.amount), 0))
            .outerjoin(Opportunity, TechContract.opportunity_id == Opportunity.id)
            .where(TechContract.status == "registered", who.is_not(None),
                   *_in_period(TechContract.signed_on, since, until, is_date=True))
            .group_by(who)).all():
        if uid in out:
            out[uid].contracts, out[uid].amount = int(n), Decimal(str(amount or 0))
    return list(out.values())


def overdue_days(config_value: Any) -> int:
    """The configured number of idle days before a demand counts as overdue (default 14; config.py refuses a
    value outside 1-365 at start-up)."""
    try:
        days = int(config_value)
    except (TypeError, ValueError):
        return DEFAULT_OVERDUE_DAYS
    return days if OVERDUE_DAYS_RANGE[0] <= days <= OVERDUE_DAYS_RANGE[1] else DEFAULT_OVERDUE_DAYS

