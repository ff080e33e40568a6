"""The advisory panel (科技顾问团, issue 21): advisor profiles, panels formed by a broker for an achievement, the
advisors assigned to them and their reviews (技术前景 / 市场需求 / 成果价值, 1-5; an investor also a value range
in 万元)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import (Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Achievement
from .user import Organisation, User

ADVISOR_PERSPECTIVES = ("scientist", "entrepreneur", "investor")  # 科学家 / 企业家 / 投资家
PERSPECTIVE_ZH = {"scientist": "科学家", "entrepreneur": "企业家", "investor": "投资家"}
PANEL_STATUSES = ("open", "complete")
CRITERIA = ("tech_score", "market_score", "value_score")  # 技术前景 / 市场需求 / 成果价值
CRITERIA_ZH = {"tech_score": "技术前景", "market_score": "市场需求", "value_score": "成果价值"}


class AdvisorProfile(Base):
    """What an advisor account brings to a panel: a perspective, expertise (ranked by the engine), fields and an
    organisation (a conflict of interest when it is the achievement's)."""

    __tablename__ = "advisor_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    perspective: Mapped[str] = mapped_column(String(16))
    expertise: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[str] = mapped_column(String(500), default="")  # field codes or words, comma separated
    organisation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(User)
    organisation: Mapped[Optional[Organisation]] = relationship(Organisation)


class Panel(Base):
    """A panel a broker formed for one achievement (optionally before a roadshow), reviewing until a deadline;
    `gate`: a roadshow presenter is accepted (and reports mark it) only once the panel is complete."""

    __tablename__ = "advisory_panels"

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    roadshow_id: Mapped[Optional[int]] = mapped_column(ForeignKey("roadshows.id"), index=True)
    deadline: Mapped[date] = mapped_column(Date)
    gate: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    achievement: Mapped[Achievement] = relationship(Achievement)
    created_by: Mapped[User] = relationship(User)
    members: Mapped[list["PanelMember"]] = relationship(back_populates="panel", cascade="all, delete-orphan",
                                                        order_by="PanelMember.id")


class PanelMember(Base):
    """An advisor assigned to a panel; `reminded_at`: when the review-due reminder went out."""

    __tablename__ = "panel_members"
    __table_args__ = (UniqueConstraint("panel_id", "advisor_id", name="uq_panel_members_panel_advisor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("advisory_panels.id", ondelete="CASCADE"), index=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reminded_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    panel: Mapped[Panel] = relationship(back_populates="members")
    advisor: Mapped[User] = relationship(User)
    review: Mapped[Optional["PanelReview"]] = relationship(back_populates="member", uselist=False,
                                                           cascade="all, delete-orphan")


class PanelReview(Base):
    """One advisor's review: three scores 1-5 with a comment; an investor also a value range (万元)."""

    __tablename__ = "panel_reviews"
    __table_args__ = (
        CheckConstraint("tech_score BETWEEN 1 AND 5", name="tech_score_range"),
        CheckConstraint("market_score BETWEEN 1 AND 5", name="market_score_range"),
        CheckConstraint("value_score BETWEEN 1 AND 5", name="value_score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("panel_members.id", ondelete="CASCADE"), unique=True)
    tech_score: Mapped[int] = mapped_column(Integer)
    market_score: Mapped[int] = mapped_column(Integer)
    value_score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    value_min: Mapped[Optional[Decimal]] = mapped_column(Numeric(14, 4))
    value_max: Mapped[Optional[Decimal]] = mapped_column(Numeric(14, 4))
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[PanelMember] = relationship(back_populates="review")
