"""The platform's calendar: which day it is where the platform is (PLATFORM_TIMEZONE), whatever the server's own
zone. A challenge whose deadline is 7 March closes at midnight in Xi'an, not eight hours later on a UTC server.
The app sets the zone at start-up (web/i18n.py); until then, as in a script without the app, it is the server's."""
from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo

_zone: Optional[tzinfo] = None


def configure(zone_name: str) -> None:
    """Use this IANA zone (the app's PLATFORM_TIMEZONE, checked at start-up) for today()."""
    global _zone
    _zone = ZoneInfo(zone_name)


def today() -> date:
    """Today's date in the platform's zone."""
    return datetime.now(_zone).date() if _zone is not None else date.today()


def day_of(moment: datetime) -> date:
    """The platform's date of a stored moment (naive datetimes are UTC, as the models store them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone).date() if _zone is not None else moment.astimezone().date()
