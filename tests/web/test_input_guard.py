"""A NUL character (\\0) in any input is refused with a clear 400 and nothing is stored, on SQLite and on
PostgreSQL alike (PostgreSQL cannot store NUL in text: such input used to end in a 500 there)."""
from __future__ import annotations

import pytest

import io
import re

from sqlalchemy import func, select

from models import ApiToken, Demand
from tests.conftest import demand_data

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

MESSAGE = "What you sent contains a NUL character (\\0), which no text may contain. Remove it and try again."


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_nul_in_a_query_string_value_is_taken_out_and_in_a_name_refused(client, zh):
    for url in ("/search/demand?q=%00", "/search/demand?field=%00&region=x"):
        resp = client.get(url)
        assert resp.status_code == 200 and zh(CLEANED) in resp.get_data(as_text=True), url
    resp = client.get("/search/achievement?%00=1")  # a name no form has: refused, as are the API's
    assert resp.status_code == 400 and zh(MESSAGE) in resp.get_data(as_text=True)
    assert zh(CLEANED) not in client.get("/search/demand?q=ok").get_data(as_text=True)


def test_nul_in_a_form_is_taken_out_and_the_rest_is_saved(client, login_as, session, zh):
    login_as("company")
    resp = client.submit("/account/tokens", {"name": "ERP\x00sync"})
    assert resp.status_code == 200 and _count(session, ApiToken) == 1
    assert session.scalar(select(ApiToken.name)) == "ERPsync"
    assert zh(CLEANED) in resp.get_data(as_text=True)


def test_nul_in_a_password_is_refused_not_changed(client, session, zh):
    resp = client.submit("/login", {"email": "nobody@example.com", "password": "secret\x00word"})
    assert resp.status_code == 400 and zh(MESSAGE) in resp.get_data(as_text=True)


def test_nul_in_an_upload_name_is_refused(client, login_as):
    login_as("company")
    data = {"file": (io.BytesIO(b"title\n"), "demands\x00.csv")}
    resp = client.submit("/imports/", data, content_type="multipart/form-data")
    assert resp.status_code == 400


def test_nul_in_an_api_json_body_is_a_json_400_in_the_callers_language(app, session, make_user):
    from services import tokens

    api_client = app.test_client()

    user = make_user("company")
    _row, clear = tokens.create_token(session, user, "test")
    session.commit()
    body = demand_data(title="高镍正极\x00寿命")
    body["deadline"] = body["deadline"].isoformat()
    headers = {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}
    resp = api_client.post("/api/v1/demands/", json=body, headers=headers)
    assert resp.status_code == 400
    assert resp.get_json() == {"code": "nul_character", "message": MESSAGE}
    assert _count(session, Demand) == 0
    body["title"] = "高镍正极寿命"
    assert api_client.post("/api/v1/demands/", json=body, headers=headers).status_code == 201


# --- issue 18: one rule for every input (web/input_guard.py) --------------------------------------------------------

CONTROL = ("“%(field)s” contains an invisible control character (U+%(code)s), which no text may contain; it often "
           "comes with text copied from another program. Remove it and try again.")
CLEANED = ("Invisible control characters (they often come with text copied from another program) were taken out of "
           "what you typed. Check the text before you go on.")
NOT_A_NUMBER = "“%(field)s” is not a number: use the digits 0 to 9."
TOO_LARGE = "“%(field)s” is a number too large for any field here."


def _api(app, session, make_user, role="company"):
    from services import tokens

    user = make_user(role)
    _row, clear = tokens.create_token(session, user, "test")
    session.commit()
    return app.test_client(), {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}


def _demand_body(**over):
    body = demand_data(**over)
    body["deadline"] = str(body["deadline"])
    return body


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x85", "\x9f", "\ufffe", "\uffff"])
def test_control_characters_in_a_form_are_taken_out_and_the_reader_told(client, login_as, session, zh, char):
    """Text pasted from another program may carry an invisible control character: the form is kept, without it,
    and the page says so (a 400 here used to throw the whole typed form away)."""
    login_as("company")
    resp = client.submit("/account/tokens", {"name": f"ERP{char}sync"})
    assert resp.status_code == 200 and _count(session, ApiToken) == 1
    assert session.scalar(select(ApiToken.name)) == "ERPsync"
    assert zh(CLEANED) in resp.get_data(as_text=True)
    assert zh(CLEANED) not in client.get("/account/tokens").get_data(as_text=True)  # told once


