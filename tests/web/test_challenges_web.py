"""揭榜挂帅 pages: publish with validation, apply (and after the deadline), panel scoring, winner, privacy."""
from __future__ import annotations

from datetime import timedelta

import pytest

from models import Challenge, ChallengeApplication
from services import challenges, clock
from tests.services.test_challenges import CRITERIA, challenge_data
from tests.services.test_roadshows import SOLID_ACH
from tests.web.test_roadshows_web import CANARIES

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def form(**over):
    data = {"title": "全固态电池硫化物电解质界面难题", "sponsor": "陕西省科技厅",
            "problem": "硫化物固态电解质与高镍正极界面阻抗大、循环衰减快，需要开发界面修饰与电解质改性技术。",
            "indicators": "室温离子电导率≥5mS/cm", "reward": "500", "field_code": "new_energy.battery",
            "deadline": (clock.today() + timedelta(days=30)).isoformat(), "eligibility": "高校团队",
            "criteria": CRITERIA}
    data.update(over)
    return data


def text(resp) -> str:
    return resp.get_data(as_text=True)


def logout(client):
    client.post("/logout", data={"csrf_token": client.token("/")})


@pytest.fixture
def cast(session, make_user, make_listing):
    broker = make_user("broker")
    uni = make_user("university", org="西安交通大学")
    ach = make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)
    ch = challenges.create_challenge(session, broker, challenge_data())
    session.commit()
    return dict(broker=broker, uni=uni, ach=ach, ch=ch)


def test_publish_form_validates_and_publishes(client, login, make_user, zh, session):
    login(make_user("broker"))
    bad = client.submit("/challenges/new", form(reward="abc", deadline=(clock.today() - timedelta(days=1)).isoformat(),
                                                criteria="技术 | poet | 10"))
    assert bad.status_code == 200
    assert zh("The deadline must be today or later.") in text(bad)
    bad = client.submit("/challenges/new", form(criteria="技术 | poet | 10"))
    assert zh("Criterion line %(line)s: the perspective must be scientist, entrepreneur or investor.", line=1) \
        in text(bad)
    assert client.submit("/challenges/new", form(reward="NaN")).status_code == 200
    ok = client.submit("/challenges/new", form(), follow_redirects=True)
    assert zh("Challenge published.") in text(ok) and "陕西省科技厅" in text(ok)
    assert zh("Scientist") in text(ok) and "40%" in text(ok)


def test_companies_cannot_publish_and_others_cannot_edit(client, login, make_user, cast):
    login(make_user("company"))
    assert client.get("/challenges/new").status_code == 403
    assert client.get(f"/challenges/{cast['ch'].id}").status_code == 200  # published to signed-in users
    logout(client)
    login(make_user("broker"))
    assert client.get(f"/challenges/{cast['ch'].id}/edit").status_code == 404
    page = text(client.get(f"/challenges/{cast['ch'].id}"))
    assert "id=\"applications\"" not in page


def test_university_applies_once_and_not_after_the_deadline(client, login, cast, zh, session, make_user):
    login(cast["uni"])
    url = f"/challenges/{cast['ch'].id}"
    short = client.submit(f"{url}/apply", {"team": "王", "approach": "短"}, form_url=url, follow_redirects=True)
    assert zh("Describe the approach in 20 to 6,000 characters.") in text(short)
    resp = client.submit(f"{url}/apply", {"team": "王教授团队", "approach": "原位聚合界面层与卤素掺杂协同改性，降低界面阻抗。",
                                          "achievement_ids": [cast["ach"].id]}, form_url=url, follow_redirects=True)
    assert zh("Your application is submitted.") in text(resp)
    logout(client)
    late = make_user("university")
    ch = session.get(Challenge, cast["ch"].id)
    ch.deadline = clock.today() - timedelta(days=1)
    session.commit()
    login(late)
    page = text(client.get(url))
    assert zh("Applications closed on %(d)s.", d=ch.deadline.isoformat()) in page
    resp = client.submit(f"{url}/apply", {"team": "李教授团队", "approach": "采用新型界面修饰层方案，提升循环稳定性能指标。"},
                         form_url=url, follow_redirects=True)
    assert resp.status_code == 422 and "采用新型界面修饰层方案" in text(resp)  # refused, what was typed shown back
    assert zh("Applications closed on %(deadline)s; this application was not accepted.",
              deadline=ch.deadline.isoformat()) in text(resp)
    assert session.query(ChallengeApplication).count() == 1


