"""The import, export, token, notification and API routes answer odd input without a server error."""
from __future__ import annotations

import pytest

GETS = ["/imports/", "/imports/template.xlsx", "/imports/0", "/imports/999999", "/imports/99999999999999999999",
        "/imports/1/rejects.pdf", "/imports/abc", "/export/search/demand.csv?budget=abc&since=2026-99-99",
        "/export/search/achievement.xlsx?max_price=-1&stage=x", "/export/search/x.csv", "/export/mine.xlsx",
        "/export/mine.doc", "/account/tokens", "/notifications/", "/notifications/settings",
        "/notifications/unsubscribe/%00", "/notifications/unsubscribe/eyJ1Ijo5OTk5LCJ0IjoieCJ9.bad",
        "/api/v1/demands/?page=-1&per_page=0", "/api/v1/achievements/?since=yesterday",
        "/api/v1/demands/99999999999", "/api/v1/jobs/1", "/api/v1/docs", "/api/v1/openapi.json",
        "/api/v1/reports/99999999999", "/api/v1/reports/?page=x", "/api/v1/feedback/?demand_id=x",
        "/api/v1/roadshows/0", "/api/v1/roadshows/?per_page=1000"]
POSTS = ["/imports/", "/imports/1/import", "/account/tokens", "/account/tokens/1/revoke", "/notifications/1/read",
         "/notifications/read-all", "/notifications/settings"]


@pytest.mark.parametrize("role", [None, "company", "university", "broker", "admin"])
def test_no_server_errors(client, login_as, role):
    if role:
        login_as(role)
    for url in GETS:
        status = client.get(url).status_code
        assert status < 500, f"GET {url} gave {status} for {role}"
    form_url = "/account/tokens" if role else "/login"  # a page whose CSRF token the POST carries
    for url in POSTS:
        for data in ({"name": "x" * 500, "file": "not a file"}, {"name": "\x00", "include_duplicates": "maybe"}):
            status = client.submit(url, data, form_url=form_url).status_code
            assert status < 500, f"POST {url} gave {status} for {role}"