def test_a_form_refused_for_another_reason_is_drawn_again_without_the_control_characters(client, login_as, session,
                                                                                        zh):
    login_as("company")
    resp = client.submit("/demands/new", {"title": "高镍\x1b正极", "description": ""})
    page = resp.get_data(as_text=True)
    assert resp.status_code in (200, 422) and "高镍正极" in page and _count(session, Demand) == 0
    assert zh(CLEANED) in page


def test_tab_newline_and_other_unicode_are_text(client, login_as, session):
    login_as("company")
    resp = client.submit("/account/tokens", {"name": "ERP\tsync\u2028 Ω² 😀"})
    assert resp.status_code == 200 and _count(session, ApiToken) == 1


def test_control_characters_in_a_pages_query_string_are_taken_out_and_in_the_apis_refused(client, zh):
    resp = client.get("/search/demand?q=%E9%AB%98%C2%85")  # 高 + U+0085 (NEL), as a browser encodes them
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and zh(CLEANED) in page and 'value="高"' in page
    resp = client.get("/api/v1/demands/?q=%E9%AB%98%C2%85", headers={"Accept-Language": "en"})
    assert resp.status_code == 400 and resp.get_json()["code"] == "control_character"
    assert client.get("/search/demand?q=%ED%A0%80").status_code == 200  # bytes that are not UTF-8: plain text


def test_lone_surrogates_in_api_json_are_refused_and_nothing_is_saved(app, session, make_user):
    api, headers = _api(app, session, make_user)
    for title in ("高镍\ud800正极寿命", "高镍正极\udfff寿命"):
        resp = api.post("/api/v1/demands/", json=_demand_body(title=title), headers=headers)
        assert resp.status_code == 400 and resp.get_json()["code"] == "control_character", title
    resp = api.post("/api/v1/demands/", json={**_demand_body(), "\ud83d": "x"}, headers=headers)
    assert resp.status_code == 400  # in a key too
    assert _count(session, Demand) == 0


def _left_out(zh, message: str, **kw) -> str:
    return zh("%(problem)s This filter was left out.", problem=zh(message, **kw))


@pytest.mark.parametrize("value", ["²", "①", "٣²", "𝟚²"])
def test_digits_int_cannot_read_are_left_out_of_a_page_with_a_message(client, login_as, zh, value):
    login_as("admin")
    resp = client.get(f"/admin/audit?actor={value}")  # the audit filter reads a user id from digits
    assert resp.status_code == 200 and _left_out(zh, NOT_A_NUMBER, field="actor") in resp.get_data(as_text=True)
    assert client.get("/search/demand?page=" + value).status_code == 200
    resp = client.get(f"/api/v1/demands/?page={value}", headers={"Accept-Language": "en"})
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_number"  # a program is told to fix it


def test_decimal_digits_of_other_scripts_read_as_numbers(client, login_as):
    login_as("admin")
    assert client.get("/admin/audit?actor=١٢").status_code == 200  # Arabic-Indic 12: int() reads it
    assert client.get("/search/demand?page=١").status_code == 200


@pytest.mark.parametrize("value", ["9" * 20, str(2**63), "-" + "9" * 25, "1" + "0" * 5000])
def test_whole_numbers_beyond_64_bits_are_left_out_of_any_page_query(client, login_as, zh, value):
    login_as("admin")
    resp = client.get(f"/admin/audit?actor={value}")
    assert resp.status_code == 200 and _left_out(zh, TOO_LARGE, field="actor") in resp.get_data(as_text=True)


