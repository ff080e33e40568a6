"""Open roadshow registration on PostgreSQL: 50 concurrent registrations for 10 seats give exactly 10 seats and a
waiting list of 40 in one strict order (READ COMMITTED; the roadshow row's lock serialises them)."""
from __future__ import annotations

from tests.services.test_roadshow_programme import check_race


def test_fifty_concurrent_registrations_for_ten_seats_on_postgresql(app, session, make_user):
    check_race(app, session, make_user, make_user("broker"))
