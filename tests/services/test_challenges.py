"""揭榜挂帅 challenges: criteria, deadlines, applications, panel scoring, shortlist and winner, suggestions."""
from __future__ import annotations

from datetime import timedelta

import pytest

from models import Challenge
from services import challenges, clock
from services.errors import NotFound, ServiceError
from tests.services.test_roadshows import SOLID_ACH

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

CRITERIA = "技术先进性 | scientist | 40\n产业化前景 | entrepreneur | 35\n投资价值 | investor | 25"


def challenge_data(**over):
    data = {"title": "全固态电池硫化物电解质界面难题", "sponsor": "陕西省科技厅",
            "problem": "硫化物固态电解质与高镍正极界面阻抗大、循环衰减快，需要开发界面修饰与电解质改性技术。",
            "indicators": "室温离子电导率≥5mS/cm；1000次循环容量保持率≥85%", "reward": 500.0,
            "deadline": clock.today() + timedelta(days=30), "eligibility": "高校或科研院所团队",
            "field_code": "new_energy.battery", "criteria": CRITERIA}
    data.update(over)
    return data


@pytest.fixture
def setup(session, make_user, make_listing):
    broker = make_user("broker")
    uni, uni2 = make_user("university", org="西安交通大学"), make_user("university", org="西北工业大学")
    ach = make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)
    other = make_listing("achievement", uni2, reviewer=broker)
    ch = challenges.create_challenge(session, broker, challenge_data())
    session.commit()
    return dict(broker=broker, uni=uni, uni2=uni2, ach=ach, other=other, ch=ch)


def application(**over):
    data = {"team": "王教授团队，8人", "approach": "采用原位聚合界面层与卤素掺杂硫化物电解质协同改性，降低界面阻抗。",
            "achievement_ids": []}
    data.update(over)
    return data


def test_criteria_are_parsed_and_weights_normalised():
    parsed = challenges.parse_criteria(CRITERIA)
    assert [c["perspective"] for c in parsed] == ["scientist", "entrepreneur", "investor"]
    assert [c["weight"] for c in parsed] == [0.4, 0.35, 0.25]
    assert challenges.parse_criteria(challenges.criteria_text(parsed)) == parsed


@pytest.mark.parametrize("text, code", [
    ("", "challenge.criteria_empty"),
    ("技术 | scientist", "challenge.criteria_format"),
    ("技术 | poet | 10", "challenge.criteria_perspective"),
    ("技术 | scientist | abc", "challenge.criteria_weight"),
    ("技术 | scientist | -5", "challenge.criteria_weight"),
    ("技术 | scientist | nan", "challenge.criteria_weight"),
])
def test_bad_criteria_are_refused_with_a_code(text, code):
    with pytest.raises(ServiceError) as err:
        challenges.parse_criteria(text)
    assert err.value.code == code


def test_create_refuses_past_deadline_bad_reward_and_non_staff(session, setup, make_user):
    for over, code in [({"deadline": clock.today() - timedelta(days=1)}, "challenge.deadline_past"),
                       ({"reward": 0}, "challenge.bad_reward"), ({"reward": float("inf")}, "challenge.bad_reward")]:
        with pytest.raises(ServiceError) as err:
            challenges.create_challenge(session, setup["broker"], challenge_data(**over))
        assert err.value.code == code
    with pytest.raises(ServiceError):
        challenges.create_challenge(session, make_user("company"), challenge_data())


def test_apply_with_own_achievements_once(session, setup):
    ch, uni = setup["ch"], setup["uni"]
    app = challenges.apply(session, ch, uni, application(achievement_ids=[setup["ach"].id]))
    assert app.status == "submitted" and app.achievement_ids == [setup["ach"].id]
    with pytest.raises(ServiceError) as twice:
        challenges.apply(session, ch, uni, application())
    assert twice.value.code == "challenge.already_applied"
    with pytest.raises(ServiceError) as foreign:
        challenges.apply(session, ch, setup["uni2"], application(achievement_ids=[setup["ach"].id]))
    assert foreign.value.code == "challenge.bad_achievement"
    with pytest.raises(ServiceError) as role:
        challenges.apply(session, ch, setup["broker"], application())
    assert role.value.code == "challenge.wrong_role"


def _expire(session, ch: Challenge) -> None:
    """Move the deadline into the past as time would (bypassing the services on purpose)."""
    ch.deadline = clock.today() - timedelta(days=1)
    session.commit()


