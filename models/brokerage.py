"""Broker operations (issue 21 part 4): routing rules that assign new demands to brokers, the assignments,
broker profiles, and demands a broker entered on a company's behalf (the company confirms before review)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .listing import Demand
from .taxonomy import Field, Region
from .user import User

# Broker certificate levels (技术经纪人 初级/中级/高级): stored codes, shown translated.
CERTIFICATE_LEVELS = ("junior", "intermediate", "senior")
CERTIFICATE_LEVEL_ZH = {"junior": "初级", "intermediate": "中级", "senior": "高级"}
# How an assignment came about.
ASSIGNED_BY = ("rule", "admin", "self")

routing_rule_brokers = Table(
    "routing_rule_brokers", Base.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("broker_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)
broker_profile_fields = Table(
    "broker_profile_fields", Base.metadata,
    Column("profile_id", ForeignKey("broker_profiles.user_id", ondelete="CASCADE"), primary_key=True),
    Column("field_id", ForeignKey("fields.id", ondelete="CASCADE"), primary_key=True),
)
broker_profile_regions = Table(
    "broker_profile_regions", Base.metadata,
    Column("profile_id", ForeignKey("broker_profiles.user_id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
)


class RoutingRule(Base):
    """Route new demands of a field (or any) in a region node and below (or anywhere) to these brokers, in turn.
    `rr_position` counts the assignments made under the rule: the next broker is the count modulo the active
    brokers, taken by one atomic UPDATE ... RETURNING (two demands routed at once never read the same value)."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    field_id: Mapped[Optional[int]] = mapped_column(ForeignKey("fields.id"), index=True)
    region_id: Mapped[Optional[int]] = mapped_column(ForeignKey("regions.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rr_position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_broker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    field: Mapped[Optional[Field]] = relationship(Field)
    region: Mapped[Optional[Region]] = relationship(Region)
    brokers: Mapped[list[User]] = relationship(User, secondary=routing_rule_brokers, order_by=User.id)
    last_broker: Mapped[Optional[User]] = relationship(User, foreign_keys=[last_broker_id])


class DemandAssignment(Base):
    """A demand in a broker's caseload; at most one active assignment per demand (reassigning ends the old one)."""

    __tablename__ = "demand_assignments"
    __table_args__ = (
        Index("uq_demand_assignments_active", "demand_id", unique=True,
              sqlite_where=text("active = 1"), postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    rule_id: Mapped[Optional[int]] = mapped_column(ForeignKey("routing_rules.id", ondelete="SET NULL"))
    assigned_by: Mapped[str] = mapped_column(String(16))  # rule | admin | self
    assigned_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    demand: Mapped[Demand] = relationship(Demand)
    broker: Mapped[User] = relationship(User, foreign_keys=[broker_id])
    rule: Mapped[Optional[RoutingRule]] = relationship(RoutingRule)


class BrokerProfile(Base):
    """A broker's certificate, training hours and the fields and regions they work in."""

    __tablename__ = "broker_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    certificate_level: Mapped[Optional[str]] = mapped_column(String(16))
    certificate_number: Mapped[str] = mapped_column(String(40), default="")
    training_hours: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(User)
    fields: Mapped[list[Field]] = relationship(Field, secondary=broker_profile_fields, order_by=Field.id)
    regions: Mapped[list[Region]] = relationship(Region, secondary=broker_profile_regions, order_by=Region.id)


class DemandEntry(Base):
    """A demand a broker entered for a company: it waits in 'awaiting_confirmation' until the company confirms,
    then goes the normal submit/review path."""

    __tablename__ = "demand_entries"

    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), primary_key=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    demand: Mapped[Demand] = relationship(Demand)
    broker: Mapped[User] = relationship(User)
