"""Stored embeddings: the database keeps vectors so an index rebuild never re-encodes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ListingVector(Base):
    """One listing's vector under one model; stale when text_sha256 differs from the listing's text."""

    __tablename__ = "listing_vectors"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "model_key",
                                       name="uq_listing_vectors_entity_model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16), index=True)
    entity_id: Mapped[int] = mapped_column(Integer)
    model_key: Mapped[str] = mapped_column(String(120), index=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
