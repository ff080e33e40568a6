"""The roadshow journey in a real headless browser: create -> proposed presenters and invitations ->
registration and wishes -> schedule -> attendance and intents."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.test_journey import _login, browser, server  # noqa: F401  (fixtures)
from tests.services.test_roadshows import SOLID_ACH, SOLID_DEMAND
from services import clock

pytestmark = pytest.mark.e2e


def _session(browser, base, user):  # noqa: F811
    from tests.conftest import PASSWORD
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, base, user.email, PASSWORD)
    return ctx, page


def test_roadshow_from_creation_to_intents(server, browser, make_user, make_listing, tmp_path):  # noqa: F811
    broker = make_user("broker")
    uni = make_user("university", org="西北大学")
    c1, c2 = make_user("company", org="秦川电池"), make_user("company", org="长安储能")
    make_listing("demand", c1, reviewer=broker)
    make_listing("demand", c2, reviewer=broker, **SOLID_DEMAND)
    make_listing("achievement", uni, reviewer=broker)
    make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)

    # the broker creates the roadshow (a past date first: answered on the form, nothing lost)
    ctx, page = _session(browser, server, broker)
    page.goto(f"{server}/roadshows/new")
    page.fill("input[name=title]", "新能源电池专场路演")
    page.select_option("select[name=field_code]", "new_energy")
    page.fill("input[name=held_on]", (clock.today() - timedelta(days=1)).isoformat())
    page.fill("input[name=venue]", "西安科技大市场")
    for name, value in (("presentation_slots", "2"), ("meeting_slots", "2"), ("tables", "2"), ("seats", "5")):
        page.fill(f"input[name={name}]", value)
    page.click("button[type=submit].primary")
    assert page.locator(".error").count() >= 1
    assert page.input_value("input[name=title]") == "新能源电池专场路演"
    page.fill("input[name=held_on]", (clock.today() + timedelta(days=7)).isoformat())
    page.click("button[type=submit].primary")
    page.wait_for_url("**/roadshows/*")
    roadshow_url = page.url

    # proposed presenters cover both demands; companies proposed from them are invited
    page.click("#propose")
    page.wait_for_load_state()
    assert SOLID_ACH["title"] in page.content()
    page.click("#find-companies")
    page.wait_for_load_state()
    assert "秦川电池" in page.content() and "长安储能" in page.content()
    while page.locator("#proposals button.primary").count():
        page.locator("#proposals button.primary").first.click()
        page.wait_for_load_state()
        page.goto(f"{roadshow_url}/companies")
    assert page.locator("#proposals .badge").count() == 2
    page.screenshot(path=str(tmp_path / "invited.png"))
    ctx.close()

    # each company registers and wishes every presenter
    for company in (c1, c2):
        ctx, page = _session(browser, server, company)
        page.goto(f"{server}/roadshows/")
        page.click("text=新能源电池专场路演")
        page.click("#register")
        page.wait_for_load_state()
        for box in page.locator("input[name=presenter_ids]").all():
            box.check()
        page.click("#save-wishes")
        page.wait_for_load_state()
        assert page.locator(".flash.success").count() == 1
        ctx.close()

    # the broker builds the schedule and records attendance
    ctx, page = _session(browser, server, broker)
    page.goto(roadshow_url)
    page.click("#build-schedule")
    page.wait_for_load_state()
    assert page.locator("#meeting-table tr").count() == 1 + 4  # 2 companies x 2 presenters in 2 slots x 2 tables
    assert page.locator("#bindings").count() == 0
    boxes = page.locator("#attendance ~ form input[type=checkbox]").all()
    assert len(boxes) == 4  # two registered companies, two presenters
    for box in boxes:
        box.check()
    page.click("text=保存签到")
    page.wait_for_load_state()
    assert page.locator(".flash.success").count() == 1
    pdf = page.request.get(f"{roadshow_url}/schedule.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    ctx.close()

    # both sides record their intent on a meeting
    for user, intent in ((c1, "interested"), (uni, "not_interested")):
        ctx, page = _session(browser, server, user)
        page.goto(roadshow_url)
        page.locator(f"#meeting-table button[data-intent={intent}]").first.click()
        page.wait_for_load_state()
        assert page.locator(".flash.success").count() == 1
        ctx.close()

    ctx, page = _session(browser, server, broker)
    page.goto(roadshow_url)
    table = page.locator("#meeting-table").inner_text()
    assert "有意向" in table and "无意向" in table
    page.screenshot(path=str(tmp_path / "schedule.png"), full_page=True)
    ctx.close()
