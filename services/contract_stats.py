"""Technology-contract statistics as a region reports them, every figure one SQL GROUP BY.

Over registered contracts (status 'registered'; 未予登记 ones are left out) signed in [start, end) and a region
node (the node and everything under it, by the materialised path):

- 输出 (output): the seller is inside the node; 吸纳 (absorbed): the buyer is inside; 就地 (local): both are.
- 就地转化率: 就地 成交额 / 输出 成交额, the share of what the node's sellers sold that stayed inside.
- The node's 技术合同成交额, and the tables by type, field and broker, count the 输出 side: a contract is
  registered where its seller is (技术合同认定登记), so that is the figure a registration office reports.
- By park: per child node of the chosen node, its 输出, 吸纳 and 就地.
- Targets: per node and year (models.RegionTarget), compared with the node's 输出 成交额 and count, or its 吸纳
  where the target says so (a park hosting the firms that take technology up).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from models import Field, Region, RegionTarget, TechContract, User

from . import audit
from .errors import ServiceError

ZERO = Decimal("0")


@dataclass(frozen=True)
class Period:
    """Days start (inclusive) to end (exclusive), with how it was chosen."""

    start: date
    end: date
    kind: str = "custom"
    label: str = ""

    def previous_year(self) -> "Period":
        """The same days one year earlier (29 February becomes the 28th)."""
        return Period(_year_back(self.start), _year_back(self.end), self.kind, "")

    @property
    def year(self) -> Optional[int]:
        """The calendar year the period lies in, if it lies in one."""
        return self.start.year if (self.end - timedelta(days=1)).year == self.start.year else None


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def period(kind: str, year: int, part: int = 0, start: Optional[date] = None, end: Optional[date] = None) -> Period:
    """A year, quarter (part 1-4), month (part 1-12) or custom days [start, end] (end inclusive)."""
    if kind == "custom":
        if start is None or end is None or end < start:
            raise ServiceError("stats.bad_period")
        return Period(start, end + timedelta(days=1), "custom", f"{start.isoformat()} – {end.isoformat()}")
    if not 1985 <= year <= 2100:
        raise ServiceError("stats.bad_period")
    if kind == "year":
        return Period(date(year, 1, 1), date(year + 1, 1, 1), "year", str(year))
    if kind == "quarter" and 1 <= part <= 4:
        first = date(year, 3 * part - 2, 1)
        last_month = 3 * part
        return Period(first, _month_end(year, last_month), "quarter", f"{year} Q{part}")
    if kind == "month" and 1 <= part <= 12:
        return Period(date(year, part, 1), _month_end(year, part), "month", f"{year}-{part:02d}")
    raise ServiceError("stats.bad_period")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=1)


@dataclass(frozen=True)
class Totals:
    """Count and the two amounts (万元) of a set of contracts."""

    count: int = 0
    amount: Decimal = ZERO
    tech_amount: Decimal = ZERO


def _totals(row: Any) -> Totals:
    return Totals(int(row[0] or 0), Decimal(row[1] or 0), Decimal(row[2] or 0))


def _sums() -> tuple[Any, Any, Any]:
    return (func.count(TechContract.id), func.coalesce(func.sum(TechContract.amount), 0),
            func.coalesce(func.sum(TechContract.tech_amount), 0))


def _inside(column: Any, node: Region) -> Any:
    return column.in_(select(Region.id).where(Region.path.startswith(node.path, autoescape=True)))


def _base(p: Period) -> list[Any]:
    return [TechContract.status == "registered", TechContract.signed_on >= p.start, TechContract.signed_on < p.end]


def _flow(p: Period, node: Region, side: str) -> list[Any]:
    seller, buyer = _inside(TechContract.seller_region_id, node), _inside(TechContract.buyer_region_id, node)
    extra = {"output": [seller], "absorbed": [buyer], "local": [seller, buyer]}[side]
    return _base(p) + extra


def _sums_if(cond: Any) -> tuple[Any, Any, Any]:
    """_sums() over the rows meeting cond only (one pass computes several flows: conditional aggregates)."""
    return (func.count(TechContract.id).filter(cond), func.coalesce(func.sum(TechContract.amount).filter(cond), 0),
            func.coalesce(func.sum(TechContract.tech_amount).filter(cond), 0))


FLOWS = ("output", "absorbed", "local")


def _flow_sides(seller: Any, buyer: Any) -> dict[str, Any]:
    return {"output": seller, "absorbed": buyer, "local": and_(seller, buyer)}


def flows(session: Session, node: Region, p: Period) -> dict[str, Totals]:
    """输出 / 吸纳 / 就地 totals of the node in the period: one pass over the period's contracts with a party
    inside the node, each flow a filtered aggregate (H8: one statement instead of one per flow)."""
    seller, buyer = _inside(TechContract.seller_region_id, node), _inside(TechContract.buyer_region_id, node)
    sides = _flow_sides(seller, buyer)
    row = session.execute(select(*(c for side in FLOWS for c in _sums_if(sides[side])))
                          .where(*_base(p), or_(seller, buyer))).one()
    return {side: _totals(row[3 * i:3 * i + 3]) for i, side in enumerate(FLOWS)}


def local_rate(f: dict[str, Totals]) -> Optional[float]:
    """就地转化率 by amount: 就地 成交额 / 输出 成交额 (None when nothing was output)."""
    out = f["output"].amount
    return float(f["local"].amount / out) if out > 0 else None


def _grouped(session: Session, key: Any, where: list[Any], join: Optional[tuple] = None) -> list[tuple[Any, Totals]]:
    stmt: Select = select(key, *_sums()).where(*where)
    if join is not None:
        stmt = stmt.join(*join)
    rows = session.execute(stmt.group_by(key).order_by(func.sum(TechContract.amount).desc())).all()
    return [(r[0], _totals(r[1:])) for r in rows]


def by_type(session: Session, node: Region, p: Period) -> list[tuple[str, Totals]]:
    """Per contract category (技术开发/转让/许可/咨询/服务), the node's 输出 side."""
    return _grouped(session, TechContract.category, _flow(p, node, "output"))


