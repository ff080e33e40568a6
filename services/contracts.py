"""The technology-contract register: record, correct (audited), search, prefill from a signed opportunity,
and bulk import from the registration office's spreadsheet (every row checked; the good rows saved together,
the others reported with their reasons, nothing half-saved).

Problems are (field, code, params); the web layer translates the codes (web/contracts_messages.py)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, joinedload

from models import (CONTRACT_STATUSES, IP_KINDS, PARTY_NATURES, TECH_CONTRACT_TYPE_ZH, TECH_CONTRACT_TYPES,
                    Achievement, Challenge, Demand, Field, Opportunity, Region, TechContract, User)

from . import audit, clock, regions
from .errors import NotFound, ServiceError

REG_NUMBER_RE = re.compile(r"^\d{16}$")
MAX_AMOUNT = Decimal("1000000000")  # 万元: ten trillion yuan, beyond any contract
EARLIEST = date(1985, 1, 1)  # technology-contract registration began in the 1980s
# what an opportunity's coarse contract type becomes as a registration type
FROM_OPPORTUNITY = {"development": "development.commissioned", "transfer": "transfer.other", "license": "license",
                    "consulting": "consulting", "service": "service"}
NATURE_OF_KIND = {"company": "230", "university": "120", "agency": "420"}
# fields an edit may change, in form order (the audit records which ones did)
EDITABLE = ("reg_number", "registered_on", "name", "contract_type", "status", "seller_name", "seller_nature",
            "seller_region", "buyer_name", "buyer_nature", "buyer_region", "amount", "tech_amount", "signed_on",
            "term_from", "term_to", "field_code", "ip_kind", "ip_note", "demand_id", "achievement_id",
            "opportunity_id", "challenge_id", "note")

Problem = tuple[str, str, dict[str, Any]]


@dataclass
class ContractFilter:
    """What the register list filters on; empty fields do not filter."""

    q: str = ""
    category: str = ""
    status: str = ""
    region: str = ""  # a region code: contracts with either party inside that node
    since: Optional[date] = None
    until: Optional[date] = None
    field: str = ""  # a top-level field code


def category_of(contract_type: str) -> str:
    """The top type of a registration type ('transfer.patent' -> 'transfer')."""
    return contract_type.split(".", 1)[0]


def get(session: Session, contract_id: int) -> TechContract:
    """The contract or NotFound."""
    row = session.get(TechContract, contract_id)
    if row is None:
        raise NotFound()
    return row


# ---------------------------------------------------------------- checking values

def _decimal(value: Any) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValueError from None
    if not number.is_finite():
        raise ValueError
    return number


def _date(value: Any) -> Optional[date]:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    try:
        return datetime.strptime(text[:10], "%Y-%m-%d").date()
    except ValueError:
        raise ValueError from None


def _int(value: Any) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError from None
    if not 0 < number < 2_147_483_648:
        raise ValueError
    return number


def _region(session: Session, raw: Any) -> Optional[Region]:
    """A region by code, six-digit GB/T 2260 code or exact Chinese name."""
    text = str(raw or "").strip()
    if not text:
        return None
    found = regions.by_code(session, text.lower())
    if found is None and re.fullmatch(r"\d{6}", text):
        found = session.scalar(select(Region).where(Region.gb_code == text))
    if found is None:
        matches = list(session.scalars(select(Region).where(Region.name_zh == text).limit(2)))
        found = matches[0] if len(matches) == 1 else None
    return found


def check(session: Session, data: dict[str, Any], contract: Optional[TechContract] = None
          ) -> tuple[dict[str, Any], list[Problem]]:
    """Clean values (model attribute -> value) and every problem found in data (empty when it can be saved)."""
    out: dict[str, Any] = {}
    problems: list[Problem] = []

    def bad(field: str, code: str, **params: Any) -> None:
        problems.append((field, code, params))

    reg = str(data.get("reg_number") or "").strip()
    if not REG_NUMBER_RE.match(reg):
        bad("reg_number", "contract.reg_number_format")
    else:
        holder = session.scalar(select(TechContract.id).where(TechContract.reg_number == reg))
        if holder is not None and (contract is None or holder != contract.id):
            bad("reg_number", "contract.reg_number_taken", number=reg)
    out["reg_number"] = reg
    for key, limit in (("name", 200), ("seller_name", 200), ("buyer_name", 200)):
        text = str(data.get(key) or "").strip()
        if not text or len(text) > limit:
            bad(key, "contract.text_length", max=limit)
        out[key] = text
    ctype = unicodedata.normalize("NFKC", str(data.get("contract_type") or "")).strip()
    ctype = {unicodedata.normalize("NFKC", v): k for k, v in TECH_CONTRACT_TYPE_ZH.items()}.get(ctype, ctype)
    if ctype not in TECH_CONTRACT_TYPES:
        bad("contract_type", "contract.bad_type")
    out["contract_type"], out["category"] = ctype, category_of(ctype)
    status = str(data.get("status") or "registered").strip()
    status = {"已登记": "registered", "登记": "registered", "未予登记": "not_registered"}.get(status, status)
    if status not in CONTRACT_STATUSES:
        bad("status", "contract.bad_status")
    out["status"] = status
    for side in ("seller", "buyer"):
        nature = str(data.get(f"{side}_nature") or "").strip()[:3]
        nature = {v: k for k, v in PARTY_NATURES.items()}.get(str(data.get(f"{side}_nature") or "").strip(), nature)
        if nature not in PARTY_NATURES:
            bad(f"{side}_nature", "contract.bad_nature")
        out[f"{side}_nature"] = nature
        region = _region(session, data.get(f"{side}_region"))
        if region is None:
            bad(f"{side}_region", "contract.unknown_region", value=str(data.get(f"{side}_region") or "")[:40])
        out[f"{side}_region_id"] = region.id if region is not None else None
    _amounts(data, out, bad)
    _dates(data, out, bad)
    field_code = str(data.get("field_code") or "").strip()
    out["field_id"] = None
    if field_code:
        field = session.scalar(select(Field).where(or_(Field.code == field_code, Field.name_zh == field_code)))
        if field is None:
            bad("field_code", "contract.unknown_field")
        else:
            out["field_id"] = field.id
    ip_kind = str(data.get("ip_kind") or "none").strip()
    ip_kind = {v: k for k, v in IP_KINDS.items()}.get(ip_kind, ip_kind)
    if ip_kind not in IP_KINDS:
        bad("ip_kind", "contract.bad_ip_kind")
    out["ip_kind"] = ip_kind
    out["ip_note"] = str(data.get("ip_note") or "").strip()[:200]
    out["note"] = str(data.get("note") or "").strip()[:2000]
    _links(session, data, out, bad)
    return out, problems


def _amounts(data: dict[str, Any], out: dict[str, Any], bad: Any) -> None:
    for key in ("amount", "tech_amount"):
        try:
            value = _decimal(data.get(key))
        except ValueError:
            bad(key, "contract.bad_number")
            value = None
        else:
            if value is None:
                bad(key, "contract.amount_required")
            elif value < 0:
                bad(key, "contract.amount_negative")
            elif value > MAX_AMOUNT:
                bad(key, "contract.amount_too_large")
        out[key] = value.quantize(Decimal("0.0001")) if value is not None and value.is_finite() else value
    amount, tech = out.get("amount"), out.get("tech_amount")
    if amount is not None and tech is not None and 0 <= tech and tech > amount >= 0:
        bad("tech_amount", "contract.tech_above_amount")


def _dates(data: dict[str, Any], out: dict[str, Any], bad: Any) -> None:
    today = clock.today()
    unreadable = set()
    for key in ("signed_on", "registered_on", "term_from", "term_to"):
        try:
            value = _date(data.get(key))
        except ValueError:
            value = None
            unreadable.add(key)
        if value is not None and not EARLIEST <= value <= date(2100, 12, 31):
            value = None
            unreadable.add(key)
        if key in unreadable:
            bad(key, "contract.bad_date")
        out[key] = value
    if out["signed_on"] is None and "signed_on" not in unreadable:
        bad("signed_on", "contract.signed_required")
    elif out["signed_on"] is not None and out["signed_on"] > today:
        bad("signed_on", "contract.signed_future")
    if out["registered_on"] is not None:
        if out["signed_on"] is not None and out["registered_on"] < out["signed_on"]:
            bad("registered_on", "contract.registered_before_signed")
        elif out["registered_on"] > today:
            bad("registered_on", "contract.registered_future")
    if out["term_from"] and out["term_to"] and out["term_to"] < out["term_from"]:
        bad("term_to", "contract.term_order")


def _links(session: Session, data: dict[str, Any], out: dict[str, Any], bad: Any) -> None:
    for key, model in (("demand_id", Demand), ("achievement_id", Achievement), ("opportunity_id", Opportunity),
                       ("challenge_id", Challenge)):
        try:
            value = _int(data.get(key))
        except ValueError:
            bad(key, "contract.unknown_link")
            value = None
        if value is not None and session.get(model, value) is None:
            bad(key, "contract.unknown_link")
            value = None
        out[key] = value


# ---------------------------------------------------------------- saving

def create_contract(session: Session, actor: User, data: dict[str, Any]) -> TechContract:
    """Record a contract; ServiceError (its code, field in params) for the first problem."""
    values, problems = check(session, data)
    _refuse(problems)
    row = TechContract(**values, broker_id=actor.id)
    _link_orgs(session, row)
    session.add(row)
    session.flush()
    audit.record(session, "contract.created", actor=actor, target=f"contract:{row.id}",
                 detail={"reg_number": row.reg_number})
    return row


def update_contract(session: Session, actor: User, row: TechContract, data: dict[str, Any]) -> TechContract:
    """Correct a contract (amounts are correctable later); the audit names the changed fields."""
    values, problems = check(session, data, row)
    _refuse(problems)
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    for key in changed:
        setattr(row, key, values[key])
    _link_orgs(session, row)
    session.flush()
    if changed:
        audit.record(session, "contract.changed", actor=actor, target=f"contract:{row.id}",
                     detail={"fields": changed, "reg_number": row.reg_number})
    return row


def _refuse(problems: list[Problem]) -> None:
    if problems:
        field, code, params = problems[0]
        raise ServiceError(code, field=field, **params)


def _link_orgs(session: Session, row: TechContract) -> None:
    """The platform organisations behind the linked demand (buyer) and achievement (seller), when linked."""
    demand = session.get(Demand, row.demand_id) if row.demand_id else None
    achievement = session.get(Achievement, row.achievement_id) if row.achievement_id else None
    row.buyer_org_id = demand.organisation_id if demand is not None else None
    row.seller_org_id = achievement.organisation_id if achievement is not None else None


def prefill_from_opportunity(session: Session, opp: Opportunity) -> dict[str, Any]:
    """Form values for registering a signed opportunity's contract (the broker completes the rest)."""
    demand, achievement = opp.demand, opp.achievement
    buyer, seller = demand.organisation, achievement.organisation
    return {"name": f"{achievement.title}"[:200], "contract_type": FROM_OPPORTUNITY.get(opp.contract_type or "", ""),
            "status": "registered", "amount": opp.amount, "tech_amount": opp.amount, "signed_on": opp.signed_on,
            "buyer_name": buyer.name if buyer else "", "seller_name": seller.name if seller else "",
            "buyer_nature": NATURE_OF_KIND.get(buyer.kind, "") if buyer else "",
            "seller_nature": NATURE_OF_KIND.get(seller.kind, "") if seller else "",
            "buyer_region": demand.region or (buyer.region if buyer else "") or "",
            "seller_region": achievement.region or (seller.region if seller else "") or "",
            "field_code": demand.field.code if demand.field else "", "demand_id": demand.id,
            "achievement_id": achievement.id, "opportunity_id": opp.id}


