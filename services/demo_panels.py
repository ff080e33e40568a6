"""Demo data of the advisory panel (科技顾问团, issue 21): six advisors, two per perspective, and panels with
completed reviews on a few published demo achievements (the demo university's first). Advisors sign in as
advisor1@demo.example.cn ... advisor6@demo.example.cn with the demo password."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Achievement, Status, User

from . import accounts, clock, panels

ADVISORS = [
    ("advisor1@demo.example.cn", "王振华（顾问）", "scientist", "锂离子电池正极材料、固态电解质与界面改性，电化学储能机理",
     "新能源,电池,储能", "西安交通大学储能研究院（顾问）", "university"),
    ("advisor2@demo.example.cn", "李静（顾问）", "scientist", "先进金属材料、增材制造与精密成形，航空航天结构件",
     "新材料,增材制造", "西北工业大学材料学院（顾问）", "university"),
    ("advisor3@demo.example.cn", "陈建国（顾问）", "entrepreneur", "动力电池与储能系统制造，中试放大与产线工艺，供应链管理",
     "新能源,制造", "秦创原储能产业集团（顾问）", "company"),
    ("advisor4@demo.example.cn", "刘晓梅（顾问）", "entrepreneur", "光电信息与半导体器件产业化，产品定义与市场拓展",
     "电子信息,半导体", "西安光电科技有限公司（顾问）", "company"),
    ("advisor5@demo.example.cn", "赵磊（顾问）", "investor", "硬科技早期投资：新能源、新材料赛道，技术作价入股与估值",
     "新能源,新材料", "秦岭硬科技创投（顾问）", "company"),
    ("advisor6@demo.example.cn", "孙悦（顾问）", "investor", "成果转化基金、概念验证投资，电子信息与高端装备",
     "电子信息,装备", "丝路成果转化基金（顾问）", "company"),
]
# scores per advisor (tech, market, value, comment) and the investors' value range (万元)
REVIEWS = [(5, 4, 4, "技术路线清晰，核心指标有实验数据支撑，建议补充中试稳定性数据。"),
           (4, 3, 4, "工艺成熟度尚需提升，批量一致性是关键。"),
           (4, 5, 4, "市场需求明确，下游客户验证周期约12个月。"),
           (3, 4, 3, "产品化路径需明确目标客户。"),
           (4, 4, 5, "估值可参考同类技术许可交易，建议分期付款加提成。"),
           (4, 4, 4, "适合概念验证基金介入，建议先做样机验证。")]
VALUES = {4: (300, 600), 5: (200, 450)}


def _advisors(session: Session, admin: User, password: str) -> list[Any]:
    out = []
    for email, name, perspective, expertise, fields, org, kind in ADVISORS:
        user = accounts.get_user_by_email(session, email)
        if user is not None:
            out.append(panels.profile_for(session, user))
            continue
        out.append(panels.create_advisor(session, admin, {
            "email": email, "display_name": name, "password": password, "perspective": perspective,
            "expertise": expertise, "fields": fields, "organisation_name": org, "organisation_kind": kind}))
    return out


def load(session: Session, broker: User, admin: User, university: Optional[User], password: str) -> int:
    """Advisors and up to three panels with completed reviews; returns the number of panels."""
    profiles = _advisors(session, admin, password)
    session.flush()
    chosen: list[Achievement] = []
    if university is not None:
        chosen += list(session.scalars(select(Achievement).where(Achievement.owner_id == university.id,
                                                                 Achievement.status == Status.PUBLISHED.value)
                                       .order_by(Achievement.id).limit(1)))
    chosen += [a for a in session.scalars(select(Achievement).where(Achievement.status == Status.PUBLISHED.value)
                                          .order_by(Achievement.id).limit(10)) if a not in chosen][:3 - len(chosen)]
    today = clock.today()
    made = 0
    for n, achievement in enumerate(chosen):
        free = [i for i, p in enumerate(profiles) if panels.conflict(session, p, achievement) is None]
        if not free:
            continue
        panel = panels.create_panel(session, broker, {
            "achievement_id": achievement.id, "advisor_ids": [profiles[i].user_id for i in free],
            "deadline": today + timedelta(days=7 + n), "gate": n == 0,
            "note": "请从技术前景、市场需求、成果价值三方面评议（1-5分）。"}, today=today)
        for i in free:
            tech, market, value, comment = REVIEWS[i]
            lo, hi = VALUES.get(i, (None, None))
            panels.submit_review(session, panel.id, profiles[i].user, {
                "tech_score": tech, "market_score": market, "value_score": value, "comment": comment,
                "value_min": lo, "value_max": hi}, today=today)
        made += 1
    session.flush()
    return made
