"""/api/v1/docs in a real headless browser: Swagger UI starts under the site's Content-Security-Policy (no
inline script) and lists the API's operations, offline."""
from __future__ import annotations

import pytest

from tests.e2e.test_journey import browser, server  # noqa: F401  (fixtures: chromium, the app on a port)

pytestmark = pytest.mark.e2e


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
