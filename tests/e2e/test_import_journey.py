"""Bulk import in a real headless browser: download the template, fill it, upload, preview, import."""
from __future__ import annotations

from openpyxl import load_workbook

from tests.e2e.test_journey import CHROMIUM, _login, browser, server  # noqa: F401  (fixtures)
from tests.web.test_imports_web import ACH_ROW

import pytest

pytestmark = pytest.mark.e2e


def test_university_imports_achievements_from_the_template(server, browser, make_user, tmp_path):  # noqa: F811
    from tests.conftest import PASSWORD
    user = make_user("university")
    page = browser.new_context(accept_downloads=True).new_page()
    _login(page, server, user.email, PASSWORD)
    page.goto(f"{server}/imports/")
    with page.expect_download() as info:
        page.click("a[href$='/imports/template.xlsx']")
    template = tmp_path / "template.xlsx"
    info.value.save_as(template)
    book = load_workbook(template)
    sheet = book.worksheets[0]
    headers = [str(c.value).rstrip("*") for c in sheet[1]]
    bad = dict(ACH_ROW, 名称="钠离子电池硬碳负极", 联系电话="12345")
    for row_no, row in ((3, ACH_ROW), (4, bad)):
        for col, header in enumerate(headers, start=1):
            sheet.cell(row=row_no, column=col, value=row.get(header))
    filled = tmp_path / "成果.xlsx"
    book.save(filled)
    page.set_input_files("input[type=file]", str(filled))
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert page.locator("#import-rows tr.ok").count() == 1 and page.locator("#import-rows tr.bad").count() == 1
    page.click("form[action$='/import'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#import-report").is_visible()
    page.goto(f"{server}/achievements/mine")
    assert "单晶高镍正极原子层沉积包覆技术" in page.content() and "钠离子电池硬碳负极" not in page.content()