def test_application_after_deadline_is_refused(session, setup):
    _expire(session, setup["ch"])
    with pytest.raises(ServiceError) as err:
        challenges.apply(session, setup["ch"], setup["uni"], application())
    assert err.value.code == "challenge.deadline_passed"


def test_a_past_deadline_cannot_be_edited_to_reopen(session, setup):
    ch = setup["ch"]
    _expire(session, ch)
    with pytest.raises(ServiceError) as err:
        challenges.update_challenge(session, ch, setup["broker"], {"deadline": clock.today() + timedelta(days=10)})
    assert err.value.code == "challenge.no_reopen"
    challenges.update_challenge(session, ch, setup["broker"], {"eligibility": "仅限高校"})  # text edits still fine
    assert not challenges.is_open(ch)


def test_open_challenge_deadline_can_move_forward_not_into_the_past(session, setup, make_user):
    ch = setup["ch"]
    challenges.update_challenge(session, ch, setup["broker"], {"deadline": clock.today() + timedelta(days=60)})
    with pytest.raises(ServiceError) as err:
        challenges.update_challenge(session, ch, setup["broker"], {"deadline": clock.today() - timedelta(days=2)})
    assert err.value.code == "challenge.deadline_past"
    with pytest.raises(NotFound):
        challenges.update_challenge(session, ch, make_user("broker"), {"title": "别人的榜单"})


def test_panel_scores_rank_shortlist_and_winner(session, setup, make_user):
    ch = setup["ch"]
    a1 = challenges.apply(session, ch, setup["uni"], application())
    a2 = challenges.apply(session, ch, setup["uni2"], application())
    p1, p2, outsider = make_user("broker"), make_user("admin"), make_user("broker")
    challenges.assign_panelist(session, ch, p1.id)
    challenges.assign_panelist(session, ch, p2.id)
    with pytest.raises(ServiceError) as dup:
        challenges.assign_panelist(session, ch, p1.id)
    assert dup.value.code == "challenge.already_panelist"
    with pytest.raises(ServiceError) as role:
        challenges.assign_panelist(session, ch, setup["uni"].id)
    assert role.value.code == "challenge.panelist_role"
    challenges.score_application(session, ch, a1.id, p1, {0: 9, 1: 8, 2: 7})
    challenges.score_application(session, ch, a1.id, p2, {0: 7, 1: 8, 2: 9})
    challenges.score_application(session, ch, a2.id, p1, {0: 5, 1: 5, 2: 5})
    challenges.score_application(session, ch, a2.id, p1, {0: 6, 1: 6, 2: 6})  # replaces, not adds
    for bad in ({0: 11, 1: 5, 2: 5}, {0: -1, 1: 5, 2: 5}, {0: 5.5, 1: 5, 2: 5}, {0: "x", 1: 5, 2: 5}, {0: 5}):
        with pytest.raises(ServiceError) as err:
            challenges.score_application(session, ch, a1.id, p1, bad)
        assert err.value.code in ("challenge.bad_score", "challenge.score_missing")
    with pytest.raises(ServiceError) as not_panel:
        challenges.score_application(session, ch, a1.id, outsider, {0: 1, 1: 1, 2: 1})
    assert not_panel.value.code == "challenge.not_panelist"
    ranked = challenges.ranking(session, ch)
    assert [r.application.id for r in ranked] == [a1.id, a2.id]
    assert ranked[0].total == pytest.approx(0.4 * 8 + 0.35 * 8 + 0.25 * 8)
    assert ranked[1].total == pytest.approx(6.0) and ranked[1].scored_by == 1

    with pytest.raises(ServiceError) as early:
        challenges.shortlist(session, ch, [a1.id])
    assert early.value.code == "challenge.still_open"
    _expire(session, ch)
    with pytest.raises(ServiceError) as not_short:
        challenges.announce(session, ch, a2.id)
    assert not_short.value.code == "challenge.not_shortlisted"
    challenges.shortlist(session, ch, [a1.id, a2.id])
    winner = challenges.announce(session, ch, a1.id)
    assert winner.status == "winner" and a2.status == "not_selected" and ch.status == "announced"
    with pytest.raises(ServiceError) as again:
        challenges.announce(session, ch, a2.id)
    assert again.value.code == "challenge.announced"


def test_suggestions_rank_the_matching_achievement_first(session, setup, app):
    suggestions = challenges.suggest(session, app.extensions["matching"], setup["ch"], k=5)
    assert suggestions and suggestions[0].achievement.id == setup["ach"].id
    assert suggestions[0].score > suggestions[-1].score or len(suggestions) == 1
