"""The advisory panel (科技顾问团, issue 21) in headless chromium: a broker forms a panel (a conflicting advisor is
refused with the reason), three advisors score, the owner sees the summary and the report PDF carries it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.test_journey import _login, browser, server  # noqa: F401  (fixtures: chromium, the app on a port)
from services import clock

pytestmark = pytest.mark.e2e
EXPERTS = [("scientist", "锂离子电池正极材料与原子层沉积包覆", "浏览器电池大学", "university"),
           ("entrepreneur", "动力电池制造与中试放大", "浏览器电池公司", "company"),
           ("investor", "新能源硬科技早期投资与估值", "浏览器创投", "company"),
           ("scientist", "高镍正极材料", "浏览器材料研究院", "university")]  # the achievement's own organisation


def test_a_broker_forms_a_panel_three_advisors_score_the_owner_and_the_report_see_it(
        server, browser, session, make_user, make_listing):
    from sqlalchemy import select

    from models import Panel
    from services import panels
    from tests.conftest import PASSWORD
    from tests.services.test_pdf import pdf_text
    from tests.web.test_panels_web import _report_with

    admin, broker = make_user("admin"), make_user("broker")
    owner = make_user("university", org="浏览器材料研究院")
    achievement = make_listing("achievement", owner, reviewer=broker)
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    advisors = [panels.create_advisor(session, admin, {
        "display_name": f"浏览器顾问{n}", "email": f"e2e.advisor{n}@example.com", "password": PASSWORD,
        "perspective": perspective, "expertise": expertise, "fields": "新能源", "organisation_name": org,
        "organisation_kind": kind}) for n, (perspective, expertise, org, kind) in enumerate(EXPERTS, 1)]
    session.commit()

    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, broker.email, PASSWORD)
    page.goto(f"{server}/panels/new?achievement={achievement.id}")
    for profile in advisors:
        page.check(f"input[name=advisor_ids][value='{profile.user_id}']")
    page.fill("input[name=deadline]", (clock.today() + timedelta(days=5)).isoformat())
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert "浏览器顾问4" in page.content() and "利益冲突" in page.content()  # refused with the reason
    session.expire_all()
    assert session.scalars(select(Panel)).all() == []
    page.uncheck(f"input[name=advisor_ids][value='{advisors[3].user_id}']")
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    panel = session.scalars(select(Panel)).one()
    assert f"/panels/{panel.id}" in page.url

    for n, profile in enumerate(advisors[:3]):
        actx = browser.new_context()
        apage = actx.new_page()
        _login(apage, server, profile.user.email, PASSWORD)
        apage.goto(f"{server}/panels/mine")
        apage.click(f"text={achievement.title}")
        apage.select_option("select[name=tech_score]", "4")
        apage.select_option("select[name=market_score]", str(3 + n))
        apage.select_option("select[name=value_score]", "4")
        apage.fill("textarea[name=comment]", f"浏览器评语{n}")
        if profile.perspective == "investor":
            apage.fill("input[name=value_min]", "300")
            apage.fill("input[name=value_max]", "600")
        apage.click("button[type=submit].primary")
        apage.wait_for_load_state()
        assert "/panels/mine" in apage.url
        actx.close()

    octx = browser.new_context()
    opage = octx.new_page()
    _login(opage, server, owner.email, PASSWORD)
    opage.goto(f"{server}/panels/{panel.id}")
    text = opage.content()
    assert "4.0 / 5" in text and "3 / 3" in text and "300–600" in text and "浏览器评语0" in text
    assert "浏览器顾问1" not in text  # the owner sees the summary, not who said what
    octx.close()

    report = _report_with(session, broker, demand, achievement)
    pdf = ctx.request.get(f"{server}/reports/{report.id}.pdf")
    assert pdf.status == 200
    body = pdf_text(pdf.body())
    assert "科技顾问团评议" in body and "技术前景4.0" in body and "300~600万元" in body
    ctx.close()
