"""No input produces a 500: odd ids, kinds, query strings and form bodies on every route."""
from __future__ import annotations

import re

import pytest

GETS = ["/", "/search/demand?page=abc&budget=-1&since=2026-13-45&until=x&field=%00&region=' OR 1=1 --",
        "/search/achievement?max_price=1e999&stage=nope&mode=<script>", "/search/other", "/demand/999999",
        "/achievement/0", "/gadget/1", "/matches/demand/999999", "/matches/nope/1", "/review/", "/admin/users?role=x",
        "/admin/fields/999999/edit", "/demands/999999/edit", "/achievements/mine", "/demands/mine", "/dashboard",
        "/register", "/login?next=javascript:alert(1)", "/static/../config.py"]


@pytest.mark.parametrize("role", [None, "company", "university", "broker", "admin"])
def test_no_get_route_errors_for_any_role(client, login_as, role):
    if role:
        login_as(role)
    for url in GETS:
        status = client.get(url).status_code
        assert status < 500, f"{url} gave {status} for {role}"


def test_garbage_form_bodies_are_answered_not_crashed(client, login_as):
    login_as("company")
    garbage = {"title": "\u200b" * 5, "budget_min": "NaN", "budget_max": "Infinity", "deadline": "31/12/2026",
               "min_trl": "99", "modes": ["x", "y"], "field_code": "'; DROP TABLE demands; --", "intent": "submit"}
    resp = client.submit("/demands/new", garbage)
    assert resp.status_code in (200, 422)
    # a NUL character is refused before any form code runs (PostgreSQL cannot store it)
    assert client.submit("/demands/new", dict(garbage, title="\x00" * 5)).status_code == 400
    for url in ("/demands/1/explode", "/review/demand/1/approve", "/admin/users/1/role"):
        assert client.submit(url, {}, form_url="/demands/mine").status_code < 500



HUGE = "9" * 30  # beyond any database integer: SQLite raises OverflowError if such an id reaches a query


def _id_routes(app) -> list[str]:
    """Every GET route whose arguments are all `<int:...>` ids, filled with HUGE."""
    from app import IdConverter

    urls = []
    for rule in app.url_map.iter_rules():
        converters = rule._converters  # werkzeug keeps each argument's converter here
        if "GET" in (rule.methods or ()) and rule.arguments and all(
                isinstance(converters[a], IdConverter) for a in rule.arguments):
            urls.append(re.sub(r"<int(\([^)]*\))?:[a-z_]+>", HUGE, rule.rule))
    return urls


@pytest.mark.parametrize("role", [None, "company", "broker", "admin"])
def test_ids_beyond_a_database_integer_are_not_found_on_every_id_route(app, client, login_as, role):
    if role:
        login_as(role)
    urls = _id_routes(app)
    assert len(urls) > 15 and all(HUGE in url for url in urls)
    for url in urls:
        status = client.get(url).status_code
        assert status in (302, 401, 403, 404), f"{url} gave {status} for {role}"