def form_values(row: TechContract) -> dict[str, Any]:
    """A stored contract as form values (the inverse of check)."""
    values = {k: getattr(row, k) for k in EDITABLE if hasattr(row, k)}
    values["seller_region"] = row.seller_region.code
    values["buyer_region"] = row.buyer_region.code
    values["field_code"] = row.field.code if row.field else ""
    return values


# ---------------------------------------------------------------- listing

def search_stmt(f: ContractFilter) -> Select:
    """Contracts matching the filter, newest signing first (parties' regions and field loaded with them)."""
    stmt = select(TechContract).options(joinedload(TechContract.seller_region), joinedload(TechContract.buyer_region),
                                        joinedload(TechContract.field))
    if f.q.strip():
        term = f.q.strip()
        stmt = stmt.where(or_(TechContract.name.contains(term, autoescape=True),
                              TechContract.reg_number.contains(term, autoescape=True),
                              TechContract.seller_name.contains(term, autoescape=True),
                              TechContract.buyer_name.contains(term, autoescape=True)))
    if f.category:
        stmt = stmt.where(TechContract.category == f.category)
    if f.status:
        stmt = stmt.where(TechContract.status == f.status)
    if f.region:
        inside = select(Region.id).where(Region.code.in_(regions.subtree_codes_of(f.region)))
        stmt = stmt.where(or_(TechContract.seller_region_id.in_(inside), TechContract.buyer_region_id.in_(inside)))
    if f.since:
        stmt = stmt.where(TechContract.signed_on >= f.since)
    if f.until:
        stmt = stmt.where(TechContract.signed_on <= f.until)
    if f.field:
        stmt = stmt.join(Field, TechContract.field_id == Field.id).where(
            or_(Field.code == f.field, Field.code.startswith(f"{f.field}.", autoescape=True)))
    return stmt.order_by(TechContract.signed_on.desc(), TechContract.id.desc())


def for_opportunity(session: Session, opp_id: int) -> Optional[TechContract]:
    """The contract registered for an opportunity, if any."""
    return session.scalar(select(TechContract).where(TechContract.opportunity_id == opp_id).limit(1))
