"""A refused application (to present at a roadshow, to a 揭榜挂帅 challenge) draws the page again with the
messages on the form and everything typed kept (was: a redirect and a flash, the typed text lost)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from models import ChallengeApplication, RoadshowApplication
from tests.web.test_programme_web import _no_index, publish, show, text  # noqa: F401  (fixtures)
from services import clock


def test_a_refused_application_to_present_keeps_the_pitch(client, login, show, session, zh):  # noqa: F811
    url = f"/programme/roadshows/{show['rs'].id}"
    login(show["uni"])
    pitch = "覆盖储能需求的固态电解质成果" * 200  # over 2,000 characters
    resp = client.submit(f"{url}/apply", {"achievement_id": show["ach"].id, "pitch": pitch}, form_url=url)
    assert resp.status_code == 422 and pitch in text(resp)
    assert session.scalar(select(func.count()).select_from(RoadshowApplication)) == 0
    # a refusal of the service (already presenting) keeps the pitch too
    short = "适合本场的储能需求"
    resp = client.submit(f"{url}/apply", {"achievement_id": show["ach"].id, "pitch": short}, form_url=url)
    assert resp.status_code == 422 and short in text(resp) and 'class="flash danger"' in text(resp)


def test_a_refused_challenge_application_keeps_the_approach(client, login, make_user, session, zh):
    from services import challenge_race as races
    broker, issuer, uni = make_user("broker"), make_user("company", org="发榜企业"), make_user("university")
    demand = publish(session, "demand", issuer)
    challenge = races.create_from_demands(session, broker, [demand.id], {
        "title": "储能安全揭榜", "problem": "高镍电池热失控风险高，需要从材料到系统的安全防护技术方案。",
        "indicators": "蔓延≥30min", "reward": 100.0, "budget": None, "max_winners": 2, "eligibility": "",
        "deadline": clock.today() + timedelta(days=10), "field_code": "new_energy",
        "criteria": "技术 | scientist | 50\n市场 | entrepreneur | 50"})
    session.commit()
    race = f"/programme/challenges/{challenge.id}"
    login(uni)
    approach = "Solid-state electrolyte coating; ünïcödé approach text kept after a refusal."
    resp = client.submit(f"{race}/apply", {"team": "王", "approach": approach}, form_url=race)
    assert resp.status_code == 422 and approach in text(resp)
    assert zh("Describe the team in 4 to 2,000 characters.") in text(resp)
    assert session.scalar(select(func.count()).select_from(ChallengeApplication)) == 0
    resp = client.submit(f"{race}/apply", {"team": "王教授团队", "approach": approach}, form_url=race)
    assert resp.status_code == 302


def test_a_managers_refused_row_form_keeps_what_was_typed(client, login, show, session, zh):  # noqa: F811
    """The broker's row forms (presenter links, meeting links, a decision's reason) draw the page again with the
    row's typed values and the reason, instead of a redirect that lost them; nothing is saved."""
    from models import RoadshowPresenter
    url = f"/programme/roadshows/{show['rs'].id}"
    login(show["broker"])
    presenter = show["presenter"]
    typed = "https://live.example.cn/p1 with a typo"
    resp = client.submit(f"{url}/presenters/{presenter.id}/links",
                         {"live_link": typed, "recording_link": "ftp://rec.example.cn/kept"}, form_url=url)
    body = text(resp)
    assert resp.status_code == 422 and typed in body and "ftp://rec.example.cn/kept" in body
    assert zh("Enter a link starting with http:// or https://.") in body and 'aria-invalid="true"' in body
    session.expire_all()
    assert session.get(RoadshowPresenter, presenter.id).live_link in (None, "")
