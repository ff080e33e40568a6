"""The deal pipeline: an introduced pair becomes an Opportunity that moves stage by stage to a signed
technology contract (type, amount in 万元, date) or is closed with a reason; every move is recorded."""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (CONTRACT_TYPES, FINAL_STAGES, OPEN_STAGES, Opportunity, OpportunityEvent, User, utcnow)

from . import clock
from .errors import NotFound, ServiceError

MAX_AMOUNT = 1_000_000.0  # 万元: a contract above 100 billion yuan is a typing error


def get_or_open(session: Session, broker: User, demand_id: int, achievement_id: int) -> Opportunity:
    """The pair's opportunity, opened at stage 'introduced' by this broker if there is none yet."""
    opp = session.scalar(select(Opportunity).where(Opportunity.demand_id == demand_id,
                                                   Opportunity.achievement_id == achievement_id))
    if opp is not None:
        return opp
    opp = Opportunity(demand_id=demand_id, achievement_id=achievement_id, broker_id=broker.id, stage="introduced")
    opp.events.append(OpportunityEvent(actor_id=broker.id, from_stage=None, to_stage="introduced"))
    session.add(opp)
    session.flush()
    return opp


def get_for(session: Session, opportunity_id: int, user: User) -> Opportunity:
    """The opportunity if this user is its broker (admins see all); otherwise NotFound."""
    opp = session.get(Opportunity, opportunity_id)
    if opp is None or (opp.broker_id != user.id and user.role != "admin"):
        raise NotFound()
    return opp


def next_stage(opp: Opportunity) -> Optional[str]:
    """The stage after the current one ('signed' after negotiating), None once final."""
    if opp.stage not in OPEN_STAGES:
        return None
    i = OPEN_STAGES.index(opp.stage)
    return OPEN_STAGES[i + 1] if i + 1 < len(OPEN_STAGES) else "signed"


def _move(opp: Opportunity, actor: User, target: str, note: str = "") -> Opportunity:
    opp.events.append(OpportunityEvent(actor_id=actor.id, from_stage=opp.stage, to_stage=target, note=note))
    opp.stage, opp.stage_changed_at = target, utcnow()
    return opp


def advance(session: Session, opp: Opportunity, actor: User, note: str = "") -> Opportunity:
    """Move an open opportunity one stage on (signing needs sign())."""
    target = next_stage(opp)
    if target is None or target == "signed":
        raise ServiceError("opportunity.bad_move")
    return _move(opp, actor, target, (note or "").strip())


def clean_amount(value: Any) -> float:
    """A contract amount in 万元: a finite number from 0 to MAX_AMOUNT, else a clear error."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ServiceError("opportunity.bad_amount", max=int(MAX_AMOUNT)) from None
    if not math.isfinite(amount) or not 0.0 <= amount <= MAX_AMOUNT:
        raise ServiceError("opportunity.bad_amount", max=int(MAX_AMOUNT))
    return round(amount, 2)


def sign(session: Session, opp: Opportunity, actor: User, contract_type: str, amount: Any,
         signed_on: Optional[date]) -> Opportunity:
    """Record the signed technology contract; only from 'negotiating'."""
    if opp.stage != "negotiating":
        raise ServiceError("opportunity.bad_move")
    if contract_type not in CONTRACT_TYPES:
        raise ServiceError("opportunity.bad_contract_type")
    opp.amount = clean_amount(amount)
    if signed_on is None or signed_on > clock.today():
        raise ServiceError("opportunity.bad_signed_on")
    opp.contract_type, opp.signed_on = contract_type, signed_on
    return _move(opp, actor, "signed")


def close(session: Session, opp: Opportunity, actor: User, reason: str) -> Opportunity:
    """Close an open opportunity; the reason is required so the board says why."""
    if opp.stage in FINAL_STAGES:
        raise ServiceError("opportunity.bad_move")
    if not (reason or "").strip():
        raise ServiceError("opportunity.reason_required")
    opp.close_reason = reason.strip()
    return _move(opp, actor, "closed", opp.close_reason)


def board(session: Session, user: User, stage: str = "") -> list[Opportunity]:
    """The user's opportunities (admins: all), optionally of one stage, longest idle first."""
    stmt = select(Opportunity).order_by(Opportunity.stage_changed_at, Opportunity.id)
    if user.role != "admin":
        stmt = stmt.where(Opportunity.broker_id == user.id)
    if stage:
        stmt = stmt.where(Opportunity.stage == stage)
    return list(session.scalars(stmt))


def is_idle(opp: Opportunity, days: int, now: Any = None) -> bool:
    """An open opportunity whose stage has not moved for more than `days` days."""
    return opp.is_open and opp.stage_changed_at < (now or utcnow()) - timedelta(days=days)


def idle(session: Session, days: int, now: Any = None) -> list[Opportunity]:
    """Every open opportunity idle for more than `days` days, longest idle first."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    return list(session.scalars(select(Opportunity).where(
        Opportunity.stage.in_(OPEN_STAGES), Opportunity.stage_changed_at < cutoff)
        .order_by(Opportunity.stage_changed_at, Opportunity.id)))


def for_pairs(session: Session, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Opportunity]:
    """The opportunities of these (demand_id, achievement_id) pairs, where one exists."""
    if not pairs:
        return {}
    wanted = set(pairs)
    rows = session.scalars(select(Opportunity).where(Opportunity.demand_id.in_({d for d, _ in wanted})))
    return {(o.demand_id, o.achievement_id): o for o in rows if (o.demand_id, o.achievement_id) in wanted}
