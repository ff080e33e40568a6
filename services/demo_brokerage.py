"""Demo broker operations (issue 21 part 4): two more brokers beside the demo broker, everyone's profile, routing
rules (Shaanxi new energy and new materials, Xi'an's parks, a catch-all), the open demo demands routed under
them, and one demand the demo broker entered for the demo company, which the company confirmed. Loaded once:
nothing when any routing rule exists. Demo listings are only read (and assigned), never changed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Demand, Region, Role, RoutingRule, Status, User

from . import accounts, brokerage, brokerage_entries

BROKERS = (("broker2@demo.example.cn", "李经纪"), ("broker3@demo.example.cn", "赵经纪"))
PROFILES = {0: ("senior", "SX-JJR-2019-001", 120, ["new_energy", "new_materials"], ["shaanxi", "xian"]),
            1: ("intermediate", "SX-JJR-2021-017", 64, ["new_energy"], ["shaanxi"]),
            2: ("junior", "SX-JJR-2024-105", 32, ["ai", "aerospace"], ["xian_gaoxin"])}
ENTERED = {"title": "光伏组件回收中的银浆高效分离技术需求",
           "description": "我司计划建设退役光伏组件回收产线，需要在不使用强酸的前提下高效分离电池片表面的银浆，"
                          "银回收率不低于95%，并给出中试工艺包。",
           "indicators": "银回收率≥95%；单线处理能力≥1万吨/年", "field_code": "new_energy.photovoltaic",
           "keywords": "光伏回收,银浆分离,湿法冶金", "region": "shaanxi", "modes": ["joint", "commissioned"],
           "budget_min": 100.0, "budget_max": 300.0, "min_trl": 5, "contact_name": "周工",
           "contact_phone": "13800000088", "contact_email": "zhou.pv@demo.example.cn"}


def load(session: Session, broker: User, admin: User, company: User, password: str) -> int:
    """Brokers, profiles, rules, routing of the open demo demands and one entered demand; returns the number of
    demands routed (0 when loaded before)."""
    if session.scalar(select(func.count()).select_from(RoutingRule)):
        return 0
    team = [broker]
    for email, name in BROKERS:
        user = accounts.get_user_by_email(session, email) or accounts.create_user(
            session, email=email, password=password, display_name=name, role=Role.BROKER,
            organisation=broker.organisation)
        team.append(user)
    have = set(session.scalars(select(Region.code)))
    for n, (level, number, hours, fields, places) in PROFILES.items():
        brokerage.save_profile(session, team[n], {"certificate_level": level, "certificate_number": number,
                                                  "training_hours": hours, "field_codes": fields,
                                                  "region_codes": [p for p in places if p in have]})
    rules: list[dict[str, Any]] = [
        {"name": "陕西·新能源", "field_code": "new_energy", "region_code": "shaanxi", "broker_ids": [team[0].id, team[1].id]},
        {"name": "陕西·新材料", "field_code": "new_materials", "region_code": "shaanxi", "broker_ids": [team[0].id]},
        {"name": "西安高新区", "field_code": "", "region_code": "xian_gaoxin", "broker_ids": [team[2].id]},
        {"name": "人工智能（全国）", "field_code": "ai", "region_code": "", "broker_ids": [team[2].id]},
        {"name": "兜底规则", "field_code": "", "region_code": "", "broker_ids": [t.id for t in team]},
    ]
    for rule in rules:
        if rule["region_code"] and rule["region_code"] not in have:
            continue
        brokerage.save_rule(session, admin, None, {"priority": 0, "active": True, **rule})
    routed = 0
    for demand in session.scalars(select(Demand).where(Demand.status.in_(brokerage.OPEN_STATUSES))
                                  .order_by(Demand.id)).all():
        if brokerage.route_demand(session, demand) is not None:
            routed += 1
    if company is not None and company.role == Role.COMPANY.value:
        # entered by the demo broker and confirmed by the company: its trail shows both steps (a demand left
        # waiting would add a status the demo's listing states do not list, tests/services/test_seed.py)
        entered = brokerage_entries.enter_for_company(session, broker, company.id, ENTERED)
        if entered.status == Status.AWAITING_CONFIRMATION.value:
            brokerage_entries.confirm_entry(session, company, entered.id)
    return routed
