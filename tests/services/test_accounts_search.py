"""The admin's user search: % and _ are literal characters, and case does not matter (SQLite and PostgreSQL)."""
from __future__ import annotations

from services import accounts


def test_user_search_takes_wildcards_literally_and_ignores_case(session, make_user):
    underscore = make_user("broker", email="li_wei@example.com")
    make_user("broker", email="lixwei@example.com")
    percent = make_user("broker", email="pct100%off@example.com")
    make_user("broker", email="pct100xoff@example.com")
    session.commit()
    assert [u.id for u in accounts.list_users(session, q="li_wei")] == [underscore.id]
    assert [u.id for u in accounts.list_users(session, q="100%")] == [percent.id]
    assert [u.id for u in accounts.list_users(session, q="  LI_WEI@EXAMPLE ")] == [underscore.id]
    assert len(accounts.list_users(session, q="broker user")) == 4  # display names
