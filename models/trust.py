"""Trust and safety: introductions (double opt-in for contact details) and the append-only audit log."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Achievement, Demand
from .user import User


class IntroStatus(str, enum.Enum):
    """requested -> accepted (both sides consented) | declined; requested/accepted -> withdrawn."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


LIVE_STATUSES = (IntroStatus.REQUESTED.value, IntroStatus.ACCEPTED.value)


class Introduction(Base):
    """A broker-mediated introduction of one demand and one achievement; contacts flow only once accepted."""

    __tablename__ = "introductions"
    __table_args__ = (
        # at most one live (requested or accepted) introduction per pair, enforced by the database too
        Index("uq_introductions_live_pair", "demand_id", "achievement_id", unique=True,
              sqlite_where=text("status IN ('requested', 'accepted')"),
              postgresql_where=text("status IN ('requested', 'accepted')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # which side asked: "demand", "achievement" (an owner) or "broker" (staff on behalf of both)
    requested_side: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=IntroStatus.REQUESTED.value, index=True)
    # consent per side: when each owner agreed (the requesting owner's side consents on request)
    demand_consent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    achievement_consent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    closed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    closed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    demand: Mapped[Demand] = relationship(Demand)
    achievement: Mapped[Achievement] = relationship(Achievement)
    requested_by: Mapped[User] = relationship(User, foreign_keys=[requested_by_id])
    closed_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[closed_by_id])

    @property
    def live(self) -> bool:
        """Requested or accepted: blocks a second introduction of the same pair."""
        return self.status in LIVE_STATUSES


class AuditEvent(Base):
    """One security-relevant event; rows are never updated or deleted (guarded in code and by triggers)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    # "user:12", "demand:3", "introduction:7" ... or an e-mail hash for failed sign-ins
    target: Mapped[Optional[str]] = mapped_column(String(80), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[Optional[str]] = mapped_column(String(45))

    actor: Mapped[Optional[User]] = relationship(User)
