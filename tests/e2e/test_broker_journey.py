"""The broker's journey in a real headless browser: run a report -> record feedback -> introduce ->
advance the opportunity to a signed contract -> the amount shows in the statistics."""
from __future__ import annotations


import pytest

from tests.e2e.test_journey import CHROMIUM, _login, browser, server  # noqa: F401  (fixtures)
from services import clock

pytestmark = pytest.mark.e2e
assert CHROMIUM


def test_report_feedback_introduce_sign_and_statistics(server, browser, make_user, make_listing, tmp_path):
    from tests.conftest import PASSWORD
    company, uni, uni2 = make_user("company", org="秦川电池"), make_user("university", org="秦岭理工大学"), \
        make_user("university", org="江南农业大学")
    broker = make_user("broker")
    demand = make_listing("demand", company, reviewer=broker)
    make_listing("achievement", uni, reviewer=broker)
    make_listing("achievement", uni2, reviewer=broker, title="水稻抗稻瘟病分子育种技术",
                 abstract="利用分子标记辅助选择将抗稻瘟病基因聚合到优良水稻品种中，田间抗性显著提高，产量稳定。",
                 field_code="agriculture.breeding", keywords="水稻,抗病育种,分子标记")
    page = browser.new_context().new_page()
    _login(page, server, broker.email, PASSWORD)

    page.click("nav >> text=撮合报告")
    page.click("text=生成新报告")
    page.select_option("select[name=scope]", "demand")
    page.fill("input[name=listing_id]", str(demand.id))
    page.fill("input[name=k]", "5")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/reports/*")
    first = page.locator("article.pair").first
    assert "单晶高镍正极原子层沉积包覆技术" in first.inner_text()
    assert "canary.achievement@example.cn" not in page.content()

    # the second pair is not relevant; the first one is introduced
    second = page.locator("article.pair").nth(1)
    second.locator("select[name=outcome]").select_option("not_relevant")
    second.locator("form.feedback button").click()
    page.wait_for_load_state()
    assert page.locator(".flash.success").count() == 1
    first = page.locator("article.pair").first
    first.locator("select[name=outcome]").select_option("introduce")
    first.locator("form.feedback button").click()
    page.wait_for_load_state()
    assert "推荐对接" in page.locator("article.pair").first.inner_text()

    page.click("nav >> text=商机")
    page.click("text=高镍三元正极材料循环寿命提升")
    for _ in range(3):
        page.click("form button[name=to]")
        page.wait_for_load_state()
    page.select_option("select[name=contract_type]", "transfer")
    page.fill("input[name=amount]", "-5")  # a negative amount: a clear message (non-numbers: test_pipeline_web)
    page.fill("input[name=signed_on]", clock.today().isoformat())
    page.click("text=合同已签订")
    page.wait_for_load_state()
    assert "请输入 0 至 1,000,000 之间的金额（单位：万元）。" in page.locator("p.error").first.inner_text()
    assert page.locator("select[name=contract_type]").input_value() == "transfer"  # nothing lost
    assert page.locator(".stage").get_attribute("data-stage") == "negotiating"
    page.fill("input[name=amount]", "120.5")
    page.fill("input[name=signed_on]", clock.today().isoformat())
    page.click("text=合同已签订")
    page.wait_for_load_state()
    assert page.locator(".stage").get_attribute("data-stage") == "signed"

    page.click("nav >> text=统计")
    contracts = page.locator("#contracts").inner_text()
    assert "技术转让" in contracts and "120.5" in contracts
    funnel = page.locator("#funnel").inner_text()
    assert "合同已签订" in funnel
    page.screenshot(path=str(tmp_path / "statistics.png"), full_page=True)
