"""揭榜挂帅: one application per organisation. A colleague of an organisation that has applied is refused with
the colleague's name, sees the organisation's application as it was sent (team, approach, partners, achievements)
on both challenge pages, and what they typed on the board's form is shown back, not thrown away. A broker's
application table names the partners of a joint application."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import ChallengeApplication
from services import challenge_race, challenges, clock
from services.errors import ServiceError
from tests.services.test_org_ownership import _challenge_data, _colleague, _no_index  # noqa: F401 (fixture)

pytestmark = pytest.mark.model  # the app's fixtures load the real embedding model (not in `make test-fast`)


@pytest.fixture
def cast(session, make_user, make_listing):
    broker = make_user("broker")
    uni = make_user("university", org="西北大学技术转移中心")
    mate = _colleague(session, uni, "mate@nwu.example.cn")
    partner = make_user("company", org="陕西汽车集团")
    achievement = make_listing("achievement", uni, reviewer=broker)
    challenge = challenges.create_challenge(session, broker, _challenge_data())
    session.commit()
    return dict(broker=broker, uni=uni, mate=mate, partner=partner, achievement=achievement, challenge=challenge)


def _count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(ChallengeApplication))


def test_a_colleague_is_refused_naming_who_applied_and_the_applicant_twice_as_before(session, cast):
    first = challenge_race.apply_joint(session, cast["challenge"], cast["uni"], {
        "team": "王教授团队", "approach": "原位聚合界面层", "achievement_ids": [cast["achievement"].id]})
    session.commit()
    for apply in (challenges.apply, challenge_race.apply_joint):
        with pytest.raises(ServiceError) as err:
            apply(session, cast["challenge"], cast["mate"], {"team": "同事团队", "approach": "另一方案", "achievement_ids": []})
        assert err.value.code == "challenge.organisation_applied"
        assert err.value.params["name"] == cast["uni"].display_name
        with pytest.raises(ServiceError) as err:
            apply(session, cast["challenge"], cast["uni"], {"team": "再来", "approach": "再来一次", "achievement_ids": []})
        assert err.value.code == "challenge.already_applied"
    assert challenges.own_application(session, cast["challenge"], cast["mate"]).id == first.id
    assert _count(session) == 1


def _apply_on_the_board(client, challenge_id, **over):
    url = f"/programme/challenges/{challenge_id}"
    data = {"team": "同事团队，5人", "approach": "采用卤素掺杂硫化物电解质协同改性，降低界面阻抗。", "partners": ""}
    data.update(over)
    return client.submit(f"{url}/apply", data, form_url=url)


def test_the_colleague_sees_the_organisations_application_and_keeps_what_they_typed(client, login, session, cast, zh):
    login(cast["uni"])
    resp = _apply_on_the_board(client, cast["challenge"].id, partners="陕西汽车集团", team="王教授团队",
                               achievement_ids=[cast["achievement"].id])
    assert resp.status_code == 302, resp.get_data(as_text=True)
    page = client.get(f"/programme/challenges/{cast['challenge'].id}").get_data(as_text=True)
    assert "王教授团队" in page and "陕西汽车集团" in page and cast["achievement"].title in page
    client.post("/logout", data={"csrf_token": client.token("/")})

    login(cast["mate"])
    for url in (f"/programme/challenges/{cast['challenge'].id}", f"/challenges/{cast['challenge'].id}"):
        page = client.get(url).get_data(as_text=True)
        assert 'id="my-application"' in page and "王教授团队" in page and "陕西汽车集团" in page, url
        assert zh("Submit application") not in page, url
    resp = _apply_on_the_board(client, cast["challenge"].id, team="同事团队，5人", partners="陕西汽车集团",
                               achievement_ids=[cast["achievement"].id])
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and _count(session) == 1
    assert zh("Your organisation has already applied to this challenge (%(name)s, %(day)s): one application per "
              "organisation. Ask your colleague to add what you would contribute.",
              name=cast["uni"].display_name, day=clock.day_of(session.scalar(select(ChallengeApplication.created_at))).isoformat()) in page
    typed = page.split('id="not-sent"')[1]
    assert "同事团队，5人" in typed and "采用卤素掺杂硫化物电解质协同改性" in typed and "陕西汽车集团" in typed
    assert cast["achievement"].title in typed


def test_the_brokers_application_table_names_the_partners(client, login, session, cast):
    challenge_race.apply_joint(session, cast["challenge"], cast["uni"], {
        "team": "王教授团队", "approach": "原位聚合界面层", "achievement_ids": [],
        "partner_ids": [cast["partner"].organisation_id]})
    session.commit()
    login(cast["broker"])
    page = client.get(f"/challenges/{cast['challenge'].id}").get_data(as_text=True)
    assert "西北大学技术转移中心 + 陕西汽车集团" in page


def test_the_challenge_page_keeps_what_was_typed_when_an_application_is_refused(client, login, session, cast, zh):
    url = f"/challenges/{cast['challenge'].id}"
    login(cast["uni"])
    resp = client.submit(f"{url}/apply", {"team": "王教授团队，8人", "approach": "太短\x07的方案"}, form_url=url)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and _count(session) == 0
    assert zh("Describe the approach in 20 to 6,000 characters.") in page and "太短的方案" in page
    assert "王教授团队，8人" in page
    resp = client.submit(f"{url}/apply", {"team": "王教授团队，8人", "approach": "原位聚合界面层与卤素掺杂协同改性，降低界面阻抗。",
                                          "achievement_ids": [cast["achievement"].id]}, form_url=url)
    assert resp.status_code == 302 and _count(session) == 1
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(cast["mate"])
    resp = client.submit(f"{url}/apply", {"team": "同事团队", "approach": "采用卤素掺杂硫化物电解质协同改性，降低界面阻抗。",
                                          "achievement_ids": [cast["achievement"].id]}, form_url=url)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and _count(session) == 1
    assert 'id="not-sent"' in page and "同事团队" in page and "采用卤素掺杂硫化物电解质协同改性" in page
