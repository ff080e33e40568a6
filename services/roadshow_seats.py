"""Seats of a roadshow: the lock every registration and cancellation takes first, and a seat given back.

The lock is an UPDATE of the roadshow's `tickets` counter (SQLite: the database's write lock; PostgreSQL: the
row lock, held to the commit), so who gets a seat and the order of the waiting list are decided one at a time.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Roadshow, RoadshowInvitation, utcnow

from . import notifications
from .errors import NotFound


def lock(session: Session, roadshow_id: int) -> int:
    """Serialise on the roadshow's row and draw the next ticket (NotFound for no such roadshow)."""
    touched = session.execute(update(Roadshow).where(Roadshow.id == roadshow_id)
                              .values(tickets=Roadshow.tickets + 1)
                              .execution_options(synchronize_session=False)).rowcount
    if not touched:
        raise NotFound()
    return int(session.scalar(select(Roadshow.tickets).where(Roadshow.id == roadshow_id)))


def release_seat(session: Session, roadshow: Roadshow) -> Optional[RoadshowInvitation]:
    """A seat was given back (the caller holds the row's lock): the first on the waiting list takes it and is
    told; with nobody waiting the seat is free again."""
    first = session.scalar(select(RoadshowInvitation).where(
        RoadshowInvitation.roadshow_id == roadshow.id, RoadshowInvitation.status == "waiting")
        .order_by(RoadshowInvitation.ticket, RoadshowInvitation.id).limit(1))
    if first is None:
        session.execute(update(Roadshow).where(Roadshow.id == roadshow.id, Roadshow.seats_taken > 0)
                        .values(seats_taken=Roadshow.seats_taken - 1).execution_options(synchronize_session=False))
        return None
    first.status, first.registered_at = "registered", utcnow()
    notifications.notify(session, first.company_id, "roadshow_seat", {
        "roadshow_id": roadshow.id, "title": roadshow.title, "date": roadshow.held_on.isoformat()})
    session.flush()
    return first


