"""The advisory panel service: advisor accounts, ranking, conflicts of interest, reviews, summary, gate, reminders
and who may see what."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Notification, Panel
from services import challenges, clock, panels
from services.errors import NotFound, ServiceError


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


PASSWORD = "correct horse battery staple"
TODAY = clock.today()


@pytest.fixture
def people(make_user, make_listing, session):
    admin, broker = make_user("admin"), make_user("broker")
    university = make_user("university", org="西北材料研究院")
    achievement = make_listing("achievement", university, reviewer=broker)
    n = iter(range(100))

    def advisor(perspective: str, expertise: str, org: str | None = None, kind: str = "company"):
        return panels.create_advisor(session, admin, {
            "display_name": f"顾问{next(n)}", "email": f"adv{next(n)}@example.com", "password": PASSWORD,
            "perspective": perspective, "expertise": expertise, "fields": "新能源，电池",
            "organisation_name": org, "organisation_kind": kind})

    sci = advisor("scientist", "锂离子电池正极材料、原子层沉积包覆与界面改性", org="某电池大学", kind="university")
    ent = advisor("entrepreneur", "动力电池制造与产线工艺放大", org="某电池公司")
    inv = advisor("investor", "新能源硬科技早期投资，电池材料赛道", org="某创投")
    far = advisor("scientist", "水稻育种与分子标记辅助选择", org="某农大", kind="university")
    same = advisor("scientist", "高镍正极材料", org="西北材料研究院", kind="university")
    session.commit()
    return {"admin": admin, "broker": broker, "university": university, "achievement": achievement,
            "sci": sci, "ent": ent, "inv": inv, "far": far, "same": same}


def _panel(session, p, advisors=("sci", "ent", "inv"), **over):
    data = {"achievement_id": p["achievement"].id, "advisor_ids": [p[k].user_id for k in advisors],
            "deadline": TODAY + timedelta(days=5), "gate": True, **over}
    panel = panels.create_panel(session, p["broker"], data)
    session.commit()
    return panel


def test_suggestions_rank_by_expertise_and_list_conflicts_last(session, people):
    rows = panels.suggest(session, people["achievement"])
    names = [r.profile.id for r in rows]
    assert names[0] in (people["sci"].id, people["same"].id) or rows[0].conflict is None
    assert rows[-1].profile.id == people["same"].id and rows[-1].conflict == "same_organisation"
    clean = [r for r in rows if r.conflict is None]
    assert clean[0].profile.id == people["sci"].id  # closest expertise first
    assert clean[-1].profile.id == people["far"].id  # rice breeding last


@pytest.mark.model
def test_the_engine_ranks_the_battery_scientist_above_the_rice_breeder(app, session, people):
    encoder = app.extensions["matching"].encoder
    rows = [r for r in panels.suggest(session, people["achievement"], encoder) if r.conflict is None]
    order = [r.profile.id for r in rows]
    assert order.index(people["sci"].id) < order.index(people["far"].id)


def test_a_conflicting_advisor_is_refused_with_the_reason_and_nothing_saved(session, people):
    with pytest.raises(ServiceError) as err:
        _panel(session, people, advisors=("sci", "same"))
    assert err.value.code == "panel.conflict" and err.value.params["reason"] == "same_organisation"
    session.rollback()
    assert session.scalars(select(Panel)).all() == []


def test_a_co_application_to_a_challenge_is_a_conflict(session, people, make_user):
    broker, university = people["broker"], people["university"]
    challenge = challenges.create_challenge(session, broker, {
        "title": "固态电池界面难题", "sponsor": "", "problem": "硫化物固态电解质与高镍正极界面阻抗大，需要界面修饰技术。",
        "indicators": "离子电导率≥5mS/cm", "reward": 100.0, "deadline": TODAY + timedelta(days=20),
        "eligibility": "", "field_code": "new_energy.battery", "criteria": "技术先进性 | scientist | 100"})
    application = challenges.apply(session, challenge, university, {
        "team": "联合团队", "approach": "采用原位聚合界面层协同改性，降低界面阻抗并提升循环寿命。", "achievement_ids": []})
    from models import ChallengePartner
    session.add(ChallengePartner(application_id=application.id, organisation_id=people["ent"].organisation_id))
    session.commit()
    assert panels.conflict(session, people["ent"], people["achievement"]) == "co_applied"
    assert panels.conflict(session, people["sci"], people["achievement"]) is None


def test_reviews_complete_the_panel_and_the_summary_averages(session, people):
    panel = _panel(session, people)
    assert {n.user_id for n in session.scalars(select(Notification).where(Notification.kind == "panel_assigned"))} \
        == {people[k].user_id for k in ("sci", "ent", "inv")}
    with pytest.raises(ServiceError) as err:
        panels.check_gate(session, people["achievement"].id)
    assert err.value.code == "panel.gate_open"
    panels.submit_review(session, panel.id, people["sci"].user, {"tech_score": 5, "market_score": 4, "value_score": 4,
                                                                 "comment": "界面改性思路清晰"})
    panels.submit_review(session, panel.id, people["ent"].user, {"tech_score": "4", "market_score": "5",
                                                                 "value_score": "3"})
    with pytest.raises(ServiceError) as err:  # an investor gives the value range
        panels.submit_review(session, panel.id, people["inv"].user, {"tech_score": 3, "market_score": 3,
                                                                     "value_score": 5})
    assert err.value.code == "panel.value_required"
    with pytest.raises(ServiceError) as err:
        panels.submit_review(session, panel.id, people["inv"].user, {"tech_score": 3, "market_score": 3,
                                                                     "value_score": 5, "value_min": "900",
                                                                     "value_max": "500"})
    assert err.value.code == "panel.value_order"
    assert panel.status == "open"
    panels.submit_review(session, panel.id, people["inv"].user, {"tech_score": 3, "market_score": 3, "value_score": 5,
                                                                 "value_min": "500", "value_max": "900"})
    session.commit()
    s = panels.summary(panel)
    assert panel.status == "complete" and s.complete and (s.reviews, s.members) == (3, 3)
    assert s.means == {"tech_score": 4.0, "market_score": 4.0, "value_score": 4.0}
    assert (s.value_min, s.value_max) == (500.0, 900.0)
    assert s.comments == [("scientist", "界面改性思路清晰")]
    assert "技术前景4.0" in s.text_zh() and "500~900万元" in s.text_zh()
    panels.check_gate(session, people["achievement"].id)  # complete: the gate is open


@pytest.mark.parametrize("bad", [{"tech_score": 0}, {"tech_score": 6}, {"tech_score": "x"}, {"tech_score": None},
                                 {"tech_score": True}, {"comment": "长" * 4001}])
def test_bad_scores_are_refused(session, people, bad):
    panel = _panel(session, people)
    data = {"tech_score": 3, "market_score": 3, "value_score": 3, **bad}
    with pytest.raises(ServiceError):
        panels.submit_review(session, panel.id, people["sci"].user, data)


def test_an_advisor_sees_only_assigned_panels_and_the_deadline_closes_reviews(session, people):
    panel = _panel(session, people, advisors=("sci",))
    assert panels.panels_for(session, people["far"].user) == []
    assert [p.id for p in panels.panels_for(session, people["sci"].user)] == [panel.id]
    with pytest.raises(NotFound):
        panels.submit_review(session, panel.id, people["far"].user, {"tech_score": 3, "market_score": 3,
                                                                     "value_score": 3})
    with pytest.raises(ServiceError) as err:
        panels.submit_review(session, panel.id, people["sci"].user, {"tech_score": 3, "market_score": 3,
                                                                     "value_score": 3},
                             today=panel.deadline + timedelta(days=1))
    assert err.value.code == "panel.deadline_passed"
    assert not panels.can_see_summary(people["sci"].user, panel)
    assert panels.can_see_summary(people["university"], panel) and panels.can_see_summary(people["broker"], panel)


def test_a_company_sees_no_panel_of_an_achievement_it_does_not_own(session, people, make_user):
    panel = _panel(session, people)
    company = make_user("company")
    assert panels.panels_for(session, company) == []
    with pytest.raises(NotFound):
        panels.panel_for_viewer(session, panel.id, company)


@pytest.mark.parametrize("bad,code", [({"deadline": TODAY - timedelta(days=1)}, "panel.bad_deadline"),
                                      ({"advisor_ids": []}, "panel.no_advisors"),
                                      ({"advisor_ids": [999999]}, "panel.bad_advisor"),
                                      ({"achievement_id": 999999}, "panel.bad_achievement")])
def test_bad_panels_are_refused(session, people, bad, code):
    data = {"achievement_id": people["achievement"].id, "advisor_ids": [people["sci"].user_id],
            "deadline": TODAY + timedelta(days=3), **bad}
    with pytest.raises(ServiceError) as err:
        panels.create_panel(session, people["broker"], data)
    assert err.value.code == code


def test_only_staff_form_panels_and_only_admins_create_advisors(session, people):
    with pytest.raises(ServiceError):
        _panel(session, {**people, "broker": people["university"]})
    with pytest.raises(ServiceError):
        panels.create_advisor(session, people["broker"], {"perspective": "scientist", "expertise": "材料学"})


def test_reminders_go_once_to_advisors_with_a_review_due(session, people):
    panel = _panel(session, people, deadline=TODAY + timedelta(days=2))
    panels.submit_review(session, panel.id, people["sci"].user, {"tech_score": 3, "market_score": 3,
                                                                 "value_score": 3})
    assert panels.remind_due(session) == 2  # the entrepreneur and the investor
    assert panels.remind_due(session) == 0
    session.commit()
    told = {n.user_id for n in session.scalars(select(Notification).where(Notification.kind == "panel_review_due"))}
    assert told == {people["ent"].user_id, people["inv"].user_id}


def test_latest_summaries_feed_reports(session, people):
    panel = _panel(session, people)
    panels.submit_review(session, panel.id, people["sci"].user, {"tech_score": 5, "market_score": 5,
                                                                 "value_score": 5})
    got = panels.latest_summaries(session, [people["achievement"].id, 0])
    assert list(got) == [people["achievement"].id] and got[people["achievement"].id].reviews == 1
    assert Decimal("1") and "评议中" in got[people["achievement"].id].text_zh()


@pytest.mark.slow  # loads the whole demo
def test_the_demo_has_six_advisors_and_a_complete_panel_of_six(session):
    from models import AdvisorProfile
    from services import seed
    seed.load_demo(session)
    session.flush()
    profiles = session.scalars(select(AdvisorProfile)).all()
    assert sorted(p.perspective for p in profiles) == ["entrepreneur"] * 2 + ["investor"] * 2 + ["scientist"] * 2
    rows = session.scalars(select(Panel)).all()
    assert rows and all(p.status == "complete" for p in rows)
    assert any(len(p.members) == 6 for p in rows)
    university = session.scalar(select(seed.User).where(seed.User.email == seed.DEMO_LOGINS["university"])) \
        if hasattr(seed, "User") else None
    first = rows[0]
    s = panels.summary(first)
    assert s.reviews == s.members and s.value_min is not None
    if university is not None:
        assert any(p.achievement.owner_id == university.id and p.gate for p in rows)


def test_proposing_presenters_leaves_out_an_achievement_its_gating_panel_holds_back(session, people):
    from types import SimpleNamespace

    from services import roadshows

    achievement = people["achievement"]
    roadshow = SimpleNamespace(field=achievement.field)  # candidate_achievements reads the roadshow's field only
    assert achievement in roadshows.candidate_achievements(session, roadshow)
    panel = _panel(session, people)  # gate=True, three advisors, no review yet
    session.flush()
    assert achievement not in roadshows.candidate_achievements(session, roadshow)
    for key, extra in (("sci", {}), ("ent", {}), ("inv", {"value_min": "500", "value_max": "900"})):
        panels.submit_review(session, panel.id, people[key].user,
                             {"tech_score": 4, "market_score": 4, "value_score": 4, **extra})
    session.flush()
    assert panel.status == "complete"
    assert achievement in roadshows.candidate_achievements(session, roadshow)
