"""Demo data of the year-round programme (issue 22), added after the original demo roadshow and challenge (which
stay as they are): a roadshow of each type in the coming month (open registration, online links, the README's
demo company registered and demo university applying to present), two past roadshows with their outcomes
(meetings, intents, opportunities, recordings), and a 揭榜挂帅 challenge made from the demo company's demands in
the 赛马 stage: two winning teams, one a joint application of the demo university and a company, with
milestones under way."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Achievement, Challenge, Demand, Field, Region, Roadshow, RoadshowMeeting, Role, Status, User

from . import challenge_race, challenges, clock, pipeline, roadshow_programme, roadshows

TITLES = {"achievement": "秦创原高校科技成果路演（新材料专场）", "product": "智能制造新产品发布路演",
          "scenario": "储能电站安全应用场景路演：企业出题、团队答题"}


def _region(session: Session) -> str:
    """Xi'an when the region tree has it (demo_contracts loads it), else Shaanxi."""
    for code in ("xian", "shaanxi"):
        if session.scalar(select(Region.id).where(Region.code == code)) is not None:
            return code
    return ""


def _published(session: Session, model: type, top: str, limit: int) -> list[Any]:
    fields = select(Field.id).where((Field.code == top) | Field.code.startswith(top + "."))
    return list(session.scalars(select(model).where(model.status == Status.PUBLISHED.value, model.field_id.in_(fields))
                                .order_by(model.id).limit(limit)))


def _show(session: Session, broker: User, kind: str, days: int, field: str, **over: Any) -> Roadshow:
    data = {"title": over.pop("title", TITLES[kind]),
            "theme": over.pop("theme", ""), "field_code": field, "kind": kind, "city": "西安",
            "region_code": _region(session), "agenda": "09:00 开场致辞\n09:10 项目路演（每项 15 分钟）\n"
                                                   "11:00 投资人点评\n13:30 一对一洽谈（线上线下同步）",
            "open_registration": True, "held_on": clock.today() + timedelta(days=days), "start_time": "09:00",
            "venue": "西安科技大市场路演厅", "online_link": "https://live.example.cn/techmatch", "presentation_slots": 5,
            "meeting_slots": 4, "tables": 4, "slot_minutes": 15, "presenter_cap": 4, "company_cap": 3, "seats": 30,
            "meeting_link_template": "https://meeting.example.cn/roadshow-{table}"}
    data.update(over)
    return roadshows.create_roadshow(session, broker, data)


def _users(session: Session, role: Role, limit: int) -> list[User]:
    return list(session.scalars(select(User).where(User.role == role.value, User.active.is_(True))
                                .order_by(User.id).limit(limit)))


def load(session: Session, broker: User, company: Optional[User], university: Optional[User]) -> None:
    """Add the programme's demo rows (once: nothing when the programme roadshows exist)."""
    if session.scalar(select(Roadshow.id).where(Roadshow.title == TITLES["achievement"])) is not None:
        return
    session.flush()
    _upcoming(session, broker, company, university)
    _past(session, broker)
    _race(session, broker, company, university)
    session.flush()


def _upcoming(session: Session, broker: User, company: Optional[User], university: Optional[User]) -> None:
    for kind, days, field in (("achievement", 7, "new_materials"), ("product", 18, "smart_manufacturing"),
                              ("scenario", 25, "new_energy")):
        show = _show(session, broker, kind, days, field)
        for achievement in _published(session, Achievement, field, 3):
            roadshows.add_presenter(session, show, achievement.id)
        for n, p in enumerate(show.presenters):
            p.live_link = f"https://live.example.cn/techmatch/{show.id}-{n + 1}"
        companies = [c for c in _users(session, Role.COMPANY, 6) if company is None or c.id != company.id]
        if company is not None and kind == "scenario":
            roadshow_programme.register_open(session, show.id, company, "company")
        for n, c in enumerate(companies[:4]):
            roadshow_programme.register_open(session, show.id, c, ("company", "investor")[n % 2])
        if university is not None and kind == "scenario":
            taken = {p.achievement_id for p in show.presenters}
            own = [a for a in session.scalars(select(Achievement).where(
                Achievement.owner_id == university.id, Achievement.status == Status.PUBLISHED.value)
                .order_by(Achievement.id)) if a.id not in taken]
            if own:
                roadshow_programme.apply_to_present(session, show, university, own[0].id,
                                                    "可用于储能电站电池包热失控预警")