def by_subtype(session: Session, node: Region, p: Period) -> list[tuple[str, Totals]]:
    """Per registration type (技术开发（委托）...), the node's 输出 side."""
    return _grouped(session, TechContract.contract_type, _flow(p, node, "output"))


def by_field(session: Session, node: Region, p: Period) -> list[tuple[Optional[int], Totals]]:
    """Per top-level field id (None: no field given), the node's 输出 side."""
    top = func.coalesce(Field.parent_id, Field.id)
    stmt = select(top, *_sums()).select_from(TechContract).outerjoin(Field, TechContract.field_id == Field.id) \
        .where(*_flow(p, node, "output")).group_by(top).order_by(func.sum(TechContract.amount).desc())
    return [(r[0], _totals(r[1:])) for r in session.execute(stmt).all()]


def by_broker(session: Session, node: Region, p: Period) -> list[tuple[Optional[int], Totals]]:
    """Per broker who recorded the contract (None: imported without one), the node's 输出 side."""
    return _grouped(session, TechContract.broker_id, _flow(p, node, "output"))


def by_child(session: Session, node: Region, p: Period) -> list[tuple[Region, dict[str, Totals]]]:
    """Per direct child of the node (its districts, parks...): 输出, 吸纳 and 就地, one GROUP BY (filtered sums)."""
    kids = list(session.scalars(select(Region).where(Region.parent_id == node.id).order_by(Region.position, Region.id)))
    if not kids:
        return []
    child, seller_r, buyer_r = aliased(Region), aliased(Region), aliased(Region)
    under = lambda r: r.path.startswith(child.path)  # noqa: E731
    conditions = _flow_sides(under(seller_r), under(buyer_r))
    stmt = select(child.id, *(c for side in FLOWS for c in _sums_if(conditions[side]))).select_from(TechContract) \
        .join(seller_r, TechContract.seller_region_id == seller_r.id) \
        .join(buyer_r, TechContract.buyer_region_id == buyer_r.id) \
        .join(child, child.parent_id == node.id) \
        .where(*_base(p), or_(conditions["output"], conditions["absorbed"])).group_by(child.id)
    found: dict[int, dict[str, Totals]] = {
        r[0]: {side: _totals(r[1 + 3 * i:4 + 3 * i]) for i, side in enumerate(FLOWS)}
        for r in session.execute(stmt).all()}
    return [(k, found.get(k.id) or {side: Totals() for side in FLOWS}) for k in kids]


