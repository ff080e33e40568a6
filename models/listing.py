"""Technical demands (技术需求) and research achievements (科技成果), with their review trail."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, event, false
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from .base import Base, utcnow
from .taxonomy import Field, sync_region_id
from .user import Organisation, User


class Status(str, enum.Enum):
    """Lifecycle: draft -> submitted -> published | returned | rejected; published -> closed."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    RETURNED = "returned"
    REJECTED = "rejected"
    CLOSED = "closed"
    # a demand a broker entered for a company: hidden like a draft until the company confirms (models/brokerage.py)
    AWAITING_CONFIRMATION = "unconfirmed"


# Cooperation modes: stored codes, shown translated.
COOPERATION_MODES = ("transfer", "license", "joint", "commissioned", "service", "consulting")
MODE_ZH = {"transfer": "技术转让", "license": "技术许可", "joint": "合作开发",
           "commissioned": "委托开发", "service": "技术服务", "consulting": "技术咨询"}

# Maturity stages and the TRL span each covers.
STAGES = ("lab", "small_pilot", "pilot", "industrial")
STAGE_ZH = {"lab": "实验室", "small_pilot": "小试", "pilot": "中试", "industrial": "产业化"}
STAGE_TRL = {"lab": (1, 3), "small_pilot": (4, 5), "pilot": (6, 7), "industrial": (8, 9)}

# 职务科技成果赋权 (empowering researchers with rights to their service inventions): not yet, partially, fully
RIGHTS_STATUSES = ("none", "partial", "full")


class ListingMixin:
    """Columns shared by demands and achievements."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    keywords: Mapped[str] = mapped_column(String(300), default="")
    region: Mapped[Optional[str]] = mapped_column(String(32), index=True)
    # Comma-wrapped codes (",joint,license,") so a mode filter is a portable LIKE.
    modes_raw: Mapped[str] = mapped_column("modes", String(120), default="")
    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT.value, index=True)
    review_note: Mapped[Optional[str]] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(32))
    contact_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    published_at: Mapped[Optional[datetime]] = mapped_column(DateTime, index=True)
    closed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    # title, keywords and the searched body, lower-cased once on save (search_text_of): the search page
    # matches terms with a plain LIKE instead of lower() over three columns of every row (docs/capacity.md)
    search_text: Mapped[Optional[str]] = mapped_column(Text)
    # the same text segmented by jieba, words separated by spaces (services/search_index.py writes it on save):
    # the database's full-text index is built over it (an FTS5 table on SQLite, a tsvector on PostgreSQL)
    search_terms: Mapped[Optional[str]] = mapped_column(Text)

    @declared_attr
    def owner_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("users.id"), index=True)

    @declared_attr
    def organisation_id(cls) -> Mapped[Optional[int]]:
        # indexed: a match page leaves out the counterparts of the listing's own organisation (migration 0009)
        return mapped_column(ForeignKey("organisations.id"), index=True)

    @declared_attr
    def field_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("fields.id"), index=True)

    @declared_attr
    def region_id(cls) -> Mapped[Optional[int]]:
        # the node `region` names (any level, migration 0011), kept in step on save (models/taxonomy.py)
        return mapped_column(ForeignKey("regions.id"), index=True)

    @declared_attr
    def owner(cls) -> Mapped[User]:
        return relationship(User)

    @declared_attr
    def organisation(cls) -> Mapped[Optional[Organisation]]:
        return relationship(Organisation)

    @declared_attr
    def field(cls) -> Mapped[Field]:
        return relationship(Field)

    @property
    def modes(self) -> list[str]:
        """Cooperation mode codes."""
        return [m for m in (self.modes_raw or "").split(",") if m]

    @modes.setter
    def modes(self, codes: list[str]) -> None:
        ordered = [m for m in COOPERATION_MODES if m in set(codes)]
        self.modes_raw = "," + ",".join(ordered) + "," if ordered else ""

    @property
    def keyword_list(self) -> list[str]:
        """Keywords as a list."""
        return [k for k in (self.keywords or "").replace("，", ",").replace("、", ",").split(",") if k.strip()]


class Demand(ListingMixin, Base):
    """A company's technical problem looking for a solver."""

    __tablename__ = "demands"
    kind = "demand"

    description: Mapped[str] = mapped_column(Text)
    indicators: Mapped[str] = mapped_column(Text, default="")
    budget_min: Mapped[Optional[float]] = mapped_column(Float)
    budget_max: Mapped[Optional[float]] = mapped_column(Float)
    deadline: Mapped[Optional[date]] = mapped_column(Date)
    min_trl: Mapped[Optional[int]] = mapped_column(Integer)
    # a confidential demand hides the company's name from the public and universities until an introduction is
    # accepted by both sides (services.organisations.demand_company_name; migration 0015)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def body(self) -> str:
        """Text the engine reads: the problem and its indicators."""
        return "\n".join(p for p in (self.description, self.indicators) if p)


class Achievement(ListingMixin, Base):
    """A university's or institute's research result offered for transfer."""

    __tablename__ = "achievements"
    kind = "achievement"

    abstract: Mapped[str] = mapped_column(Text)
    trl: Mapped[Optional[int]] = mapped_column(Integer)
    stage: Mapped[Optional[str]] = mapped_column(String(16))
    price: Mapped[Optional[float]] = mapped_column(Float)
    negotiable: Mapped[bool] = mapped_column(Boolean, default=False)
    team: Mapped[str] = mapped_column(Text, default="")
    # 职务科技成果赋权: whether the inventors hold ownership or long-term use rights (none | partial | full)
    rights_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")

    patents: Mapped[list["Patent"]] = relationship(
        back_populates="achievement", cascade="all, delete-orphan", order_by="Patent.id")

    @property
    def body(self) -> str:
        """Text the engine reads: the abstract."""
        return self.abstract or ""


def search_text_of(item: "Demand | Achievement") -> str:
    """What the search box matches: title, keywords and the description/abstract, lower-cased, one per line
    (a search term has no whitespace, so it never matches across two of them)."""
    body = item.description if item.kind == "demand" else item.abstract
    return "\n".join((item.title or "", item.keywords or "", body or "")).lower()


def _set_search_text(_mapper, _connection, target) -> None:
    target.search_text = search_text_of(target)


for _model in (Demand, Achievement):
    event.listen(_model, "before_insert", _set_search_text)
    event.listen(_model, "before_update", _set_search_text)
    event.listen(_model, "before_insert", sync_region_id)
    event.listen(_model, "before_update", sync_region_id)


class Patent(Base):
    """Intellectual property attached to an achievement."""

    __tablename__ = "patents"

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # invention | utility | software
    status: Mapped[str] = mapped_column(String(16))  # granted | examining | filed

    achievement: Mapped[Achievement] = relationship(back_populates="patents")


class ReviewEvent(Base):
    """One step of a listing's lifecycle: who did what, when, and why."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor: Mapped[Optional[User]] = relationship(User)
