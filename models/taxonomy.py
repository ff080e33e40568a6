"""The industry field taxonomy and regions, seeded and editable by admins."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base


class Field(Base):
    """A top-level industry field or one of its sub-fields (code like 'new_energy.battery')."""

    __tablename__ = "fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("fields.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Optional["Field"]] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Field"]] = relationship(back_populates="parent", order_by="Field.position")

    def name(self, locale: str) -> str:
        """Display name in the given locale."""
        return self.name_en if locale.startswith("en") else self.name_zh

    @property
    def top_code(self) -> str:
        """Code of the top-level field this one belongs to."""
        return self.code.split(".", 1)[0]


class Region(Base):
    """A provincial-level region (or 'national')."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)

    def name(self, locale: str) -> str:
        """Display name in the given locale."""
        return self.name_en if locale.startswith("en") else self.name_zh
