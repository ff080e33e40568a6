"""Matrix builders for the roadshow programme and 揭榜挂帅 end to end (issue 22): merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. Objects belong to the acting staff member where the route needs its owner, so that
an allowed role reaches the view and a refused one is stopped by the policy."""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, Callable
from services import clock

Builder = Callable[[Any, str], tuple[str, dict]]
_n = itertools.count(1)


def _staff(w: Any, role: str) -> Any:
    return w.users[role] if role in ("broker", "admin") else w.users["broker"]


def _fresh(s: Any, user: Any) -> Any:
    return s.get(type(user), user.id)


def _roadshow(w: Any, role: str, *, application: bool = False, meeting: bool = False) -> dict[str, Any]:
    """An open-registration roadshow of the acting staff member with the university's achievement presenting;
    optionally a university's application to present and a scheduled meeting of the company."""
    from models import RoadshowMeeting
    from services import roadshow_programme, roadshows

    achievement = w.listing("achievement", w.users["university"])
    other = w.listing("achievement", w.users["university"]) if application else None  # before the write below
    data = {"title": f"公开路演 {next(_n)}", "theme": "储能", "field_code": "new_energy", "kind": "product",
            "city": "西安", "agenda": "14:00 开场", "open_registration": True,
            "held_on": clock.today() + timedelta(days=12), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 3, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10,
            "meeting_link_template": "https://meet.example.cn/{slot}-{table}"}
    with w.factory() as s:
        roadshow = roadshows.create_roadshow(s, _fresh(s, _staff(w, role)), data)
        presenter = roadshows.add_presenter(s, roadshow, achievement.id)
        out: dict[str, Any] = {"id": roadshow.id, "presenter_id": presenter.id}
        if application:
            app = roadshow_programme.apply_to_present(s, roadshow, _fresh(s, w.users["university"]), other.id)
            out["application_id"] = app.id
        if meeting:
            company = _fresh(s, w.users["company"])
            roadshow_programme.register_open(s, roadshow.id, company)
            row = RoadshowMeeting(roadshow_id=roadshow.id, company_id=company.id, presenter_id=presenter.id, slot=1,
                                  table_no=1, score=50.0, meeting_link="https://meet.example.cn/1-1")
            s.add(row)
            s.flush()
            out["meeting_id"] = row.id
        s.commit()
        return out


def _rs(path: str, data: Callable[[dict], dict] | None = None, **kw: Any) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        r = _roadshow(w, role, **kw)
        return f"/programme/roadshows/{r['id']}{path.format(**r)}", (data(r) if data else {})
    return build


def _present(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role)
    achievement = w.listing("achievement", w.users["university"])
    return f"/programme/roadshows/{r['id']}/apply", {"achievement_id": achievement.id, "pitch": "适合"}


APPROACH = "正极包覆与电池包隔热层协同，降低热失控风险并延缓蔓延。"


def _challenge(w: Any, role: str, *, winner: bool = False, panelist: bool = False,
               applied: bool = True) -> dict[str, Any]:
    """A challenge of the acting staff member made from the company's published demand; with the university's
    application shortlisted (or won, with a milestone) when asked, and the actor on the panel."""
    from sqlalchemy import update

    from models import Challenge
    from services import challenge_race, challenges

    demand = w.listing("demand", w.users["company"])
    data = {"title": f"揭榜赛马 {next(_n)}", "problem": "高镍电池热失控风险高，需要从材料到系统的安全防护技术方案。",
            "indicators": "热失控蔓延时间≥30min", "reward": 300.0, "budget": 600.0, "max_winners": 2,
            "deadline": clock.today() + timedelta(days=30), "eligibility": "",
            "criteria": "技术先进性 | scientist | 60\n产业化 | entrepreneur | 40"}
    with w.factory() as s:
        actor = _fresh(s, _staff(w, role))
        challenge = challenge_race.create_from_demands(s, actor, [demand.id], data)
        out: dict[str, Any] = {"id": challenge.id}
        if not applied:
            s.commit()
            return out
        app = challenge_race.apply_joint(s, challenge, _fresh(s, w.users["university"]),
                                         {"team": "联合团队", "approach": APPROACH})
        out["application_id"] = app.id
        if panelist:
            challenges.assign_panelist(s, challenge, actor.id)
        s.commit()
        if winner:
            s.execute(update(Challenge).where(Challenge.id == challenge.id)
                      .values(deadline=clock.today() - timedelta(days=1)))
            s.commit()
            challenge = s.get(Challenge, out["id"])
            challenges.shortlist(s, challenge, [app.id])
            challenge_race.award(s, challenge, [app.id])
            stone = challenge_race.add_milestone(s, challenge, app.id, clock.today() + timedelta(days=60), "样品", 50)
            out["milestone_id"] = stone.id
            s.commit()
        return out


