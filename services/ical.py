"""iCalendar (RFC 5545) text: escaped values, lines folded at 75 octets, CRLF, UTC times, stable UIDs.

A small writer, not a library: the calendar feed and the personal schedules need VEVENTs only. Times are given
in Asia/Shanghai (the programme's local time) and written in UTC (`Z`), so no VTIMEZONE is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Optional

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving since 1991
PRODID = "-//TechMatch//Roadshow programme//ZH"


def escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Fold a content line at 75 octets (3.1) without splitting a UTF-8 character."""
    out, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1  # a continuation line starts with one space
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def utc_stamp(moment: datetime) -> str:
    """A DATE-TIME in UTC form (19970714T173000Z); naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def local(day: date, hhmm: str, plus_minutes: int = 0) -> datetime:
    """A Shanghai wall-clock time on a day, shifted by minutes."""
    hours, minutes = (int(x) for x in (hhmm or "14:00").split(":"))
    return datetime.combine(day, time(hours, minutes), SHANGHAI) + timedelta(minutes=plus_minutes)


@dataclass
class Event:
    """One VEVENT."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str = ""
    url: str = ""
    categories: list[str] = field(default_factory=list)


def calendar(events: Iterable[Event], name: str, stamp: Optional[datetime] = None) -> str:
    """A VCALENDAR with the events (CRLF line ends, every line folded)."""
    now = utc_stamp(stamp or datetime.now(timezone.utc))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{escape(name)}", "X-WR-TIMEZONE:Asia/Shanghai"]
    for e in events:
        lines += ["BEGIN:VEVENT", f"UID:{e.uid}", f"DTSTAMP:{now}", f"DTSTART:{utc_stamp(e.start)}",
                  f"DTEND:{utc_stamp(e.end)}", f"SUMMARY:{escape(e.summary)}"]
        if e.description:
            lines.append(f"DESCRIPTION:{escape(e.description)}")
        if e.location:
            lines.append(f"LOCATION:{escape(e.location)}")
        if e.url:
            lines.append(f"URL:{e.url}")
        if e.categories:
            lines.append("CATEGORIES:" + ",".join(escape(c) for c in e.categories))
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
