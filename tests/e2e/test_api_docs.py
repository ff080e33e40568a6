"""/api/v1/docs in a real headless browser: Swagger UI starts under the site's Content-Security-Policy (no
inline script) and lists the API's operations, offline."""
from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

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


def test_api_docs_list_the_operations_under_the_csp(server, browser, tmp_path):
    ctx = browser.new_context()
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    offsite: list[str] = []
    page.on("request", lambda req: offsite.append(req.url) if not req.url.startswith((server, "data:")) else None)
    resp = page.goto(f"{server}/api/v1/docs")
    assert "script-src" not in resp.headers["content-security-policy"]  # the site's policy, not a looser one
    page.wait_for_selector(".opblock", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.strip().startswith("/api/v1/demands/") for p in paths)
    assert any(p.strip().startswith("/api/v1/achievements/") for p in paths)
    assert page.locator(".opblock-summary-method", has_text="PATCH").count() >= 2
    assert page.locator(".opblock").count() >= 15
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=True)
    ctx.close()
    assert not problems, problems  # a CSP violation is reported on the console as an error
    assert not offsite, offsite
