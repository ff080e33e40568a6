"""Advisory panels for a roadshow's presenters through the pages (issue 21 part 1): the roadshow page links the
manager to one form that forms one panel per presenting achievement; refusals answer 422 with a message in
Chinese and English, keep what was typed and save nothing; nobody else reaches the form."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Panel
from services import clock, panels, roadshows
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


@pytest.fixture(autouse=True)
def _lexical(_no_index, app):
    app.config["PANEL_SUGGEST_ENGINE"] = False  # the engine's ranking is tested with the model (services tests)


DUE = (clock.today() + timedelta(days=6)).isoformat()


@pytest.fixture
def world(make_user, make_listing, session):
    admin, broker = make_user("admin"), make_user("broker")
    uni = make_user("university", org="西北材料研究院")
    a1 = make_listing("achievement", uni, reviewer=broker)
    a2 = make_listing("achievement", make_user("university", org="长安能源大学"), reviewer=broker)
    advisors = []
    for n, (perspective, org, kind) in enumerate((("scientist", "某电池大学", "university"),
                                                  ("investor", "某创投", "company"),
                                                  ("scientist", "西北材料研究院", "university")), 1):
        advisors.append(panels.create_advisor(session, admin, {
            "display_name": f"路演顾问{n}", "email": f"rsadv{n}@example.com", "password": PASSWORD,
            "perspective": perspective, "expertise": "锂离子电池正极材料与储能投资", "fields": "新能源",
            "organisation_name": org, "organisation_kind": kind}))
    show = roadshows.create_roadshow(session, broker, {
        "title": "顾问团路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=20),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 4, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})
    for a in (a1, a2):
        roadshows.add_presenter(session, show, a.id)
    session.commit()
    return {"admin": admin, "broker": broker, "uni": uni, "a1": a1, "a2": a2, "advisors": advisors, "show": show}


def _form(w, advisors=(0, 1, 2), **over):
    return {"roadshow": str(w["show"].id), "achievement_ids": [str(w["a1"].id), str(w["a2"].id)],
            "advisor_ids": [str(w["advisors"][i].user_id) for i in advisors], "deadline": DUE, "gate": "y",
            "note": "请在路演前完成评议", **over}


def _panels(session):
    session.expire_all()
    return session.scalar(select(func.count(Panel.id)))


def test_the_manager_forms_panels_for_the_presenters_from_the_roadshow_page(client, session, login, world, zh):
    login(world["broker"])
    show = world["show"]
    page = client.get(f"/roadshows/{show.id}").get_data(as_text=True)
    assert f"/panels/new?roadshow={show.id}" in page and zh("Form advisory panels for these presenters") in page
    url = f"/panels/new?roadshow={show.id}"
    page = client.get(url).get_data(as_text=True)
    assert world["a1"].title in page and world["a2"].title in page and "路演顾问1" in page
    assert page.index("路演顾问1") < page.index("路演顾问3")  # the advisor with a conflict ranks last
    resp = client.submit(url, _form(world), follow_redirects=True)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert zh("%(n)s panels formed; their advisors are told.", n=2) in text
    assert "路演顾问3" in text  # left off a1's panel for the conflict, and said so
    assert "顾问团" in text  # the presenters' panel lines
    session.expire_all()
    rows = session.scalars(select(Panel).order_by(Panel.achievement_id)).all()
    assert [(p.achievement_id, p.roadshow_id, len(p.members)) for p in rows] == [
        (world["a1"].id, show.id, 2), (world["a2"].id, show.id, 3)]


@pytest.mark.parametrize("over,msgid,kw", [
    ({"achievement_ids": []}, "Choose at least one presenting achievement.", {}),
    ({"advisor_ids": []}, "Choose at least one advisor.", {}),
    ({"deadline": (clock.today() + timedelta(days=40)).isoformat()},
     "The reviews must be due on or before the roadshow (%(date)s).", {"date": "HELD"}),
])
def test_bad_input_answers_422_in_both_languages_and_keeps_the_note(client, session, login, world, zh,
                                                                       over, msgid, kw):
    kw = {k: (world["show"].held_on.isoformat() if v == "HELD" else v) for k, v in kw.items()}
    login(world["broker"])
    url = f"/panels/new?roadshow={world['show'].id}"
    resp = client.submit(url, _form(world, **over))
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert zh(msgid, **kw) in page and "请在路演前完成评议" in page
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    resp = client.submit(url, _form(world, **over))
    assert resp.status_code == 422 and (msgid % kw if kw else msgid) in resp.get_data(as_text=True)
    assert _panels(session) == 0


def test_only_conflicting_advisors_form_nothing_with_a_clear_message(client, session, login, world, zh):
    login(world["broker"])
    url = f"/panels/new?roadshow={world['show'].id}"
    resp = client.submit(url, _form(world, advisors=(2,), achievement_ids=[str(world["a1"].id)]))
    assert resp.status_code == 422
    assert zh("No panel was formed: each chosen achievement already has a panel for this roadshow, or every "
              "chosen advisor has a conflict of interest with it.") in resp.get_data(as_text=True)
    assert _panels(session) == 0


def test_without_csrf_the_form_is_refused(client, session, login, world):
    login(world["broker"])
    resp = client.post(f"/panels/new?roadshow={world['show'].id}", data=_form(world))
    assert resp.status_code == 400 and _panels(session) == 0


def test_nobody_but_the_manager_reaches_the_form(client, session, login, world, make_user):
    url = f"/panels/new?roadshow={world['show'].id}"
    login(make_user("broker"))  # another broker: not their roadshow
    assert client.get(url).status_code == 404
    assert client.get("/panels/new?roadshow=99999999999").status_code == 404
    assert client.get("/panels/new?roadshow=abc").status_code == 404
    client.submit("/logout", {}, form_url="/")
    login(world["uni"])
    assert client.get(url).status_code == 403
    client.submit("/logout", {}, form_url="/")
    login(world["admin"])  # admins manage every roadshow
    assert client.get(url).status_code == 200
    assert _panels(session) == 0
