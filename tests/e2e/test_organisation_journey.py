"""Organisation accounts in headless chromium (issue 21 part 3): a TTO manager invites a colleague, who opens the
link in another browser, creates the account and edits the office's listing; a confidential demand shows no company
name to a university until both sides accept the introduction."""
from __future__ import annotations

import re

import pytest

from tests.e2e.test_journey import _login, browser, server  # noqa: F401  (fixtures: chromium, the app on a port)

pytestmark = pytest.mark.e2e


def test_a_manager_invites_a_colleague_who_edits_the_offices_listing(server, browser, session, make_user,
                                                                     make_listing):
    from tests.conftest import PASSWORD

    manager = make_user("university", org="西北大学技术转移中心")
    item = make_listing("achievement", manager, status="draft")
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, manager.email, PASSWORD)
    page.goto(f"{server}/organisation/")
    page.fill("input[name=email]", "colleague@nwu.example.cn")
    page.click("text=生成邀请链接")
    page.wait_for_load_state()
    link = re.search(r"https?://\S+/organisation/join/[A-Za-z0-9_\-]+", page.content()).group(0)
    other = browser.new_context()
    guest = other.new_page()
    guest.goto(link)
    assert "西北大学技术转移中心" in guest.content()
    guest.fill("input[name=display_name]", "赵老师")
    guest.fill("input[name=password]", PASSWORD)
    guest.click("button[type=submit].primary")
    guest.wait_for_load_state()
    assert "赵老师" in guest.content() and "西北大学技术转移中心" in guest.content()
    guest.goto(f"{server}/achievements/{item.id}/edit")
    guest.fill("input[name=title]", "同事在浏览器中改过的标题")
    guest.select_option("select[name=rights_status]", "full")
    guest.click("button[name=intent][value=draft]")
    guest.wait_for_load_state()
    assert "同事在浏览器中改过的标题" in guest.content()
    page.goto(f"{server}/organisation/")
    assert "赵老师" in page.content()
    ctx.close()
    other.close()


def test_a_confidential_demand_hides_the_company_until_the_introduction_is_accepted(server, browser, session,
                                                                                     make_user, make_listing):
    from services import introductions
    from tests.conftest import PASSWORD

    broker = make_user("broker")
    company, uni = make_user("company", org="秦川绝密电池有限公司"), make_user("university")
    demand = make_listing("demand", company, reviewer=broker, confidential=True)
    achievement = make_listing("achievement", uni, reviewer=broker)
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, uni.email, PASSWORD)
    page.goto(f"{server}/demand/{demand.id}")
    assert "秦川绝密电池有限公司" not in page.content() and "保密企业" in page.locator("dd.company").inner_text()
    intro = introductions.request_introduction(session, uni, demand.id, achievement.id, "成果契合")
    introductions.accept(session, intro, company)
    session.commit()
    page.goto(f"{server}/demand/{demand.id}")
    assert "秦川绝密电池有限公司" in page.locator("dd.company").inner_text()
    ctx.close()