def test_past_deadline_edit_cannot_reopen(client, login, cast, zh, session):
    ch = session.get(Challenge, cast["ch"].id)
    past = clock.today() - timedelta(days=1)
    ch.deadline = past
    session.commit()
    login(cast["broker"])
    url = f"/challenges/{ch.id}/edit"
    edit_page = client.get(url)
    assert edit_page.status_code == 200 and "技术先进性 | scientist | 40" in text(edit_page)
    resp = client.submit(url, form(deadline=(clock.today() + timedelta(days=9)).isoformat()))
    assert resp.status_code == 200
    assert zh("Applications for this challenge have closed, so its deadline cannot be moved. Publish a new "
              "challenge to collect new applications.") in text(resp)
    same = client.submit(url, form(deadline=past.isoformat(), eligibility="仅限高校"), follow_redirects=True)
    assert zh("Challenge saved.") in text(same)
    session.expire_all()
    assert session.get(Challenge, ch.id).deadline == past


def test_panel_scores_shortlist_and_announce(client, login, cast, zh, session, make_user):
    ch = cast["ch"]
    app1 = challenges.apply(session, ch, cast["uni"], {"team": "王教授团队", "approach": "原位聚合界面层方案" * 3,
                                                       "achievement_ids": [cast["ach"].id]})
    panelist = make_user("broker")
    session.commit()
    login(cast["broker"])
    url = f"/challenges/{ch.id}"
    resp = client.submit(f"{url}/panel", {"user_id": panelist.id}, form_url=url, follow_redirects=True)
    assert zh("Panel member added.") in text(resp)
    page = text(client.get(url))
    assert SOLID_ACH["title"] in page  # suggestion and linked achievement
    for canary in CANARIES:
        assert canary not in page
    logout(client)

    login(panelist)
    bad = client.submit(f"{url}/applications/{app1.id}/score", {"score-0": "11", "score-1": "5", "score-2": "5"},
                        form_url=url, follow_redirects=True)
    assert zh("Scores are whole numbers from 0 to 10.") in text(bad)
    missing = client.submit(f"{url}/applications/{app1.id}/score", {"score-0": "7"}, form_url=url,
                            follow_redirects=True)
    assert zh("Score every criterion.") in text(missing)
    ok = client.submit(f"{url}/applications/{app1.id}/score", {"score-0": "8", "score-1": "7", "score-2": "6"},
                       form_url=url, follow_redirects=True)
    assert zh("Scores saved.") in text(ok) and "7.15" in text(ok)
    assert client.submit(f"{url}/shortlist", {"application_ids": [app1.id]}, form_url=url).status_code == 404
    logout(client)

    login(cast["broker"])
    early = client.submit(f"{url}/shortlist", {"application_ids": [app1.id]}, form_url=url, follow_redirects=True)
    assert zh("Applications are open until %(deadline)s; shortlist after that.",
              deadline=ch.deadline.isoformat()) in text(early)
    row = session.get(Challenge, ch.id)
    row.deadline = clock.today() - timedelta(days=1)
    session.commit()
    client.submit(f"{url}/shortlist", {"application_ids": [app1.id]}, form_url=url)
    resp = client.submit(f"{url}/announce", {"application_id": app1.id}, form_url=url, follow_redirects=True)
    assert zh("Winner announced (揭榜).") in text(resp) and 'id="winner"' in text(resp)
    assert "西安交通大学" in text(resp)


def test_outsider_cannot_score(client, login, cast, session, make_user):
    app1 = challenges.apply(session, cast["ch"], cast["uni"], {"team": "王教授团队", "approach": "方案" * 12})
    session.commit()
    login(make_user("broker"))
    url = f"/challenges/{cast['ch'].id}"
    resp = client.submit(f"{url}/applications/{app1.id}/score", {"score-0": "8", "score-1": "7", "score-2": "6"},
                         form_url=url)
    assert resp.status_code == 404


def test_every_roadshow_and_challenge_route_has_a_policy(app):
    from web import policy

    routes = [(r.endpoint, m) for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in ("roadshows", "challenges")
              for m in r.methods - {"HEAD", "OPTIONS"}]
    assert len(routes) >= 20
    assert [(e, m) for e, m in routes if policy.rule_for(e, m) is None] == []
