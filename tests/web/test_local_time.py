"""Times on pages read in the platform's clock (PLATFORM_TIMEZONE), not in the stored UTC: a broker in Xi'an
who got a notification at 01:30 on 2 March must not read "2026-03-01 17:30" (or the day before, for a date)."""
from __future__ import annotations

from datetime import datetime

import pytest

from models import Notification
from services import notifications
from web.i18n import local_time


def test_the_filter_converts_stored_utc_to_the_platform_clock(app):
    stored = datetime(2026, 3, 1, 17, 30)  # naive, as every stored time is: UTC
    with app.test_request_context("/"):
        app.config["PLATFORM_TIMEZONE"] = "Asia/Shanghai"
        assert local_time(stored) == "2026-03-02 01:30"
        assert local_time(stored, "%Y-%m-%d") == "2026-03-02"
        assert local_time(None) == ""
        app.config["PLATFORM_TIMEZONE"] = "UTC"
        assert local_time(stored) == "2026-03-01 17:30"


def test_a_notification_shows_its_time_in_the_platform_clock(app, client, session, make_user, login):
    app.config["PLATFORM_TIMEZONE"] = "Asia/Shanghai"
    user = make_user("company")
    note = notifications.notify(session, user.id, "listing_approved", {"title": "时间测试", "kind": "demand",
                                                                         "id": 1})
    assert isinstance(note, Notification)
    note.created_at = datetime(2026, 3, 1, 17, 30)
    session.commit()
    login(user)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "2026-03-02 01:30" in page and "2026-03-01 17:30" not in page


def test_day_range_is_the_platform_days_in_stored_utc():
    from datetime import date
    from zoneinfo import ZoneInfo

    from services.audit import day_range

    shanghai = ZoneInfo("Asia/Shanghai")
    assert day_range(date(2026, 3, 2), date(2026, 3, 2), shanghai) == (datetime(2026, 3, 1, 16), datetime(2026, 3, 2, 16))
    assert day_range(None, date.max, shanghai) == (None, None)  # the calendar's last day: no end
    assert day_range(date.min, None, shanghai) == (None, None)  # its first day, east of UTC: no start
    assert day_range(date(2026, 3, 2), None, ZoneInfo("UTC")) == (datetime(2026, 3, 2), None)


@pytest.mark.model  # publishing encodes the listing
def test_date_filters_take_the_days_the_pages_show(app, client, session, make_user, make_listing):
    """A demand published at 04:00 on 2 March in Shanghai (20:00 on 1 March UTC) is on 2 March for a
    since/until filter, as its card shows, on the search page and in the API."""
    app.config["PLATFORM_TIMEZONE"] = "Asia/Shanghai"
    demand = make_listing("demand", make_user("company"), reviewer=make_user("broker"), title="时区边界的需求：凌晨发布")
    demand.published_at = datetime(2026, 3, 1, 20, 0)
    session.commit()

    def found(**query):
        page = client.get("/search/demand", query_string=query).get_data(as_text=True)
        api = client.get("/api/v1/demands/", query_string=query).get_json()
        listed = demand.id in [i["id"] for i in api["items"]]
        assert ("时区边界的需求" in page) == listed, query
        return listed

    assert found(since="2026-03-02", until="2026-03-02")
    assert not found(until="2026-03-01")
    assert not found(since="2026-03-03")
    app.config["PLATFORM_TIMEZONE"] = "UTC"
    assert found(until="2026-03-01") and not found(since="2026-03-02")


def test_stored_report_parameters_of_another_version_still_load():
    """A batch queued by a version without `zone` (or a later one with more keys) runs under this one."""
    from services.reports import ReportParams, _params_from

    old = {"scope": "batch", "listing_id": None, "k": 10, "field": "", "region": "", "since": "2026-03-02",
           "until": None}
    assert _params_from(old).zone == "UTC" and _params_from(old).since.isoformat() == "2026-03-02"
    newer = dict(ReportParams(scope="batch", zone="Asia/Shanghai").as_json(), ranker="v9")
    assert _params_from(newer).zone == "Asia/Shanghai"