@pytest.mark.parametrize("value", ["9" * 20, str(2**63), "-" + "9" * 25])
def test_a_huge_number_in_a_form_is_answered_on_the_form_with_what_was_typed(client, login_as, session, value):
    """A numeric field refuses it itself (the form comes back, typed text kept, nothing saved); a text field
    holds digits as text (an API token named by a number)."""
    login_as("company")
    data = {"title": "大数字预算的需求", "description": "描述" * 20, "field_code": "new_energy.battery",
            "region": "shaanxi", "modes": ["joint"], "budget_min": value, "min_trl": "4",
            "contact_name": "张工", "contact_phone": "13800000001", "contact_email": "a@example.com"}
    resp = client.submit("/demands/new", data)
    page = resp.get_data(as_text=True)
    assert resp.status_code in (200, 422) and "大数字预算的需求" in page and value in page
    assert _count(session, Demand) == 0
    assert client.submit("/account/tokens", {"name": value}).status_code in (200, 302)
    assert session.query(ApiToken).filter_by(name=value).count() == 1


def test_whole_numbers_beyond_64_bits_in_json_are_refused(app, session, make_user):
    api, headers = _api(app, session, make_user)
    resp = api.post("/api/v1/demands/", json=_demand_body(min_trl=2**64), headers=headers)
    assert resp.status_code == 400 and resp.get_json()["code"] == "number_too_large"


@pytest.mark.parametrize("query", ["page=2147483648", "page=99999999999999", "per_page=9999999999",
                                   "demand_id=3000000000"])
def test_page_numbers_and_ids_beyond_a_database_integer_are_left_out(client, query, zh):
    resp = client.get(f"/search/demand?q=电池&{query}")
    page = resp.get_data(as_text=True)
    name = query.split("=")[0]
    assert resp.status_code == 200 and 'value="电池"' in page  # the search itself is kept
    assert _left_out(zh, "“%(field)s” must be a whole number from 1 to %(max)s.", field=name, max=2147483647) in page
    assert client.get(f"/api/v1/demands/?{query}").status_code == 400


@pytest.mark.parametrize("value", ["inf", "-Infinity", "nan", "1e999", "1e13"])
def test_amount_filters_that_are_not_finite_or_absurd_are_left_out(client, zh, value):
    resp = client.get(f"/search/demand?budget={value}")
    assert resp.status_code == 200
    assert _left_out(zh, "“%(field)s” is an amount in 10k yuan: a number from 0 to 1,000,000.", field="budget") in \
        resp.get_data(as_text=True)
    assert client.get("/search/achievement?max_price=120.5").status_code == 200


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "99991231", "1899-12-31", "3000-01-01",
                                   "9999-12-31T23:59:59"])
def test_dates_at_the_ends_of_the_calendar_are_left_out_of_pages_and_refused_in_downloads(client, login_as, zh,
                                                                                          value):
    login_as("admin")
    message = _left_out(zh, "“%(field)s” must be a date between %(first)s and %(last)s.", field="until",
                        first="1900-01-01", last="2999-12-31")
    for url in (f"/search/demand?until={value}", f"/admin/audit?until={value}"):
        resp = client.get(url)
        assert resp.status_code == 200 and message in resp.get_data(as_text=True), url
    resp = client.get(f"/export/search/demand.csv?until={value}")  # no page to say it on: refused, as before
    assert resp.status_code == 400
    assert zh("“%(field)s” must be a date between %(first)s and %(last)s.", field="until", first="1900-01-01",
              last="2999-12-31") in resp.get_data(as_text=True)
    assert client.get("/search/demand?until=2999-12-31&since=1900-01-01").status_code == 200


# --- the API's bodies: JSON, not too deep, not an empty change (web/api/core.py) ----------------------------------

def test_a_body_that_is_not_json_is_415_and_changes_nothing(app, session, make_user, make_listing):
    api, headers = _api(app, session, make_user)
    owner = session.get(type(make_user("company")), 1)
    item = make_listing("demand", owner, status="draft")
    from services import tokens
    _row, clear = tokens.create_token(session, owner, "owner")
    session.commit()
    headers = {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}
    for data, kind in [("title=改过的标题很长", "application/x-www-form-urlencoded"), ("title: x", "text/plain"),
                       ("<a/>", "application/xml")]:
        resp = api.patch(f"/api/v1/demands/{item.id}", data=data, content_type=kind, headers=headers)
        assert resp.status_code == 415 and resp.get_json()["code"] == "unsupported_media_type", kind
        assert "Content-Type: application/json" in resp.get_json()["message"]
    resp = api.patch(f"/api/v1/demands/{item.id}", headers=headers)  # no body at all: not "no change"
    assert resp.status_code == 400 and resp.get_json()["code"] == "body_required"
    session.expire_all()
    assert session.get(Demand, item.id).title == demand_data()["title"]
    resp = api.patch(f"/api/v1/demands/{item.id}", json={"title": "改过的标题：高镍正极寿命"}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["title"] == "改过的标题：高镍正极寿命"


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40,
                                 b'{"title": NaN}', b'{"title": Infinity}', b'{"title": "x",', b"\xff\xfe{}"])
