"""Roadshows (路演): presenters, invited companies, wished 1:1 meetings and the optimised schedule."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Achievement, Demand
from .taxonomy import Field, Region
from .user import User

# 成果路演 (achievements), 产品路演 (products), 场景路演 (a company presents an application scenario)
ROADSHOW_KINDS = ("achievement", "product", "scenario")
# who registered: a company to meet presenters, or an investor (a company-role account registering as investor)
PARTICIPANT_KINDS = ("company", "investor")


class Roadshow(Base):
    """One event: presentations by selected achievements, then 1:1 meetings at tables in slots."""

    __tablename__ = "roadshows"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    theme: Mapped[str] = mapped_column(Text, default="")
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5), default="14:00")  # HH:MM, local time
    venue: Mapped[str] = mapped_column(String(200), default="")
    online_link: Mapped[str] = mapped_column(String(300), default="")
    presentation_slots: Mapped[int] = mapped_column(Integer)
    meeting_slots: Mapped[int] = mapped_column(Integer)
    tables: Mapped[int] = mapped_column(Integer)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=20)
    presenter_cap: Mapped[int] = mapped_column(Integer)
    company_cap: Mapped[int] = mapped_column(Integer)
    seats: Mapped[int] = mapped_column(Integer)
    # Confirmed registrations; only ever changed by one conditional UPDATE (see services.roadshows.register).
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    broker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    schedule_info: Mapped[Optional[dict]] = mapped_column(JSON)  # totals and binding constraints
    scheduled_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # the year-round programme (migration 0012): type, place, agenda, open registration, online meetings
    kind: Mapped[str] = mapped_column(String(16), default="achievement", server_default="achievement", index=True)
    city: Mapped[str] = mapped_column(String(64), default="", server_default="")
    region_id: Mapped[Optional[int]] = mapped_column(ForeignKey("regions.id"), index=True)
    agenda: Mapped[str] = mapped_column(Text, default="", server_default="")
    open_registration: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # a meeting-room link for the 1:1s, {table} and {slot} filled in per meeting when the schedule is built
    meeting_link_template: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # registrations ever taken: the counter whose UPDATE locks the row and numbers the waiting list
    tickets: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    field: Mapped[Field] = relationship(Field)
    region: Mapped[Optional[Region]] = relationship(Region)
    broker: Mapped[User] = relationship(User)
    presenters: Mapped[list["RoadshowPresenter"]] = relationship(
        back_populates="roadshow", cascade="all, delete-orphan", order_by="RoadshowPresenter.position")
    invitations: Mapped[list["RoadshowInvitation"]] = relationship(
        back_populates="roadshow", cascade="all, delete-orphan", order_by="RoadshowInvitation.id")


class RoadshowPresenter(Base):
    """An achievement presenting at a roadshow, with the demand weight it was chosen to cover."""

    __tablename__ = "roadshow_presenters"
    __table_args__ = (UniqueConstraint("roadshow_id", "achievement_id", name="uq_roadshow_presenters_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    covered: Mapped[int] = mapped_column(Integer, default=0)  # demands it covers best among the chosen
    attended: Mapped[Optional[bool]] = mapped_column(Boolean)
    live_link: Mapped[str] = mapped_column(String(300), default="", server_default="")
    recording_link: Mapped[str] = mapped_column(String(300), default="", server_default="")

    roadshow: Mapped[Roadshow] = relationship(back_populates="presenters")
    achievement: Mapped[Achievement] = relationship(Achievement)


class RoadshowInvitation(Base):
    """A company invited to a roadshow: invited -> registered (a seat) | declined; attendance after."""

    __tablename__ = "roadshow_invitations"
    __table_args__ = (UniqueConstraint("roadshow_id", "company_id", name="uq_roadshow_invitations_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    demand_id: Mapped[Optional[int]] = mapped_column(ForeignKey("demands.id"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="invited")
    attended: Mapped[Optional[bool]] = mapped_column(Boolean)
    invited_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    registered_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    # status may also be "waiting" (open registration beyond the seats, ordered by ticket)
    participant: Mapped[str] = mapped_column(String(16), default="company", server_default="company")
    source: Mapped[str] = mapped_column(String(16), default="invited", server_default="invited")  # invited | self
    ticket: Mapped[Optional[int]] = mapped_column(Integer)

    roadshow: Mapped[Roadshow] = relationship(back_populates="invitations")
    company: Mapped[User] = relationship(User)
    demand: Mapped[Optional[Demand]] = relationship(Demand)


class RoadshowWish(Base):
    """A 1:1 meeting a company wishes to have with a presenter, worth the best match score."""

    __tablename__ = "roadshow_wishes"
    __table_args__ = (UniqueConstraint("company_id", "presenter_id", name="uq_roadshow_wishes_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    presenter_id: Mapped[int] = mapped_column(ForeignKey("roadshow_presenters.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float, default=0.0)


class RoadshowConflict(Base):
    """A company-presenter pair the broker marked as conflicted: never scheduled."""

    __tablename__ = "roadshow_conflicts"
    __table_args__ = (UniqueConstraint("company_id", "presenter_id", name="uq_roadshow_conflicts_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    presenter_id: Mapped[int] = mapped_column(ForeignKey("roadshow_presenters.id", ondelete="CASCADE"))


class RoadshowMeeting(Base):
    """A scheduled 1:1 meeting (slot and table from 1) and each side's intent afterwards."""

    __tablename__ = "roadshow_meetings"
    __table_args__ = (UniqueConstraint("roadshow_id", "slot", "table_no", name="uq_roadshow_meetings_cell"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    presenter_id: Mapped[int] = mapped_column(ForeignKey("roadshow_presenters.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    table_no: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    company_intent: Mapped[Optional[str]] = mapped_column(String(16))  # interested | not_interested
    presenter_intent: Mapped[Optional[str]] = mapped_column(String(16))
    meeting_link: Mapped[str] = mapped_column(String(300), default="", server_default="")

    company: Mapped[User] = relationship(User)
    presenter: Mapped[RoadshowPresenter] = relationship(RoadshowPresenter)


class RoadshowApplication(Base):
    """A university's (or institute's) application to present an achievement: submitted -> accepted | declined."""

    __tablename__ = "roadshow_applications"
    __table_args__ = (UniqueConstraint("roadshow_id", "achievement_id", name="uq_roadshow_applications_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    pitch: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="submitted", server_default="submitted")
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    decided_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    roadshow: Mapped[Roadshow] = relationship(Roadshow)
    achievement: Mapped[Achievement] = relationship(Achievement)
    applicant: Mapped[User] = relationship(User)