def _ch(path: str, data: Callable[[dict], dict] | None = None, **kw: Any) -> Builder:
    def build(w: Any, role: str) -> tuple[str, dict]:
        c = _challenge(w, role, **kw)
        return f"/programme/challenges/{c['id']}{path.format(**c)}", (data(c) if data else {})
    return build


def _api_registration(w: Any, role: str, *, registered: bool = False) -> tuple[str, dict]:
    from services import roadshow_programme

    r = _roadshow(w, role)
    if registered and role == "company":
        with w.factory() as s:
            roadshow_programme.register_open(s, r["id"], _fresh(s, w.users["company"]))
            s.commit()
    return f"/api/v1/programme/roadshows/{r['id']}/registration", {"participant": "investor"}


def _api_presenting(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role)
    achievement = w.listing("achievement", w.users["university"])
    return f"/api/v1/programme/roadshows/{r['id']}/presenting", {"achievement_id": achievement.id, "pitch": "适合"}


def _api_intent(w: Any, role: str) -> tuple[str, dict]:
    r = _roadshow(w, role, meeting=True)  # the company's meeting with the university's achievement
    return f"/api/v1/programme/meetings/{r['meeting_id']}/intent", {"intent": "interested"}


def _api_challenge_application(w: Any, role: str) -> tuple[str, dict]:
    c = _challenge(w, role, applied=False)
    return f"/api/v1/programme/challenges/{c['id']}/applications", {"team": "联合团队", "approach": APPROACH}


PROGRAMME_BUILDERS: dict[tuple[str, str], Builder] = {
    ("api_programme.Registration", "POST"): _api_registration,
    ("api_programme.Registration", "DELETE"): lambda w, r: _api_registration(w, r, registered=True),
    ("api_programme.Presenting", "POST"): _api_presenting,
    ("api_programme.Intent", "POST"): _api_intent,
    ("api_programme.ChallengeApplication", "POST"): _api_challenge_application,
    ("programme.calendar", "GET"): lambda w, r: ("/programme/?city=西安&when=upcoming", {}),
    ("programme.feed", "GET"): lambda w, r: ("/programme/calendar.ics?kind=product", {}),
    ("programme.roadshow", "GET"): _rs("", meeting=True),
    ("programme.roadshow_ics", "GET"): lambda w, r: (f"/programme/roadshows/{_roadshow(w, r, meeting=True)['id']}.ics", {}),
    ("programme.register", "POST"): _rs("/register", lambda r: {"participant": "investor"}),
    ("programme.cancel", "POST"): _rs("/cancel"),
    ("programme.apply", "POST"): _present,
    ("programme.decide", "POST"): _rs("/applications/{application_id}/decide",
                                      lambda r: {"decision": "accept", "reason": ""}, application=True),
    ("programme.presenter_links", "POST"): _rs("/presenters/{presenter_id}/links",
                                               lambda r: {"live_link": "https://live.example.cn/x", "recording_link": ""}),
    ("programme.meeting_link", "POST"): _rs("/meetings/{meeting_id}/link",
                                            lambda r: {"meeting_link": "https://meet.example.cn/y"}, meeting=True),
    ("programme.figures", "GET"): lambda w, r: ("/programme/figures", {}),
    ("challenge_board.board", "GET"): lambda w, r: ("/programme/challenges/", {}),
    ("challenge_board.race", "GET"): _ch("", winner=True),
    ("challenge_board.new", "GET"): lambda w, r: ("/programme/challenges/new", {}),
    ("challenge_board.new", "POST"): lambda w, r: ("/programme/challenges/new", {}),
    ("challenge_board.apply", "POST"): _ch("/apply", lambda c: {"team": "团队", "approach": APPROACH}),
    ("challenge_board.award", "POST"): _ch("/award", lambda c: {"application_ids": [c["application_id"]]}),
    ("challenge_board.milestone", "POST"): _ch("/applications/{application_id}/milestones",
                                               lambda c: {"due_on": (clock.today() + timedelta(days=30)).isoformat(),
                                                          "deliverable": "报告", "amount": "10"}, winner=True),
    ("challenge_board.progress", "POST"): _ch("/milestones/{milestone_id}/progress",
                                              lambda c: {"progress": "50"}, winner=True),
    ("challenge_board.acceptance", "POST"): _ch("/applications/{application_id}/acceptance",
                                                lambda c: {"score": "80"}, winner=True, panelist=True),
    ("challenge_board.conclude", "POST"): _ch("/applications/{application_id}/conclude", winner=True),
}
