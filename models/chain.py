"""Industry chains (产业链): nodes in upstream/midstream/downstream columns, edges between them, and where each
published demand and achievement sits on them (placed by the engine or corrected by a broker)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .user import User

CHAIN_STAGES = ("upstream", "midstream", "downstream")
PLACEMENT_SOURCES = ("engine", "broker", "removed")  # removed: a broker took the listing off the node


class IndustryChain(Base):
    """One chain: names, description, whether it is a key chain of the plan, its 链主 enterprises."""

    __tablename__ = "industry_chains"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    key_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    leaders: Mapped[str] = mapped_column(Text, default="")  # 链主 enterprises, one a line
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    nodes: Mapped[list["ChainNode"]] = relationship(back_populates="chain", order_by="ChainNode.position",
                                                    cascade="all, delete-orphan")

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_zh

    @property
    def leader_list(self) -> list[str]:
        return [x.strip() for x in self.leaders.splitlines() if x.strip()]


class ChainNode(Base):
    """A link of the chain (materials, components, equipment, applications); its description places listings."""

    __tablename__ = "chain_nodes"
    __table_args__ = (UniqueConstraint("chain_id", "code", name="uq_chain_nodes_chain_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("industry_chains.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    stage: Mapped[str] = mapped_column(String(16))  # CHAIN_STAGES
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    chain: Mapped[IndustryChain] = relationship(back_populates="nodes")

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_zh


class ChainEdge(Base):
    """Supply from one node to another, with an optional weight (share) and quantity."""

    __tablename__ = "chain_edges"
    __table_args__ = (UniqueConstraint("from_id", "to_id", name="uq_chain_edges_from_to"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("industry_chains.id"), index=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("chain_nodes.id"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("chain_nodes.id"), index=True)
    weight: Mapped[Optional[float]] = mapped_column(Float)
    quantity: Mapped[str] = mapped_column(String(64), default="")


class ChainPlacement(Base):
    """A listing (kind + id) on a node: by the engine (score) or a broker (kept through recomputation)."""

    __tablename__ = "chain_placements"
    # the map's per-node counts (services/chains.py node_stats) read the chain's placements of one kind from this
    # covering index, in node order (migration 0019)
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "node_id", name="uq_chain_placements_entity_node"),
                      Index("ix_chain_placements_chain_entity_node", "chain_id", "entity_type", "node_id", "entity_id",
                            "source"))

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("chain_nodes.id"), index=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("industry_chains.id"), index=True)
    score: Mapped[Optional[float]] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="engine")  # PLACEMENT_SOURCES
    by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    node: Mapped[ChainNode] = relationship()
    by: Mapped[Optional[User]] = relationship()
