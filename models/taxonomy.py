"""The industry field taxonomy and regions, seeded and editable by admins."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, ForeignKey, Integer, String, select
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


# Administrative levels, top down; park, township and street are siblings below a district (or a city).
REGION_LEVELS = ("province", "city", "district", "park", "township", "street")
REGION_LEVEL_RANK = {"province": 0, "city": 1, "district": 2, "park": 3, "township": 3, "street": 3}


class Region(Base):
    """A node of the administrative hierarchy: province, city, district/county, then parks, townships or
    streets ('national' is a top-level reach, not a place). `path` is the materialised path of ids
    ('/3/41/57/'): a node and everything under it is one indexed prefix LIKE (services/regions.py keeps it)."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("regions.id"), index=True)
    level: Mapped[str] = mapped_column(String(16), default="province", server_default="province")
    # GB/T 2260 six-digit administrative code where one exists (parks have none)
    gb_code: Mapped[Optional[str]] = mapped_column(String(6), unique=True)
    path: Mapped[str] = mapped_column(String(255), default="", server_default="", index=True)

    parent: Mapped[Optional["Region"]] = relationship(remote_side=[id])

    def name(self, locale: str) -> str:
        """Display name in the given locale."""
        return self.name_en if locale.startswith("en") else self.name_zh


def sync_region_id(_mapper, connection, target) -> None:
    """Keep `region_id` pointing at the node the region code names (a mapper hook for organisations and
    listings: forms and imports keep writing the code, filters and statistics read the id or its path)."""
    code = getattr(target, "region", None)
    if not code:
        target.region_id = None
        return
    table = Region.__table__
    target.region_id = connection.scalar(select(table.c.id).where(table.c.code == code))
