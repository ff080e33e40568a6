"""The demo data set: taxonomy, regions, organisations, one account per role, demands and achievements,
an upcoming roadshow with presenters and invited companies (the demo university presents, the demo company is
invited), and an open 揭榜挂帅 challenge."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import MODE_ZH, STAGE_ZH, Achievement, Demand, Field, OrgKind, Region, Role, User

from . import accounts, chains, challenges, clock, demo_contracts, demo_programme, listings, regions, roadshows

DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_PASSWORD = "demo-password-2026"
DEMO_LOGINS = {"admin": "admin@demo.example.cn", "broker": "broker@demo.example.cn",
               "company": "company@demo.example.cn", "university": "university@demo.example.cn"}
MODE_CODE = {zh: code for code, zh in MODE_ZH.items()}
STAGE_CODE = {zh: code for code, zh in STAGE_ZH.items()}
PATENT_KIND = {"发明专利": "invention", "实用新型": "utility", "软件著作权": "software"}
PATENT_STATUS = {"已授权": "granted", "实审中": "examining", "已受理": "filed"}
# The README's demo company and university meet at the demo roadshow, so a newcomer sees both sides with the
# printed logins: the university presents the achievement that answers the company's demand (a grade-2 pair in
# demo_data/gold_pairs.json) and the company is invited for that demand.
DEMO_PAIR = ("d001", "a001")


@dataclass
class SeedResult:
    """Counts of what was loaded."""

    demands: int
    achievements: int
    users: int


def _load(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def has_listings(session: Session) -> bool:
    """True when any demand or achievement exists."""
    return bool(session.scalar(select(func.count()).select_from(Demand)) or
                session.scalar(select(func.count()).select_from(Achievement)))


def load_reference(session: Session) -> None:
    """Fields and regions (idempotent: existing codes are left as they are)."""
    have = set(session.scalars(select(Field.code)))
    for pos, top in enumerate(_load("fields"), 1):
        parent = session.scalar(select(Field).where(Field.code == top["code"]))
        if top["code"] not in have:
            parent = Field(code=top["code"], name_zh=top["name_zh"], name_en=top["name_en"], position=pos)
            session.add(parent)
        for cpos, child in enumerate(top["children"], 1):
            if child["code"] not in have:
                session.add(Field(code=child["code"], name_zh=child["name_zh"], name_en=child["name_en"],
                                  parent=parent, position=cpos))
    region_codes = set(session.scalars(select(Region.code)))
    for pos, r in enumerate(_load("regions"), 1):
        if r["code"] not in region_codes:
            session.add(Region(code=r["code"], name_zh=r["name_zh"], name_en=r["name_en"], position=pos))
    session.flush()
    regions.root_paths(session)  # provinces are roots of the hierarchy (services/regions.py)


def _accounts(session: Session, password: str) -> tuple[dict[str, User], int]:
    orgs = _load("organisations")
    users: dict[str, User] = {}
    for kind, role, rows in ((OrgKind.COMPANY, Role.COMPANY, orgs["companies"]),
                             (OrgKind.UNIVERSITY, Role.UNIVERSITY, orgs["universities"])):
        for n, row in enumerate(rows):
            org = accounts.find_or_create_organisation(session, row["name"], kind, region=row.get("region"),
                                                       industry=row.get("industry"),
                                                       credit_code=row.get("credit_code"))
            email = DEMO_LOGINS[role.value] if n == 0 else f"{row['key']}@demo.example.cn"
            users[row["key"]] = _user(session, email, password, row["name"], role, org)
    agency = accounts.find_or_create_organisation(session, "省技术转移服务中心", OrgKind.AGENCY, region="shaanxi")
    _user(session, DEMO_LOGINS["broker"], password, "王经纪", Role.BROKER, agency)
    _user(session, DEMO_LOGINS["admin"], password, "平台管理员", Role.ADMIN, agency)
    return users, len(users) + 2


def _user(session: Session, email: str, password: str, name: str, role: Role, org: Any) -> User:
    existing = accounts.get_user_by_email(session, email)
    return existing or accounts.create_user(session, email=email, password=password, display_name=name,
                                            role=role, organisation=org)


def _contact(row: dict) -> dict[str, str]:
    c = row["contact"]
    return {"contact_name": c["name"], "contact_phone": c["phone"], "contact_email": c["email"]}


def demand_data(row: dict) -> dict[str, Any]:
    """Service data for one demo demand."""
    return {"title": row["title"], "description": row["description"], "indicators": row.get("indicators", ""),
            "field_code": row["field"], "keywords": ",".join(row.get("keywords", [])), "region": row["region"],
            "modes": [MODE_CODE[m] for m in row["modes"]], "budget_min": row.get("budget_min"),
            "budget_max": row.get("budget_max"), "min_trl": row.get("min_trl"),
            "deadline": clock.today() + timedelta(days=int(row.get("deadline_days") or 90)), **_contact(row)}


def achievement_data(row: dict, region: str | None) -> dict[str, Any]:
    """Service data for one demo achievement."""
    return {"title": row["title"], "abstract": row["abstract"], "field_code": row["field"],
            "keywords": ",".join(row.get("keywords", [])), "region": region, "trl": row.get("trl"),
            "stage": STAGE_CODE.get(row.get("stage", ""), None), "price": row.get("price"),
            "negotiable": bool(row.get("negotiable")), "team": row.get("team", ""),
            "modes": [MODE_CODE[m] for m in row["modes"]],
            "patents": [{"number": p["number"], "kind": PATENT_KIND.get(p["type"], "invention"),
                         "status": PATENT_STATUS.get(p["status"], "filed")} for p in row.get("patents", [])],
            **_contact(row)}


def _lifecycle(session: Session, item: Any, owner: User, broker: User, n: int) -> None:
    """Most listings published; every 11th waits for review, every 23rd stays a draft."""
    if n % 23 == 5:
        return
    listings.transition(session, item, owner, "submit")
    if n % 11 != 3:
        listings.transition(session, item, broker, "approve")


def load_demo(session: Session, password: str = DEMO_PASSWORD) -> SeedResult:
    """Load everything; listings go through the same services and checks as the web forms."""
    load_reference(session)
    users, n_users = _accounts(session, password)
    broker = accounts.get_user_by_email(session, DEMO_LOGINS["broker"])
    regions = {row["key"]: row.get("region") for row in _load("organisations")["universities"]}
    n_d = n_a = 0
    by_key: dict[str, Any] = {}
    for n, row in enumerate(_load("demands")):
        owner = users[row["org"]]
        item = by_key[row["key"]] = listings.create_listing(session, "demand", owner, demand_data(row))
        _lifecycle(session, item, owner, broker, n)
        n_d += 1
    for n, row in enumerate(_load("achievements")):
        owner = users[row["org"]]
        item = listings.create_listing(session, "achievement", owner, achievement_data(row, regions.get(row["org"])))
        by_key[row["key"]] = item
        _lifecycle(session, item, owner, broker, n)
        n_a += 1
    _roadshow_and_challenge(session, broker, (by_key.get(DEMO_PAIR[0]), by_key.get(DEMO_PAIR[1])))
    # Shaanxi down to Xi'an's parks, and two years of technology contracts between the demo parties (issue 20)
    demo_contracts.load(session, broker, accounts.get_user_by_email(session, DEMO_LOGINS["admin"]), by_key)
    # the year-round roadshow programme and a 揭榜挂帅 challenge in the 赛马 stage (issue 22)
    demo_programme.load(session, broker, accounts.get_user_by_email(session, DEMO_LOGINS["company"]),
                        accounts.get_user_by_email(session, DEMO_LOGINS["university"]))
    # the 13 key industry chains of the Shaanxi/Xi'an plans (issue 20 step 4); placed by `flask chains place`
    chains.load_chains(session, _load("industry_chains"))
    # the service directory (科技大市场, issue 21 part 2): a dozen providers of each kind around Xi'an
    from . import demo_directory
    demo_directory.load(session, broker, password)
    # 科技顾问团: six advisors and panels with completed reviews (issue 21)
    from . import demo_panels
    demo_panels.load(session, broker, accounts.get_user_by_email(session, DEMO_LOGINS["admin"]),
                     accounts.get_user_by_email(session, DEMO_LOGINS["university"]), password)
    # organisation accounts (issue 21 part 3): the demo university's TTO and the demo company get colleagues
    from . import demo_organisations
    n_users += demo_organisations.load(session, {key: accounts.get_user_by_email(session, DEMO_LOGINS[key])
                                                 for key in ("company", "university")}, password)
    # broker operations (issue 21 part 4): routing rules, broker profiles, the open demands assigned
    from . import demo_brokerage
    demo_brokerage.load(session, broker, accounts.get_user_by_email(session, DEMO_LOGINS["admin"]),
                        accounts.get_user_by_email(session, DEMO_LOGINS["company"]), password)
    return SeedResult(n_d, n_a, n_users)


def _published(session: Session, model: type, top_code: str) -> list[Any]:
    field_ids = select(Field.id).where((Field.code == top_code) | Field.code.startswith(top_code + "."))
    return list(session.scalars(select(model).where(model.status == "published", model.field_id.in_(field_ids))
                                .order_by(model.id)))


def _roadshow_and_challenge(session: Session, broker: User, demo_pair: tuple[Any, Any] = (None, None)) -> None:
    """A new-energy roadshow in two weeks (presenters chosen, companies with matching demands invited,
    registrations and the schedule left to the users) and a challenge open for 30 days. The demo pair's
    achievement presents too and its demand's company is invited (DEMO_PAIR), when both are published."""
    session.flush()
    show = roadshows.create_roadshow(session, broker, {
        "title": "新能源与储能技术专场路演", "theme": "动力电池、光伏与储能材料的产业化成果，另设先进金属材料对接专场",
        "field_code": "new_energy", "held_on": clock.today() + timedelta(days=14), "start_time": "09:00",
        "venue": "西安科技大市场路演厅", "online_link": "", "presentation_slots": 5, "meeting_slots": 6,
        "tables": 4, "slot_minutes": 20, "presenter_cap": 5, "company_cap": 3, "seats": 20})
    for achievement in _published(session, Achievement, "new_energy")[:4]:
        roadshows.add_presenter(session, show, achievement.id)
    demand, achievement = demo_pair
    invited: set[int] = set()
    if demand is not None and achievement is not None and demand.status == achievement.status == "published":
        roadshows.add_presenter(session, show, achievement.id)
        roadshows.invite(session, show, demand.owner_id, demand_id=demand.id)
        invited.add(demand.owner_id)
    for demand in _published(session, Demand, "new_energy"):
        if demand.owner_id not in invited and len(invited) < 8:
            roadshows.invite(session, show, demand.owner_id, demand_id=demand.id)
            invited.add(demand.owner_id)
    challenges.create_challenge(session, broker, {
        "title": "高镍正极材料循环寿命提升揭榜挂帅", "sponsor": "陕西省科学技术厅",
        "problem": "高镍三元正极在高电压下界面副反应严重、循环衰减快，需开发可量产的表面包覆与掺杂改性技术。",
        "indicators": "4.4V下1000次循环容量保持率≥85%；吨级中试验证；成本增加≤5%", "reward": 500.0,
        "deadline": clock.today() + timedelta(days=30), "eligibility": "高校、科研院所或其牵头的产学研联合体",
        "field_code": "new_energy.battery",
        "criteria": "技术先进性 | scientist | 40\n产业化前景 | entrepreneur | 35\n投资价值 | investor | 25"})
