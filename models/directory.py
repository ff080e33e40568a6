"""The service directory (科技大市场): providers list themselves (technology-transfer agencies, pilot-scale and
proof-of-concept platforms, testing labs, IP services, investors, experts), brokers review them like listings,
and a contact reaches anyone only through a request the provider accepts (double opt-in, issue 21 part 2)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import DateTime, Float, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .taxonomy import sync_region_id
from .user import User

PROVIDER_KINDS = ("agency", "pilot", "poc", "lab", "ip", "investor", "expert")
PROVIDER_KIND_ZH = {"agency": "技术转移机构", "pilot": "中试平台", "poc": "概念验证平台", "lab": "检测机构",
                    "ip": "知识产权服务", "investor": "投资与金融机构", "expert": "专家"}
# kinds that offer equipment and capacity, and the investment stages an investor names
FACILITY_KINDS = ("pilot", "poc", "lab")
INVESTOR_STAGES = ("seed", "angel", "a", "b", "c", "growth", "debt")
PROVIDER_STATUSES = ("draft", "submitted", "published", "returned", "rejected")
CONTACT_STATUSES = ("requested", "accepted", "declined", "withdrawn")


def wrap_codes(codes: list[str]) -> str:
    """Comma-wrapped codes (",a,b,") so a filter on one code is a portable LIKE."""
    return "," + ",".join(codes) + "," if codes else ""


def unwrap_codes(raw: Optional[str]) -> list[str]:
    return [c for c in (raw or "").split(",") if c]


class Provider(Base):
    """One provider's entry in the directory; its contact is hidden until the provider accepts a request."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    # field codes (models.taxonomy.Field.code), comma-wrapped: ",new_energy,photonics.display,"
    fields_raw: Mapped[str] = mapped_column("fields", String(400), default="")
    region: Mapped[Optional[str]] = mapped_column(String(32))
    region_id: Mapped[Optional[int]] = mapped_column(ForeignKey("regions.id"), index=True)
    services: Mapped[str] = mapped_column(Text, default="")
    equipment: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[str] = mapped_column(String(300), default="")
    stages_raw: Mapped[str] = mapped_column("stages", String(80), default="")
    ticket_min: Mapped[Optional[float]] = mapped_column(Float)  # 万元
    ticket_max: Mapped[Optional[float]] = mapped_column(Float)
    website: Mapped[str] = mapped_column(String(200), default="")
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(32))
    contact_email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    review_note: Mapped[Optional[str]] = mapped_column(Text)
    search_text: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    published_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    owner: Mapped[User] = relationship(User)

    @property
    def field_codes(self) -> list[str]:
        return unwrap_codes(self.fields_raw)

    @field_codes.setter
    def field_codes(self, codes: list[str]) -> None:
        self.fields_raw = wrap_codes(list(dict.fromkeys(codes)))

    @property
    def stages(self) -> list[str]:
        return unwrap_codes(self.stages_raw)

    @stages.setter
    def stages(self, codes: list[str]) -> None:
        self.stages_raw = wrap_codes([s for s in INVESTOR_STAGES if s in set(codes)])


def provider_search_text(p: Provider) -> str:
    """What the directory's search box matches, lower-cased once on save."""
    return "\n".join((p.name or "", p.description or "", p.services or "", p.equipment or "",
                      p.capacity or "")).lower()


def _set_search_text(_mapper, _connection, target: Provider) -> None:
    target.search_text = provider_search_text(target)


event.listen(Provider, "before_insert", _set_search_text)
event.listen(Provider, "before_update", _set_search_text)
event.listen(Provider, "before_insert", sync_region_id)
event.listen(Provider, "before_update", sync_region_id)


class ProviderContactRequest(Base):
    """A signed-in user asks for a provider's contact; the provider accepts (both see each other's contact)
    or declines; either side may withdraw. At most one live request per (provider, requester)."""

    __tablename__ = "provider_contact_requests"
    __table_args__ = (
        Index("uq_provider_contact_requests_live", "provider_id", "requester_id", unique=True,
              sqlite_where=text("status IN ('requested', 'accepted')"),
              postgresql_where=text("status IN ('requested', 'accepted')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    provider: Mapped[Provider] = relationship(Provider)
    requester: Mapped[User] = relationship(User)
