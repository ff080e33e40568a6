"""Demo technology contracts and targets, consistent with the demo listings: each contract is a judged pair of
demo_data/gold_pairs.json (the university's achievement sold to the company behind the demand) or a Shaanxi
university's achievement taken up by a Shaanxi firm, signed over the last two years, with the Shaanxi parties
placed in Xi'an's districts and parks (demo_data/region_tree.json). Listings are only read, never changed."""
from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import TechContract, User

from . import clock, contract_stats, contracts, regions

DATA = Path(__file__).resolve().parent / "demo_data"
# where the Shaanxi demo organisations sit below the province (the rest keep their province)
PLACES = {"u01": "xian_yanta", "u02": "xian_beilin", "c01": "xian_gaoxin"}
SHAANXI_FIRM_PLACES = ("xian_hangtian", "xixian", "xian_jingkai", "baoji_gaoxin")
MODE_TYPE = {"license": "license", "joint": "development.cooperative", "commissioned": "development.commissioned",
             "service": "service", "consulting": "consulting"}
NATURES = {"company": "230", "university": "120"}
TARGETS = {"shaanxi": ("3000", "output"), "xian": ("2000", "output"), "xian_gaoxin": ("1500", "absorbed"),
           "xian_hangtian": ("300", "absorbed")}


def _load(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def load(session: Session, broker: User, admin: User, by_key: dict[str, Any]) -> int:
    """Record the demo contracts (once: nothing when the register holds any) and this year's targets."""
    regions.load_tree(session, _load("region_tree"))
    if session.scalar(select(func.count()).select_from(TechContract)):
        return 0
    orgs = _load("organisations")
    place = {row["key"]: PLACES.get(row["key"], row.get("region") or "national")
             for kind in ("companies", "universities") for row in orgs[kind]}
    firms = [row["key"] for row in orgs["companies"] if row.get("region") == "shaanxi"]
    for i, key in enumerate(k for k in firms if k not in PLACES):
        place[key] = SHAANXI_FIRM_PLACES[i % len(SHAANXI_FIRM_PLACES)]
    org_of = {row["key"]: row["org"] for name in ("demands", "achievements") for row in _load(name)}
    rng = random.Random(20)
    pairs = [(p["demand"], p["achievement"]) for p in _load("gold_pairs") if p["grade"] == 2]
    local = [(rng.choice(firms), a["key"]) for a in _load("achievements") if place.get(a["org"], "").startswith("xian")]
    deals = [(d, a, org_of.get(d)) for d, a in pairs] + [(None, a, firm) for firm, a in local]
    n = 0
    for demand_key, ach_key, buyer_key in deals:
        achievement = by_key.get(ach_key)
        if achievement is None or buyer_key is None:
            continue
        n += 1
        contracts.create_contract(session, broker, _values(rng, n, achievement, by_key.get(demand_key or ""),
                                                           buyer_key, place, org_of[ach_key]))
    this_year = clock.today().year
    for code, (amount, measure) in TARGETS.items():
        node = regions.by_code(session, code)
        if node is not None:
            contract_stats.set_target(session, admin, node, this_year, amount, None, measure=measure)
    session.flush()
    return n


def _values(rng: random.Random, n: int, achievement: Any, demand: Any, buyer_key: str, place: dict[str, str],
            seller_key: str) -> dict[str, Any]:
    orgs = {row["key"]: row for kind in ("companies", "universities") for row in _load_orgs()[kind]}
    today = clock.today()
    signed = today - timedelta(days=rng.randint(3, 700))
    modes = [m for m in achievement.modes if m != "transfer"]
    ctype = "transfer.patent" if "transfer" in achievement.modes and achievement.patents else \
        MODE_TYPE.get(modes[0] if modes else "", "service")
    base = achievement.price or (demand.budget_max if demand is not None else None) or rng.choice((30, 60, 120, 200))
    amount = Decimal(str(base)) * Decimal(rng.choice(("0.6", "0.8", "1", "1.2")))
    tech = (amount * Decimal(rng.choice(("1", "0.9", "0.75")))).quantize(Decimal("0.01"))
    region = place.get(buyer_key, "national")
    return {"reg_number": f"{signed.year}6101{n:08d}", "registered_on": min(today, signed + timedelta(days=rng.randint(1, 20))),
            "name": f"{achievement.title}{'技术许可' if ctype == 'license' else '技术合同'}"[:200],
            "contract_type": ctype, "status": "not_registered" if n % 29 == 7 else "registered",
            "seller_name": orgs[seller_key]["name"], "seller_nature": NATURES["university"],
            "seller_region": place.get(seller_key, "national"), "buyer_name": orgs[buyer_key]["name"],
            "buyer_nature": NATURES["company"], "buyer_region": region, "amount": amount.quantize(Decimal("0.01")),
            "tech_amount": tech, "signed_on": signed, "field_code": achievement.field.code,
            "ip_kind": "invention" if achievement.patents else "know_how",
            "ip_note": ", ".join(p.number for p in achievement.patents)[:200],
            "demand_id": demand.id if demand is not None else None, "achievement_id": achievement.id}


_ORGS: dict[str, Any] = {}


def _load_orgs() -> Any:
    if not _ORGS:
        _ORGS.update(_load("organisations"))
    return _ORGS
