"""Times on pages read in the platform's clock (PLATFORM_TIMEZONE), not in the stored UTC: a broker in Xi'an
who got a notification at 01:30 on 2 March must not read "2026-03-01 17:30" (or the day before, for a date)."""
from __future__ import annotations

from datetime import datetime

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
