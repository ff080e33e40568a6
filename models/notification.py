"""Notifications: in-app messages (also mailed per the user's settings), settings, and match pairs seen."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class Notification(Base):
    """One event for one user; the text is rendered from kind + params in the reader's language.

    params never hold contact details: only titles, ids, reasons and scores.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # listing_approved | listing_returned | listing_rejected | strong_match
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    read_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    # False when the user turned this topic off in-app (the row then exists only to be mailed)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    # pending -> sent | skipped (user opted out) | failed; decided after the commit that created it
    email_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    digested_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class NotificationSetting(Base):
    """A user's choice for one group of notifications (missing row: everything on)."""

    __tablename__ = "notification_settings"
    __table_args__ = (UniqueConstraint("user_id", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    topic: Mapped[str] = mapped_column(String(32))  # review | match | digest
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)


class MatchNotice(Base):
    """A demand-achievement pair already announced as a strong match (never announced twice)."""

    __tablename__ = "match_notices"
    __table_args__ = (UniqueConstraint("demand_id", "achievement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(Integer, index=True)
    achievement_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
