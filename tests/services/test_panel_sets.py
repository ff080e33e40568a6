"""Advisory panels over a set of achievements before a roadshow (issue 21 part 1): one action forms one panel per
chosen presenting achievement with the same advisors; a conflicting advisor is left off that achievement only;
an achievement with a panel for the roadshow is left alone; refusals save nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Notification, Panel, PanelMember
from services import clock, panels, roadshows
from services.errors import NotFound, ServiceError


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


PASSWORD = "correct horse battery staple"
TODAY = clock.today()


def _roadshow(session, broker, achievements, days=20):
    show = roadshows.create_roadshow(session, broker, {
        "title": "储能路演", "theme": "", "field_code": "new_energy", "held_on": TODAY + timedelta(days=days),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 5, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    for a in achievements:
        roadshows.add_presenter(session, show, a.id)
    session.commit()
    return show


@pytest.fixture
def world(make_user, make_listing, session):
    admin, broker = make_user("admin"), make_user("broker")
    uni_a = make_user("university", org="西北材料研究院")
    uni_b = make_user("university", org="长安能源大学")
    a1 = make_listing("achievement", uni_a, reviewer=broker)
    a2 = make_listing("achievement", uni_b, reviewer=broker)
    n = iter(range(100))

    def advisor(perspective, expertise, org, kind="company"):
        return panels.create_advisor(session, admin, {
            "display_name": f"顾问{next(n)}", "email": f"set{next(n)}@example.com", "password": PASSWORD,
            "perspective": perspective, "expertise": expertise, "fields": "新能源",
            "organisation_name": org, "organisation_kind": kind})

    sci = advisor("scientist", "锂离子电池正极材料与界面改性", "某电池大学", "university")
    inv = advisor("investor", "新能源硬科技早期投资", "某创投")
    same = advisor("scientist", "高镍正极材料", "西北材料研究院", "university")  # a1's organisation
    session.commit()
    show = _roadshow(session, broker, [a1, a2])
    return {"admin": admin, "broker": broker, "a1": a1, "a2": a2, "sci": sci, "inv": inv, "same": same,
            "show": show}


def _data(w, advisors=("sci", "inv"), achievements=("a1", "a2"), **over):
    return {"achievement_ids": [w[k].id for k in achievements], "advisor_ids": [w[k].user_id for k in advisors],
            "deadline": TODAY + timedelta(days=7), "gate": True, "note": "路演前评议", **over}


def _count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_one_action_forms_one_panel_per_achievement_with_the_same_advisors(session, world):
    result = panels.create_panel_set(session, world["broker"], world["show"], _data(world))
    session.commit()
    assert [p.achievement_id for p in result.panels] == [world["a1"].id, world["a2"].id]
    for panel in result.panels:
        assert panel.roadshow_id == world["show"].id and panel.gate and panel.note == "路演前评议"
        assert {m.advisor_id for m in panel.members} == {world["sci"].user_id, world["inv"].user_id}
    assert result.skipped == [] and result.existing == []
    # each advisor is told once per panel, and sees each panel as an ordinary assignment
    notes = session.scalars(select(Notification).where(Notification.user_id == world["sci"].user_id,
                                                       Notification.kind == "panel_assigned")).all()
    assert sorted(n.params["panel_id"] for n in notes) == sorted(p.id for p in result.panels)
    assert len(panels.assignments(session, world["sci"].user)) == 2
    assert [p.id for p in panels.roadshow_panels(session, world["show"].id)] == [p.id for p in result.panels]


def test_a_conflicting_advisor_is_left_off_that_achievement_only(session, world):
    result = panels.create_panel_set(session, world["broker"], world["show"],
                                     _data(world, advisors=("sci", "same")))
    session.commit()
    by_achievement = {p.achievement_id: {m.advisor_id for m in p.members} for p in result.panels}
    assert by_achievement[world["a1"].id] == {world["sci"].user_id}
    assert by_achievement[world["a2"].id] == {world["sci"].user_id, world["same"].user_id}
    assert result.skipped == [(world["same"].user.display_name, world["a1"].title, "same_organisation")]


def test_an_achievement_with_a_panel_for_the_roadshow_is_left_alone(session, world):
    panels.create_panel_set(session, world["broker"], world["show"], _data(world, achievements=("a1",)))
    session.commit()
    result = panels.create_panel_set(session, world["broker"], world["show"], _data(world))
    session.commit()
    assert [p.achievement_id for p in result.panels] == [world["a2"].id]
    assert result.existing == [world["a1"].title]
    with pytest.raises(ServiceError) as err:
        panels.create_panel_set(session, world["broker"], world["show"], _data(world))
    assert err.value.code == "panel.set_nothing"
    session.rollback()
    assert _count(session, Panel) == 2


def test_only_a_conflicting_advisor_forms_nothing(session, world):
    with pytest.raises(ServiceError) as err:
        panels.create_panel_set(session, world["broker"], world["show"],
                                _data(world, advisors=("same",), achievements=("a1",)))
    assert err.value.code == "panel.set_nothing"
    session.rollback()
    assert _count(session, Panel) == 0 and _count(session, PanelMember) == 0


@pytest.mark.parametrize("over,code", [
    ({"achievement_ids": []}, "panel.set_no_achievements"),
    ({"achievement_ids": [999999]}, "panel.set_bad_achievement"),
    ({"achievement_ids": ["x"]}, "panel.set_bad_achievement"),
    ({"advisor_ids": []}, "panel.no_advisors"),
    ({"deadline": TODAY - timedelta(days=1)}, "panel.bad_deadline"),
    ({"deadline": TODAY + timedelta(days=30)}, "panel.set_after_roadshow"),
    ({"note": "长" * 4001}, "panel.bad_note"),
    ({"advisor_ids": [999999]}, "panel.bad_advisor"),
])
def test_bad_input_is_refused_and_saves_nothing(session, world, over, code):
    with pytest.raises(ServiceError) as err:
        panels.create_panel_set(session, world["broker"], world["show"], _data(world, **over))
    assert err.value.code == code
    session.rollback()
    assert _count(session, Panel) == 0
    assert session.scalar(select(func.count(Notification.id)).where(Notification.kind == "panel_assigned")) == 0


def test_an_achievement_that_does_not_present_is_refused(session, world, make_user, make_listing):
    other = make_listing("achievement", make_user("university"), reviewer=world["broker"])
    with pytest.raises(ServiceError) as err:
        panels.create_panel_set(session, world["broker"], world["show"],
                                {**_data(world), "achievement_ids": [world["a1"].id, other.id]})
    assert err.value.code == "panel.set_bad_achievement"


def test_only_the_roadshows_manager_forms_its_panels(session, world, make_user):
    with pytest.raises(NotFound):
        panels.create_panel_set(session, make_user("broker"), world["show"], _data(world))
    with pytest.raises(ServiceError) as err:
        panels.create_panel_set(session, world["sci"].user, world["show"], _data(world))
    assert err.value.code == "panel.forbidden"
    result = panels.create_panel_set(session, world["admin"], world["show"], _data(world))  # admins manage all
    assert len(result.panels) == 2


def test_set_suggestions_rank_by_mean_closeness_and_name_the_conflicts(session, world):
    rows = panels.suggest_for_set(session, [world["a1"], world["a2"]])
    by_user = {r.profile.user_id: r for r in rows}
    assert by_user[world["same"].user_id].conflicts == {world["a1"].id: "same_organisation"}
    assert by_user[world["sci"].user_id].conflicts == {}
    assert rows[-1].profile.user_id == world["same"].user_id  # a conflict ranks after the free advisors
    assert panels.suggest_for_set(session, [])[0].conflicts == {}


def test_the_gate_of_a_set_panel_holds_the_presenter_back(session, world):
    panels.create_panel_set(session, world["broker"], world["show"], _data(world, achievements=("a1",)))
    session.commit()
    with pytest.raises(ServiceError) as err:
        panels.check_gate(session, world["a1"].id)
    assert err.value.code == "panel.gate_open"
    panels.check_gate(session, world["a2"].id)  # no panel: no gate
