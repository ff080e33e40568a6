"""Which day it is is the platform's (PLATFORM_TIMEZONE), not the server's: a challenge whose deadline was
yesterday in Xi'an is closed, even on a server whose clock (UTC) still says yesterday."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from services import challenges, clock


def test_today_and_deadlines_follow_the_platform_zone(app):
    now = datetime.now(timezone.utc)
    # a zone whose date differs from UTC's right now: UTC+14 from 10:00 UTC on, UTC-12 before noon
    zone = "Etc/GMT-14" if now.hour >= 10 else "Etc/GMT+12"
    clock.configure(zone)
    try:
        here = datetime.now(ZoneInfo(zone)).date()
        assert clock.today() == here != datetime.now(timezone.utc).date()
        assert challenges.is_open(SimpleNamespace(status="open", deadline=here))
        assert not challenges.is_open(SimpleNamespace(status="open", deadline=here - timedelta(days=1)))
    finally:
        clock.configure(app.config["PLATFORM_TIMEZONE"])


def test_the_app_sets_the_platform_zone(app):
    assert clock.today() == datetime.now(ZoneInfo(app.config["PLATFORM_TIMEZONE"])).date()
