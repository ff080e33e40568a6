"""The main journey in a real headless browser (Debian's chromium, driven by Playwright):
a company posts a demand, a broker approves it, it appears publicly without contact details."""
from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server
from services import clock

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required for the browser tests in CI (make browser installs it)")
    pytest.skip("chromium not installed (make test installs Debian's chromium)", allow_module_level=True)


@pytest.fixture
def server(app):
    app.config.update(SERVER_NAME=None)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _login(page, base, email, password):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def test_company_posts_broker_approves_public_sees_no_contact(server, browser, make_user, tmp_path):
    from tests.conftest import PASSWORD
    company, broker = make_user("company", org="西安秦川新材料"), make_user("broker")
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, company.email, PASSWORD)
    page.goto(f"{server}/demands/new")
    page.fill("input[name=title]", "高镍三元正极材料循环寿命提升")
    page.fill("textarea[name=description]", "我司动力电池高镍正极循环衰减快，1000次循环后容量保持率不足80%，希望通过包覆改性提升寿命。")
    page.select_option("select[name=field_code]", "new_energy.battery")
    page.select_option("select[name=region]", "shaanxi")
    page.check("input[name=modes][value=joint]")
    page.fill("input[name=budget_min]", "50")
    page.fill("input[name=budget_max]", "20")  # wrong on purpose: max below min
    page.fill("input[name=deadline]", (clock.today() + timedelta(days=30)).isoformat())
    page.fill("input[name=contact_name]", "张工")
    page.fill("input[name=contact_phone]", "13800000001")
    page.fill("input[name=contact_email]", "e2e.canary@example.com")
    page.click("button[value=submit]")
    assert page.locator(".error").count() >= 1
    assert page.input_value("input[name=title]") == "高镍三元正极材料循环寿命提升"  # nothing typed is lost
    page.fill("input[name=budget_max]", "200")
    page.click("button[value=submit]")
    page.wait_for_url("**/demand/*")
    assert page.locator(".st-submitted").count() == 1
    page.screenshot(path=str(tmp_path / "company.png"))
    ctx.close()

    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, broker.email, PASSWORD)
    page.goto(f"{server}/review/")
    assert "高镍三元正极材料循环寿命提升" in page.content()
    page.click("text=高镍三元正极材料循环寿命提升")
    page.click(".review-form button.primary")
    page.wait_for_url("**/review/")
    ctx.close()

    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server}/")
    page.click("text=高镍三元正极材料循环寿命提升")
    content = page.content()
    assert "高镍三元正极材料循环寿命提升" in content
    assert "e2e.canary@example.com" not in content and "13800000001" not in content
    page.screenshot(path=str(tmp_path / "public.png"))
    ctx.close()