def year_on_year(session: Session, node: Region, p: Period) -> dict[str, tuple[Totals, Totals, Optional[float]]]:
    """Per flow: (this period, the same period a year earlier, change of 成交额 in per cent or None)."""
    now, before = flows(session, node, p), flows(session, node, p.previous_year())
    out = {}
    for side in now:
        a, b = now[side].amount, before[side].amount
        out[side] = (now[side], before[side], float((a - b) / b * 100) if b > 0 else None)
    return out


# ---------------------------------------------------------------- targets

@dataclass(frozen=True)
class Progress:
    """A node's target for a year and where its 输出 stands (to date when the year is not over)."""

    target: RegionTarget
    done: Totals
    share: Optional[float]  # 成交额 done / target, 0-1+ (None without a positive target)


def get_target(session: Session, node: Region, year: int) -> Optional[RegionTarget]:
    """The node's target for the year, if set."""
    return session.scalar(select(RegionTarget).where(RegionTarget.region_id == node.id, RegionTarget.year == year))


def set_target(session: Session, actor: User, node: Region, year: int, amount: Any, count: Any = None,
               tech_amount: Any = None, measure: str = "output") -> RegionTarget:
    """Create or replace the node's target for a year (amounts in 万元, non-negative), counted on the node's
    output (sellers inside) or absorbed (buyers inside) contracts."""
    if not 1985 <= int(year) <= 2100:
        raise ServiceError("stats.bad_period")
    if measure not in ("output", "absorbed"):
        raise ServiceError("target.bad_measure")
    try:
        amount_d = Decimal(str(amount))
        tech_d = Decimal(str(tech_amount)) if tech_amount not in (None, "") else None
        count_i = int(count) if count not in (None, "") else None
    except (ArithmeticError, ValueError):
        raise ServiceError("target.bad_amount") from None
    if not amount_d.is_finite() or amount_d < 0 or amount_d > Decimal("1000000000") or (count_i is not None and not 0 <= count_i < 10**9) \
            or (tech_d is not None and (not tech_d.is_finite() or tech_d < 0 or tech_d > amount_d)):
        raise ServiceError("target.bad_amount")
    row = get_target(session, node, int(year)) or RegionTarget(region_id=node.id, year=int(year))
    row.amount, row.count, row.tech_amount, row.set_by_id = amount_d, count_i, tech_d, actor.id
    row.measure = measure
    session.add(row)
    session.flush()
    audit.record(session, "region_target.set", actor=actor, target=f"region:{node.id}",
                 detail={"year": int(year), "amount": str(amount_d), "count": count_i, "measure": measure})
    return row


def progress(session: Session, node: Region, year: int) -> Optional[Progress]:
    """The node's target for the year with its 输出 (or 吸纳, as the target says) over the whole year so far."""
    target = get_target(session, node, year)
    if target is None:
        return None
    done = flows(session, node, period("year", year))[target.measure or "output"]
    share = float(done.amount / target.amount) if target.amount and target.amount > 0 else None
    return Progress(target, done, share)


def targets_of(session: Session, year: int) -> list[RegionTarget]:
    """Every target set for a year, by region."""
    return list(session.scalars(select(RegionTarget).where(RegionTarget.year == year).order_by(RegionTarget.region_id)))
