"""The service directory in headless chromium: a provider lists a pilot platform, a broker publishes it, a visitor
finds it in the directory without its contact, the demand that needs pilot production shows it on its match page,
the company asks for the contact and sees it once the provider accepted. No console error (CSP) on the way."""
from __future__ import annotations

import pytest

from tests.e2e.test_journey import _login, browser, server  # noqa: F401  (fixtures: chromium, the app on a port)

pytestmark = pytest.mark.e2e


def _watch(page, problems: list[str]) -> None:
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    page.on("pageerror", lambda err: problems.append(str(err)))


def test_a_visitor_finds_a_pilot_platform_and_the_matching_demand_shows_it(app, server, browser, make_user,
                                                                           make_listing, monkeypatch):
    from tests.chain_fixtures import no_index_sync
    from tests.conftest import PASSWORD

    no_index_sync(app, monkeypatch)
    provider, broker, company = make_user("provider"), make_user("broker"), make_user("company")
    demand = make_listing("demand", company, reviewer=broker, title="Micro LED巨量转移良率提升",
                          description="公司正在建设Micro LED显示模组中试线，希望引进巨量转移及快速检测修复技术。",
                          field_code="photonics.display", keywords="Micro LED,巨量转移", min_trl=None)
    problems: list[str] = []

    def page_of(user=None):
        page = browser.new_context().new_page()
        _watch(page, problems)
        if user is not None:
            _login(page, server, user.email, PASSWORD)
        return page

    # the provider lists its platform and submits it
    page = page_of(provider)
    page.goto(f"{server}/directory/new")
    page.select_option("select[name=kind]", "pilot")
    page.fill("input[name=name]", "西安光电显示中试平台")
    page.fill("textarea[name=description]", "Micro LED 巨量转移与检测修复中试线，提供试生产服务。")
    page.select_option("select[name=field_codes]", ["photonics.display"])
    page.select_option("select[name=region]", "shaanxi")
    page.fill("textarea[name=equipment]", "巨量转移设备、AOI检测")
    page.fill("input[name=capacity]", "月产能2000片；提前2周预约")
    page.fill("input[name=contact_name]", "王工")
    page.fill("input[name=contact_phone]", "029-88886666")
    page.fill("input[name=contact_email]", "pilot.canary@example.cn")
    page.click("form button[type=submit].primary")
    page.wait_for_load_state()
    assert "/directory/" in page.url
    entry_url = page.url
    page.click("form[action$='/submit'] button")
    page.wait_for_load_state()
    # a broker publishes it from the queue
    staff = page_of(broker)
    staff.goto(f"{server}/directory/review")
    staff.click("form[action$='/review/approve'] button")
    staff.wait_for_load_state()
    # a visitor finds it with the filters; no contact on its page
    visitor = page_of()
    visitor.goto(f"{server}/directory/")
    visitor.select_option("select[name=kind]", "pilot")
    visitor.fill("input[name=q]", "micro led")
    visitor.click("form.filters button[type=submit]")
    visitor.wait_for_load_state()
    visitor.click("text=西安光电显示中试平台")
    visitor.wait_for_load_state()
    assert visitor.url == entry_url
    body = visitor.inner_text("body")
    assert "巨量转移设备" in body and "pilot.canary@example.cn" not in body and "029-88886666" not in body
    # the company's demand needs pilot production: its match page shows the platform; it asks for the contact
    owner = page_of(company)
    owner.goto(f"{server}/matches/demand/{demand.id}")
    panel = owner.locator("section.providers-for-demand")
    assert "西安光电显示中试平台" in panel.inner_text()
    panel.locator("text=西安光电显示中试平台").click()
    owner.wait_for_load_state()
    owner.fill("textarea[name=message]", "想预约中试线")
    owner.click("form[action$='/contact'] button[type=submit]")
    owner.wait_for_load_state()
    assert "pilot.canary@example.cn" not in owner.inner_text("body")
    # the provider accepts; the company now sees the contact
    page.goto(f"{server}/directory/requests")
    page.click("form[action$='/accept'] button")
    page.wait_for_load_state()
    assert company.email in page.inner_text("body")
    owner.goto(entry_url)
    assert "pilot.canary@example.cn" in owner.inner_text("body")
    assert not problems, problems