def test_json_too_deep_or_not_json_is_a_clear_400(app, session, make_user, raw):
    api, headers = _api(app, session, make_user)
    resp = api.post("/api/v1/demands/", data=raw, content_type="application/json", headers=headers)
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_json"
    assert _count(session, Demand) == 0


def test_deep_json_to_an_endpoint_without_a_body_is_refused_too(app, session, make_user, make_listing):
    api, headers = _api(app, session, make_user)
    resp = api.post("/api/v1/demands/1/submit", data=b"[" * 50_000 + b"]" * 50_000,
                    content_type="application/json", headers=headers)
    assert resp.status_code == 400


def test_fractions_are_not_whole_numbers_and_repeats_count_once_in_the_api(app, session, make_user):
    api, headers = _api(app, session, make_user)
    for value in (4.5, "4.5", True, "٤", "1e1"):
        resp = api.post("/api/v1/demands/", json=_demand_body(min_trl=value), headers=headers)
        assert resp.status_code == 422 and "min_trl" in resp.get_json()["errors"], value
    resp = api.post("/api/v1/demands/", json=_demand_body(deadline="9999-12-31"), headers=headers)
    assert resp.status_code == 422 and resp.get_json()["errors"]["deadline"] == ["The value is out of range."]
    resp = api.get("/api/v1/demands/?page=1.5", headers=headers)
    assert resp.status_code == 422
    resp = api.post("/api/v1/demands/", json=_demand_body(min_trl=4.0, modes=["joint", "joint", "license"]),
                    headers=headers)
    assert resp.status_code == 201
    assert resp.get_json()["min_trl"] == 4 and sorted(resp.get_json()["modes"]) == ["joint", "license"]


def test_a_password_of_many_digits_is_a_password_not_a_number(client, session):
    from services import accounts

    secret = "7391046285730194628503917²"  # digits beyond 64 bits, and one int() cannot read
    user = accounts.create_user(session, email="digits@example.com", password=secret, display_name="d",
                                role="broker")
    session.commit()
    resp = client.submit("/login", {"email": user.email, "password": secret})
    assert resp.status_code == 302


def test_a_pages_own_links_carry_the_query_as_read_and_downloads_refuse_what_pages_leave_out(client, login_as, zh):
    login_as("admin")
    page = client.get("/search/demand?q=电池&since=0001-01-01").get_data(as_text=True)
    links = re.findall(r'href="(/export/search/demand\.(?:csv|xlsx)[^"]*)"', page)
    assert links and all("0001" not in link and "q=%E7%94%B5%E6%B1%A0" in link for link in links)
    assert client.get(links[0].replace("&amp;", "&")).status_code == 200  # the list the page showed
    # a download has no page to say "left out" on: refused, and no notice waits for a later page
    for url in ("/export/search/demand.csv?q=a%01b", "/caseload/?format=csv&broker=" + "9" * 20,
                "/export/search/demand.csv?since=0001-01-01"):
        assert client.get(url).status_code == 400, url
    later = client.get("/search/demand?q=ok").get_data(as_text=True)
    assert zh(CLEANED) not in later and zh("%(problem)s This filter was left out.", problem="").strip() not in later


def test_a_return_path_is_encoded_and_stays_on_the_site(app):
    from web.i18n import request_path, safe_path

    with app.test_request_context("/%5Cevil.example/x?a=1"):
        assert request_path() == "/%5Cevil.example/x?a=1" and safe_path(request_path())
    for path in ("//evil.example/", "/\\evil.example/", "/a\tb", "http://evil.example/"):
        assert not safe_path(path), path
    assert safe_path("/search/demand?q=%E7%94%B5%E6%B1%A0")
