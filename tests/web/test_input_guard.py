"""A NUL character (\\0) in any input is refused with a clear 400 and nothing is stored, on SQLite and on
PostgreSQL alike (PostgreSQL cannot store NUL in text: such input used to end in a 500 there)."""
from __future__ import annotations

import pytest

import io

from sqlalchemy import func, select

from models import ApiToken, Demand
from tests.conftest import demand_data

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

MESSAGE = "What you sent contains a NUL character (\\0), which no text may contain. Remove it and try again."


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_nul_in_a_query_string_is_refused_with_a_clear_message(client, zh):
    for url in ("/search/demand?q=%00", "/search/demand?field=%00&region=x", "/search/achievement?%00=1"):
        resp = client.get(url)
        assert resp.status_code == 400, url
        assert zh(MESSAGE) in resp.get_data(as_text=True)
    assert client.get("/search/demand?q=ok").status_code == 200


def test_nul_in_a_form_is_refused_and_nothing_is_saved(client, login_as, session):
    login_as("company")
    resp = client.submit("/account/tokens", {"name": "ERP\x00sync"})
    assert resp.status_code == 400 and _count(session, ApiToken) == 0
    resp = client.submit("/account/tokens", {"name": "ERP sync"})
    assert resp.status_code == 200 and _count(session, ApiToken) == 1


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