def _past(session: Session, broker: User) -> None:
    """Two roadshows that took place, with meetings, intents, recordings and the opportunities that followed."""
    for kind, days, field, title in (("achievement", -30, "new_energy", "新能源成果路演（上月）"),
                                     ("product", -60, "new_materials", "新材料产品路演（两月前）")):
        show = _show(session, broker, kind, 1, field, title=title, meeting_link_template="")
        presenters = [roadshows.add_presenter(session, show, a.id) for a in _published(session, Achievement, field, 3)]
        demands = _published(session, Demand, field, 4)
        seen: set[int] = set()
        slot = 0
        for demand in demands:
            if demand.owner_id in seen:
                continue
            seen.add(demand.owner_id)
            roadshow_programme.register_open(session, show.id, demand.owner, "company")
            for n, p in enumerate(presenters[:2]):
                slot += 1
                both = n == 0
                session.add(RoadshowMeeting(
                    roadshow_id=show.id, company_id=demand.owner_id, presenter_id=p.id, slot=slot, table_no=1,
                    score=70.0, company_intent="interested",
                    presenter_intent="interested" if both else "not_interested",
                    meeting_link=f"https://meeting.example.cn/past-{show.id}-{slot}"))
                if both:
                    opp = pipeline.get_or_open(session, broker, demand.id, p.achievement_id)
                    pipeline.advance(session, opp, broker, note=f"roadshow #{show.id}: both sides interested")
        for n, p in enumerate(presenters):
            p.recording_link, p.attended = f"https://live.example.cn/recordings/{show.id}-{n + 1}", True
        session.flush()
        # it took place: the date moves into the past (the services refuse past dates for new roadshows)
        session.execute(update(Roadshow).where(Roadshow.id == show.id)
                        .values(held_on=clock.today() + timedelta(days=days)))
        session.expire(show)


def _race(session: Session, broker: User, company: Optional[User], university: Optional[User]) -> None:
    """A challenge from the demo company's published demands, in the 赛马 stage with two winners and milestones."""
    if company is None or university is None:
        return
    demands = list(session.scalars(select(Demand).where(Demand.owner_id == company.id,
                                                        Demand.status == Status.PUBLISHED.value).order_by(Demand.id)))
    if not demands:
        return
    challenge = challenge_race.create_from_demands(session, broker, [d.id for d in demands[:2]], {
        "title": "动力电池安全与寿命协同提升揭榜挂帅（赛马）",
        "problem": "动力电池在高倍率与高温工况下寿命衰减快、热失控风险高，需要材料改性与系统防护协同的技术方案，"
                   "两支团队并行攻关、按里程碑考核。",
        "indicators": "循环1000次容量保持率≥88%；热失控蔓延时间≥30分钟；完成吨级中试", "reward": 800.0,
        "budget": 1200.0, "max_winners": 2, "deadline": clock.today() + timedelta(days=1),
        "eligibility": "高校、科研院所、企业单独或联合申报",
        "criteria": "技术先进性 | scientist | 40\n产业化前景 | entrepreneur | 35\n投资价值 | investor | 25"})
    own = list(session.scalars(select(Achievement.id).where(Achievement.owner_id == university.id,
                                                            Achievement.status == Status.PUBLISHED.value)
                               .order_by(Achievement.id).limit(1)))
    partner = next((c for c in _users(session, Role.COMPANY, 10)
                    if c.id != company.id and c.organisation_id not in (None, company.organisation_id)), None)
    first = challenge_race.apply_joint(session, challenge, university, {
        "team": "材料学院电池团队联合企业工程中心，12人", "approach": "单晶高镍正极原子层沉积包覆，结合电池包气凝胶隔热层，"
        "材料与系统两级协同抑制衰减与热蔓延。", "achievement_ids": own,
        "partner_ids": [partner.organisation_id] if partner else []})
    others = [u for u in _users(session, Role.UNIVERSITY, 5) if u.id != university.id]
    second = challenge_race.apply_joint(session, challenge, others[0], {
        "team": "储能安全研究所团队，8人", "approach": "电池管理系统早期预警算法与液冷板快速响应策略，主动识别并隔离热失控前兆。",
        "achievement_ids": []}) if others else None
    session.flush()
    session.execute(update(Challenge).where(Challenge.id == challenge.id)
                    .values(deadline=clock.today() - timedelta(days=20)))
    session.expire(challenge)
    winners = [a.id for a in (first, second) if a is not None]
    challenges.shortlist(session, challenge, winners)
    challenge_race.award(session, challenge, winners)
    challenges.assign_panelist(session, challenge, broker.id)
    plan = [("材料改性方案与小试样品", 60, 200.0, 100), ("吨级中试与电芯验证", 180, 300.0, 40),
            ("装车验证与验收报告", 360, 100.0, 0)]
    for application_id in winners:
        for deliverable, days, amount, progress in plan:
            stone = challenge_race.add_milestone(session, challenge, application_id,
                                                 clock.today() + timedelta(days=days - 30), deliverable, amount)
            challenge_race.set_progress(session, challenge, stone.id, progress if application_id == winners[0]
                                        else progress // 2)
