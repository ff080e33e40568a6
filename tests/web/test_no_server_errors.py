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
    # NUL characters are taken out before any form code runs (PostgreSQL cannot store them): an empty title
    resp = client.submit("/demands/new", dict(garbage, title="\x00" * 5))
    assert resp.status_code in (200, 422) and "\x00" not in resp.get_data(as_text=True)
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


# --- issue 18: the forms' field classes (web/forms.py), the error handler's safety net, the CLI ----------------------

from datetime import timedelta  # noqa: E402

from sqlalchemy import select  # noqa: E402

from tests.web.test_listing_forms import DEMAND_FORM  # noqa: E402

AMOUNT = "Enter an amount between 0 and 1,000,000 (in 10k yuan)."


@pytest.mark.parametrize("value", ["sNaN", "NaN", "-Infinity", "1e99999999999999999999", "1e999999999", "1e16"])
def test_amounts_that_are_not_finite_or_absurd_are_form_errors(client, login_as, zh, value):
    login_as("company")
    resp = client.submit("/demands/new", dict(DEMAND_FORM, budget_max=value))
    assert resp.status_code in (200, 422)
    page = resp.get_data(as_text=True)
    assert zh(AMOUNT) in page or zh("Enter a number, like 12.5.") in page


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1899-12-31"])
def test_dates_at_the_ends_of_the_calendar_are_form_errors(client, login_as, zh, value):
    login_as("company")
    resp = client.submit("/demands/new", dict(DEMAND_FORM, deadline=value))
    assert resp.status_code in (200, 422)
    assert zh("Enter a date between %(first)s and %(last)s.", first="1900-01-01", last="2999-12-31") in \
        resp.get_data(as_text=True)


@pytest.mark.model  # publishes listings or shows the statistics page: the index (the embedding model)
def test_a_cooperation_mode_sent_twice_counts_once(client, login_as, session):
    from models import Demand

    user = login_as("company")
    resp = client.submit("/demands/new", dict(DEMAND_FORM, modes=["joint", "joint", "commissioned", "joint"]))
    assert resp.status_code == 302
    demand = session.scalars(select(Demand).where(Demand.owner_id == user.id)).one()
    assert sorted(demand.modes) == ["commissioned", "joint"]


@pytest.mark.parametrize("value,message", [
    ("1.5", "Enter a whole number, using the digits 0 to 9."), ("١٢", "Enter a whole number, using the digits 0 to 9."),
    ("2147483648", "Enter a smaller number: at most %(max)s."), ("9" * 15, "Enter a smaller number: at most %(max)s."),
])
def test_whole_number_fields_refuse_fractions_other_digits_and_overflow(client, login_as, zh, value, message):
    login_as("broker")
    resp = client.submit("/reports/new", {"scope": "demand", "listing_id": value, "k": "5"})
    assert resp.status_code == 400  # the report form's answer to a form error
    assert zh(message, max=2147483647) in resp.get_data(as_text=True)
    resp = client.submit("/reports/new", {"scope": "batch", "k": value})
    assert zh(message, max=2147483647) in resp.get_data(as_text=True)


def test_wtforms_own_messages_speak_the_interface_language(client, login_as, zh):
    """WTForms' built-in choice and parse errors used to show English in the Chinese UI."""
    login_as("company")
    resp = client.submit("/demands/new", dict(DEMAND_FORM, field_code="nope", modes=["joint", "nope"],
                                              min_trl="10", budget_min="abc"))
    page = resp.get_data(as_text=True)
    assert zh("Choose one of the options in the list.") in page
    assert zh("“%(value)s” is not one of the options: choose from the list.", value="nope") in page
    assert zh("Enter a number, like 12.5.") in page
    for english in ("Not a valid choice", "is not a valid choice", "Not a valid decimal value", "could not coerce"):
        assert english not in page
    client.post("/lang/en", data={"csrf_token": client.token("/"), "next": "/"})
    page = client.submit("/demands/new", dict(DEMAND_FORM, field_code="nope")).get_data(as_text=True)
    assert "Choose one of the options in the list." in page


def test_an_introduction_between_ids_no_row_has_is_not_an_error(client, login_as):
    login_as("company")
    for demand_id in ("9223372036854775807", "2147483648", "-1", "1.5"):
        resp = client.submit("/introductions/request", {"demand_id": demand_id, "achievement_id": "1",
                                                        "reason": "理由"}, form_url="/introductions/")
        assert resp.status_code == 422 and "理由" in resp.get_data(as_text=True), demand_id  # the form, text kept


@pytest.fixture
def crash_probe(app, monkeypatch):
    """Test-only views whose own code lets a value out of range reach arithmetic or the database."""
    from datetime import date as day

    from models import Demand
    from web import policy
    from web.db import db

    @app.route("/_overflow/<what>", endpoint="overflow_probe")
    def overflow_probe(what: str):
        if what == "date":
            return str(day(9999, 12, 31) + timedelta(days=1))
        return str(db().get(Demand, 2**64))

    monkeypatch.setitem(policy.RULES, ("overflow_probe", "GET"), policy.Rule(policy.ALL_ROLES))


@pytest.mark.parametrize("what", ["date", "id"])
def test_a_value_out_of_range_that_slips_past_validation_is_a_400_not_a_500(client, crash_probe, zh, what):
    resp = client.get(f"/_overflow/{what}")
    assert resp.status_code == 400
    assert zh("A value you sent is out of range or cannot be stored (a number too large, a date too far off, or a "
              "character that is not text). Check what you entered and try again.") in resp.get_data(as_text=True)


def test_cli_text_options_refuse_control_characters_and_bytes_that_are_not_utf8(app):
    runner = app.test_cli_runner()
    for name in ("张\x01三", "bad\udcff"):  # a lone surrogate: what non-UTF-8 bytes in argv become
        result = runner.invoke(args=["users", "create", "--email", "cli@example.com", "--name", name,
                                     "--role", "broker", "--password", "long-enough-password"])
        assert result.exit_code == 2 and "control character" in result.output, result.output
    result = runner.invoke(args=["users", "create", "--email", "cli@example.com", "--name", "张三",
                                 "--role", "broker", "--password", "long-enough-password-2026"])
    assert result.exit_code == 0, result.output
