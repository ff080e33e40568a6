"""揭榜挂帅 challenges: a published key problem, university applications and panel scoring."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Demand
from .taxonomy import Field
from .user import Organisation, User

PERSPECTIVES = ("scientist", "entrepreneur", "investor")


class Challenge(Base):
    """A key technical problem with a reward, a deadline and weighted scoring criteria."""

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    problem: Mapped[str] = mapped_column(Text)
    indicators: Mapped[str] = mapped_column(Text, default="")
    reward: Mapped[float] = mapped_column(Float)  # 万元
    deadline: Mapped[date] = mapped_column(Date)
    eligibility: Mapped[str] = mapped_column(Text, default="")
    sponsor: Mapped[str] = mapped_column(String(200), default="")  # the government body or company behind it
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"), index=True)
    # [{"name": str, "perspective": scientist|entrepreneur|investor, "weight": float}], weights sum to 1
    criteria: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed | announced
    broker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    winner_id: Mapped[Optional[int]] = mapped_column(Integer)  # an application id (no FK: a cycle otherwise)
    announced_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # 揭榜挂帅 end to end (migration 0012): 发榜方, budget, several winners (赛马); status may be "accepted"
    issuer_org_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    budget: Mapped[Optional[float]] = mapped_column(Float)  # 万元, all teams together
    max_winners: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    field: Mapped[Field] = relationship(Field)
    broker: Mapped[User] = relationship(User)
    issuer: Mapped[Optional[Organisation]] = relationship(Organisation)
    demands: Mapped[list["ChallengeDemand"]] = relationship(cascade="all, delete-orphan",
                                                           order_by="ChallengeDemand.id")
    applications: Mapped[list["ChallengeApplication"]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan", order_by="ChallengeApplication.id")


class ChallengeApplication(Base):
    """A university team's proposal for a challenge."""

    __tablename__ = "challenge_applications"
    __table_args__ = (UniqueConstraint("challenge_id", "applicant_id", name="uq_challenge_applications_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    team: Mapped[str] = mapped_column(Text)
    approach: Mapped[str] = mapped_column(Text)
    achievement_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # submitted|shortlisted|winner|not_selected
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    place: Mapped[str] = mapped_column(String(32), default="", server_default="")  # a winner's label
    opportunity_id: Mapped[Optional[int]] = mapped_column(Integer)  # the pipeline opportunity a win opened
    acceptance_score: Mapped[Optional[float]] = mapped_column(Float)  # 验收: the panel's mean, 0-100
    acceptance_passed: Mapped[Optional[bool]] = mapped_column(Boolean)
    accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    challenge: Mapped[Challenge] = relationship(back_populates="applications")
    applicant: Mapped[User] = relationship(User)
    organisation: Mapped[Optional[Organisation]] = relationship(Organisation)
    partners: Mapped[list["ChallengePartner"]] = relationship(cascade="all, delete-orphan",
                                                             order_by="ChallengePartner.id")
    milestones: Mapped[list["ChallengeMilestone"]] = relationship(cascade="all, delete-orphan",
                                                                 order_by="(ChallengeMilestone.due_on, ChallengeMilestone.id)")


class ChallengePanelist(Base):
    """A broker or admin assigned to score a challenge's applications."""

    __tablename__ = "challenge_panelists"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id", name="uq_challenge_panelists_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(User)


class ChallengeScore(Base):
    """One panelist's 0-10 score of one application on one criterion (by its index)."""

    __tablename__ = "challenge_scores"
    __table_args__ = (UniqueConstraint("application_id", "panelist_id", "criterion",
                                       name="uq_challenge_scores_cell"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("challenge_applications.id", ondelete="CASCADE"),
                                                index=True)
    panelist_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    criterion: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ChallengeDemand(Base):
    """A published demand a challenge was made from (one or more per challenge)."""

    __tablename__ = "challenge_demands"
    __table_args__ = (UniqueConstraint("challenge_id", "demand_id", name="uq_challenge_demands_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), index=True)

    demand: Mapped[Demand] = relationship(Demand)


class ChallengePartner(Base):
    """A partner organisation of a joint application (the lead is the applicant)."""

    __tablename__ = "challenge_partners"
    __table_args__ = (UniqueConstraint("application_id", "organisation_id", name="uq_challenge_partners_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("challenge_applications.id", ondelete="CASCADE"),
                                                index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))

    organisation: Mapped[Organisation] = relationship(Organisation)


class ChallengeMilestone(Base):
    """A milestone of a winning team (军令状): due date, deliverable, amount, progress 0-100."""

    __tablename__ = "challenge_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("challenge_applications.id", ondelete="CASCADE"),
                                                index=True)
    due_on: Mapped[date] = mapped_column(Date)
    deliverable: Mapped[str] = mapped_column(String(200))
    amount: Mapped[float] = mapped_column(Float, default=0.0)  # 万元
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_on: Mapped[Optional[date]] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class ChallengeAcceptanceScore(Base):
    """One panelist's 0-100 acceptance (验收) score of a winning application."""

    __tablename__ = "challenge_acceptance_scores"
    __table_args__ = (UniqueConstraint("application_id", "panelist_id", name="uq_challenge_acceptance_scores_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("challenge_applications.id", ondelete="CASCADE"),
                                                index=True)
    panelist_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
