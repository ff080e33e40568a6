"""Language selection and translated labels for stored codes."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Optional
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from flask import Flask, current_app, render_template, request, session
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from services import clock

MODE_LABELS = {"transfer": _l("Technology transfer"), "license": _l("Technology licensing"),
               "joint": _l("Joint development"), "commissioned": _l("Commissioned development"),
               "service": _l("Technical service"), "consulting": _l("Technical consulting")}
STAGE_LABELS = {"lab": _l("Laboratory"), "small_pilot": _l("Small-scale trial"), "pilot": _l("Pilot scale"),
                "industrial": _l("Industrialised")}
STATUS_LABELS = {"draft": _l("Draft"), "submitted": _l("Under review"), "published": _l("Published"),
                 "returned": _l("Sent back"), "rejected": _l("Rejected"), "closed": _l("Closed"),
                 "unconfirmed": _l("Awaiting the company's confirmation")}
ROLE_LABELS = {"company": _l("Company"), "university": _l("University / institute"), "broker": _l("Broker"),
               "admin": _l("Administrator"), "advisor": _l("Advisory panel member"),
               "provider": _l("Service provider")}
KIND_LABELS = {"demand": _l("Technical demand"), "achievement": _l("Research achievement")}
PATENT_KIND_LABELS = {"invention": _l("Invention patent"), "utility": _l("Utility model"),
                      "software": _l("Software copyright")}
PATENT_STATUS_LABELS = {"granted": _l("Granted"), "examining": _l("Under examination"), "filed": _l("Filed")}
ACTION_LABELS = {"create": _l("Created"), "submit": _l("Submitted for review"), "withdraw": _l("Withdrawn"),
                 "approve": _l("Approved"), "return": _l("Sent back"), "reject": _l("Rejected"),
                 "close": _l("Closed"), "edit": _l("Edited (back to review)")}


def select_locale() -> str:
    """Chosen language: the session's choice, then the user's, then the default (Simplified Chinese)."""
    choice = session.get("lang")
    if not choice and current_user and getattr(current_user, "locale", None):
        choice = current_user.locale
    if choice in current_app.config["LANGUAGES"]:
        return choice
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def locale_code() -> str:
    """'en' or 'zh' for choosing name_en / name_zh columns."""
    return "en" if str(get_locale()).startswith("en") else "zh"


def init_app(app: Flask) -> None:
    """Wire Flask-Babel, set the platform's calendar (services/clock.py) and expose the label tables to
    templates."""
    clock.configure(app.config.get("PLATFORM_TIMEZONE") or "UTC")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        MODE_LABELS=MODE_LABELS, STAGE_LABELS=STAGE_LABELS, STATUS_LABELS=STATUS_LABELS,
        ROLE_LABELS=ROLE_LABELS, KIND_LABELS=KIND_LABELS, PATENT_KIND_LABELS=PATENT_KIND_LABELS,
        PATENT_STATUS_LABELS=PATENT_STATUS_LABELS, ACTION_LABELS=ACTION_LABELS, locale_code=locale_code,
        html_lang=lambda: "en" if locale_code() == "en" else "zh-CN", request_path=request_path,
        query_string=query_string, safe_path=safe_path,
        nav_links=nav_links)
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["wan"] = wan
    app.jinja_env.globals["wan_range"] = wan_range
    app.extensions["nav_links"] = {}


def query_string() -> str:
    """This request's query string as the view read it ("?a=1&b=2", or ""): after the input guard took out
    control characters and left out values beyond range (web/input_guard.py), so a link built on it (a download,
    the language switch, a return path) does not carry them again."""
    pairs = list(request.args.items(multi=True))
    return "?" + urlencode(pairs) if pairs else ""


def safe_path(path: str) -> bool:
    """True for a same-site path a link may lead to: one slash, no backslash (browsers read it as a slash, so
    /%5Cevil.example/ would leave the site), no control characters."""
    return (path.startswith("/") and not path.startswith("//") and "\\" not in path
            and not any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in path.split("?", 1)[0]))


def request_path() -> str:
    """This page's path (percent-encoded again: a decoded %3F or %5C would change what the link means) and query
    string (as read: query_string), for a link back to it."""
    return quote(request.path, safe="/:@!$&'()*+,;=-._~") + query_string()


def wan(value: Any, unit: bool = True) -> str:
    """An amount stored in 10k yuan (万元) as the reader reads amounts: "1000 万元" in Chinese, "CNY 10 million"
    in English ("1000 10k yuan" read as a thousand and ten). unit=False: the number alone, in the reader's way.
    Exact to the form's two decimals, never in exponent notation (1000000 万元, not 1e+06); not a number: "—"."""
    if value is None:
        return ""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "—"
    if not number.is_finite():
        return "—"
    if locale_code() != "en":
        text = _plain(number)
        return f"{text} {_('10k yuan')}" if unit else text
    yuan = number * 10_000
    if abs(yuan) >= 1_000_000:
        text = f"{_plain(yuan / 1_000_000, grouped=True)} million"
    else:
        text = f"{yuan.quantize(Decimal(1)):,f}"
    return f"CNY {text}" if unit else text


def _plain(number: Decimal, grouped: bool = False) -> str:
    """number with at most 4 decimals, trailing zeros dropped, no exponent (Decimal('1E+6') is 1000000)."""
    rounded = number.quantize(Decimal("0.0001")).normalize()
    return f"{rounded:,f}" if grouped else f"{rounded:f}"


def wan_range(lo: Any, hi: Any) -> str:
    """A range of amounts in 10k yuan: "30–80 万元", "CNY 300,000–800,000"; an open end reads "up to" / "from"."""
    if lo is None and hi is None:
        return ""
    if lo is None:
        return _("up to %(n)s", n=wan(hi))
    if hi is None:
        return _("from %(n)s", n=wan(lo))
    if locale_code() != "en":
        return f"{wan(lo, unit=False)}–{wan(hi)}"
    return f"CNY {wan(lo, unit=False)}–{wan(hi, unit=False)}"


def local_time(stored: Optional[datetime], fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC) as the platform's clock shows it (PLATFORM_TIMEZONE); empty for None."""
    if stored is None:
        return ""
    zone = current_app.config.get("PLATFORM_TIMEZONE") or "UTC"
    return stored.replace(tzinfo=timezone.utc).astimezone(_zone(zone)).strftime(fmt)


def platform_zone() -> ZoneInfo:
    """The platform's time zone (PLATFORM_TIMEZONE): the days people type in date filters are its days."""
    return _zone(current_app.config.get("PLATFORM_TIMEZONE") or "UTC")


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def nav_links(part: str) -> Markup:
    """A part of the navigation (templates/_nav.html: 'public', 'before' or 'after' the bell) for the signed-in
    role and language. Every page shows it, and it depends on nothing else, so it is rendered once per process
    (about 25 translations and links per page otherwise; docs/capacity.md)."""
    role = current_user.role if current_user.is_authenticated else None
    key = (part, role, str(get_locale()), request.script_root)
    store = current_app.extensions["nav_links"]
    html = store.get(key)
    if html is None:
        html = store[key] = Markup(render_template("_nav.html", part=part, role=role))
    return html
