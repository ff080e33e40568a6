"""The broker workbench: saved match reports, feedback on pairs, and the deal pipeline (opportunities)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Achievement, Demand
from .user import User

# Feedback outcomes and the reasons a "relevant but" outcome may carry.
OUTCOMES = ("not_relevant", "relevant", "introduce")
FEEDBACK_REASONS = ("early_stage", "price_gap", "unclear_benefit", "region", "ip_issue", "other")
# Deal pipeline: the open stages in order, then the two final ones.
OPEN_STAGES = ("introduced", "agreed", "meeting", "negotiating")
FINAL_STAGES = ("signed", "closed")
PIPELINE_STAGES = OPEN_STAGES + FINAL_STAGES
# Technology contract types (技术开发/转让/许可/咨询/服务).
CONTRACT_TYPES = ("development", "transfer", "license", "consulting", "service")
CONTRACT_TYPE_ZH = {"development": "技术开发", "transfer": "技术转让", "license": "技术许可",
                    "consulting": "技术咨询", "service": "技术服务"}


class MatchReport(Base):
    """A saved run of the matcher (one listing or a batch), reopened unchanged from its row snapshots."""

    __tablename__ = "match_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # demand | achievement | batch
    subject_id: Mapped[Optional[int]] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    model_key: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="ready")  # running | ready | failed
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    owner: Mapped[User] = relationship(User)
    rows: Mapped[list["MatchReportRow"]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="MatchReportRow.position")


class MatchReportRow(Base):
    """One pair of a report: the engine's explanation and both listings' facts as they were at run time."""

    __tablename__ = "match_report_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("match_reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    demand_id: Mapped[int] = mapped_column(Integer, index=True)
    achievement_id: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[float] = mapped_column(Float)
    # breakdown, shared_terms, best_sentence, reasons, demand{...}, achievement{...}: never contact details
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    commented_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    report: Mapped[MatchReport] = relationship(back_populates="rows")


class PairFeedback(Base):
    """A broker's judgement of one suggested pair; the latest per pair counts, earlier ones teach the ranking."""

    __tablename__ = "pair_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # which side the ranking was for ("demand": achievements ranked for a demand), for grouping in evaluation
    query_kind: Mapped[str] = mapped_column(String(16), default="demand")
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[Optional[str]] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    # the engine's score and breakdown when judged: the features a re-ranking learns from
    score: Mapped[Optional[float]] = mapped_column(Float)
    features: Mapped[Optional[dict]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    user: Mapped[User] = relationship(User)


class Opportunity(Base):
    """An introduced pair on its way to a technology contract (or closed with a reason)."""

    __tablename__ = "opportunities"
    __table_args__ = (UniqueConstraint("demand_id", "achievement_id", name="uq_opportunities_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), index=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16), default="introduced", index=True)
    contract_type: Mapped[Optional[str]] = mapped_column(String(16))
    amount: Mapped[Optional[float]] = mapped_column(Float)  # 万元
    signed_on: Mapped[Optional[date]] = mapped_column(Date)
    close_reason: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    broker: Mapped[User] = relationship(User)
    demand: Mapped[Demand] = relationship(Demand)
    achievement: Mapped[Achievement] = relationship(Achievement)
    events: Mapped[list["OpportunityEvent"]] = relationship(
        back_populates="opportunity", cascade="all, delete-orphan", order_by="OpportunityEvent.id")

    @property
    def is_open(self) -> bool:
        """True until signed or closed."""
        return self.stage in OPEN_STAGES


class OpportunityEvent(Base):
    """One stage change of an opportunity, with who moved it and when."""

    __tablename__ = "opportunity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    from_stage: Mapped[Optional[str]] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="events")
    actor: Mapped[Optional[User]] = relationship(User)
