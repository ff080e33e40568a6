"""The technology-contract register (技术合同登记) and the yearly targets an admin sets per region node."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import (CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .taxonomy import Field, Region
from .user import Organisation, User

# Contract types of the registration form: category.subtype (技术开发: 委托/合作; 技术转让: 专利权/专利申请权/
# 技术秘密/其他; 技术许可; 技术咨询; 技术服务). The category is stored too, so "by type" is one GROUP BY.
TECH_CONTRACT_TYPES = ("development.commissioned", "development.cooperative", "transfer.patent",
                       "transfer.patent_application", "transfer.know_how", "transfer.other", "license",
                       "consulting", "service")
TECH_CONTRACT_TYPE_ZH = {"development.commissioned": "技术开发（委托）", "development.cooperative": "技术开发（合作）",
                         "transfer.patent": "技术转让（专利权）", "transfer.patent_application": "技术转让（专利申请权）",
                         "transfer.know_how": "技术转让（技术秘密）", "transfer.other": "技术转让（其他）",
                         "license": "技术许可", "consulting": "技术咨询", "service": "技术服务"}
TECH_CONTRACT_CATEGORIES = ("development", "transfer", "license", "consulting", "service")
# Nature of a party (3-digit code of the registration form). The registration office's own code list may
# differ in detail; these are the platform's codes, shown with their names everywhere.
PARTY_NATURES = {"110": "科研机构", "120": "高等院校", "130": "医疗卫生机构", "210": "国有企业",
                 "220": "集体企业", "230": "民营企业", "240": "外商投资企业", "250": "港澳台投资企业",
                 "310": "个体经营", "410": "社会团体", "420": "其他组织", "500": "自然人"}
# Intellectual property the contract involves.
IP_KINDS = {"none": "不涉及", "invention": "发明专利", "utility": "实用新型专利", "design": "外观设计专利",
            "software": "计算机软件著作权", "ic_layout": "集成电路布图设计", "plant_variety": "植物新品种",
            "know_how": "技术秘密", "other": "其他知识产权"}
CONTRACT_STATUSES = ("registered", "not_registered")  # 已登记 / 未予登记


class TechContract(Base):
    """One registered (or refused) technology contract, amounts in 万元."""

    __tablename__ = "tech_contracts"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("tech_amount >= 0 AND tech_amount <= amount", name="tech_amount_within"),
        # the statistics (services/contract_stats.py) read a period's registered contracts from this covering
        # index only: the parties' regions, the amounts and every column a table groups by (migration 0019)
        Index("ix_tech_contracts_stats", "status", "signed_on", "seller_region_id", "buyer_region_id", "amount",
              "tech_amount", "category", "contract_type", "field_id", "broker_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reg_number: Mapped[str] = mapped_column(String(16), unique=True)
    registered_on: Mapped[Optional[date]] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    contract_type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default="registered", index=True)
    seller_name: Mapped[str] = mapped_column(String(200))
    seller_nature: Mapped[str] = mapped_column(String(3))
    seller_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    seller_org_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_nature: Mapped[str] = mapped_column(String(3))
    buyer_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    buyer_org_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 4))  # 成交额
    tech_amount: Mapped[Decimal] = mapped_column(Numeric(14, 4))  # 技术交易额
    signed_on: Mapped[date] = mapped_column(Date, index=True)
    term_from: Mapped[Optional[date]] = mapped_column(Date)
    term_to: Mapped[Optional[date]] = mapped_column(Date)
    field_id: Mapped[Optional[int]] = mapped_column(ForeignKey("fields.id"), index=True)
    ip_kind: Mapped[str] = mapped_column(String(16), default="none")
    ip_note: Mapped[str] = mapped_column(String(200), default="")
    demand_id: Mapped[Optional[int]] = mapped_column(ForeignKey("demands.id"), index=True)  # the chain map (0019)
    achievement_id: Mapped[Optional[int]] = mapped_column(ForeignKey("achievements.id"), index=True)
    opportunity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("opportunities.id"), index=True)
    challenge_id: Mapped[Optional[int]] = mapped_column(ForeignKey("challenges.id"))
    broker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    seller_region: Mapped[Region] = relationship(Region, foreign_keys=[seller_region_id])
    buyer_region: Mapped[Region] = relationship(Region, foreign_keys=[buyer_region_id])
    seller_org: Mapped[Optional[Organisation]] = relationship(Organisation, foreign_keys=[seller_org_id])
    buyer_org: Mapped[Optional[Organisation]] = relationship(Organisation, foreign_keys=[buyer_org_id])
    field: Mapped[Optional[Field]] = relationship(Field)
    broker: Mapped[Optional[User]] = relationship(User)


class RegionTarget(Base):
    """What a region node aims for in a year: contract amount (万元) and count."""

    __tablename__ = "region_targets"
    __table_args__ = (UniqueConstraint("region_id", "year", name="uq_region_targets_region_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    tech_amount: Mapped[Optional[Decimal]] = mapped_column(Numeric(14, 4))
    count: Mapped[Optional[int]] = mapped_column(Integer)
    # which flow the target counts: 'output' (sellers inside, what the node registers) or 'absorbed' (buyers
    # inside: a park that hosts the firms taking technology up)
    measure: Mapped[str] = mapped_column(String(16), default="output", server_default="output")
    set_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region] = relationship(Region)
