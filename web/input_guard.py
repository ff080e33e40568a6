"""What no request may carry, refused before any view runs (and before the route policy's database look-ups).

One rule for every interface of the web app (pages, forms, file names, the JSON API): such input is answered
400 with a clear message in the reader's language (a JSON error under /api/), and nothing is stored.

- Text no file format or database can hold, anywhere in the path, query string, form, file names or JSON
  body (keys too): NUL (PostgreSQL rejects it in text), the other C0 controls but tab, newline and carriage
  return, DEL and the C1 controls, lone surrogates (not encodable as UTF-8), U+FFFE and U+FFFF
  (services.exports.UNSTORABLE: the exports clean the same characters out of older rows). Except in a page's
  form values (not passwords) and query string, where they are taken out and the reader is told
  (_clean_page_input): a 400 there threw away a whole typed form for an invisible character pasted with the text.
- Numbers that are not numbers to a program: a value that str.isdigit() accepts but int() does not ('²',
  '①'), and a whole number beyond 64 bits (no database integer holds it), in any field (but secrets such as
  passwords) or JSON number.
- In query strings, which no form checks: page numbers, counts and ids (QUERY_INTS) beyond 2147483647,
  amounts (QUERY_AMOUNTS) that are not finite or beyond 1e12, and dates (QUERY_DATES, or any YYYY-MM-DD value)
  outside FIRST_DATE..LAST_DATE (date arithmetic at 9999-12-31 overflows).
- JSON nested deeper than MAX_JSON_DEPTH, or with NaN/Infinity (not JSON).

Each interface's own layer then checks its fields' types, ranges and choices: web/forms.py (WTForms),
web/api/schemas.py and web/api/core.py (API bodies), web/cli.py (CLI options).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Iterable, Optional

from flask import Flask, flash, g, render_template, request, session
from werkzeug.datastructures import ImmutableMultiDict
from flask_babel import gettext as _

from services.exports import clean_text, unstorable_char

from .api.core import error_response, is_api_request, json_problem

NUL = "\x00"
MAX_INT64 = 2**63 - 1
MAX_ID = 2_147_483_647  # a database integer (PostgreSQL's int4): ids, page numbers, counts
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)
MAX_AMOUNT = 1e12
QUERY_INTS = frozenset({"page", "per_page", "k", "id", "year", "limit", "offset"})
QUERY_AMOUNTS = frozenset({"budget", "max_price", "min_price", "price", "amount", "budget_min", "budget_max"})
QUERY_DATES = frozenset({"since", "until", "date", "deadline", "from", "to", "held_on", "signed_on"})
SECRET_FIELDS = frozenset({"current", "confirm", "new_password", "token"})
FILE_SUFFIXES = (".csv", ".xlsx", ".pdf", ".ics", ".json", ".txt", ".svg", ".png")
FILE_FORMATS = frozenset({"csv", "xlsx", "pdf", "ics", "json", "svg"})  # ?format=csv: a download too
DATE_SHAPED = re.compile(r"\s*[+-]?[0-9]{4,}-[0-9]{1,2}-[0-9]{1,2}(?:[T ].*)?\s*", re.S)


class Refused(Exception):
    """Input no interface accepts: the code and the message for the reader."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


# ---------------------------------------------------------------- the rules, one value at a time

def check_text(name: str, text: str) -> None:
    """Refused: a character no text may contain, or digits int() cannot read, or a number beyond 64 bits
    (secrets are never read as numbers: a password of 25 digits is a password)."""
    if NUL in text:
        raise Refused("nul_character", _("What you sent contains a NUL character (\\0), which no text may "
                                         "contain. Remove it and try again."))
    bad = unstorable_char(text)
    if bad is not None:
        raise Refused("control_character", _(
            "“%(field)s” contains an invisible control character (U+%(code)s), which no text may contain; it "
            "often comes with text copied from another program. Remove it and try again.",
            field=_label(name), code=f"{ord(bad):04X}"))
    if _secret(name):
        return
    stripped = text.strip()
    if stripped.isdigit() and not stripped.isdecimal():
        raise Refused("bad_number", _("“%(field)s” is not a number: use the digits 0 to 9.", field=_label(name)))
    whole = _whole(stripped)
    if whole is not None and abs(whole) > MAX_INT64:
        raise Refused("number_too_large", _("“%(field)s” is a number too large for any field here.",
                                            field=_label(name)))


def check_form(name: str, text: str) -> None:
    """check_text without the size of whole numbers: a form's numeric fields parse and bound their own numbers
    (web/forms.py IntegerField / DecimalField) and answer on the form, with what was typed kept; a text field
    may hold any digits (a phone, a registration number). Refusing here would throw the whole form away."""
    try:
        check_text(name, text)
    except Refused as refused:
        if refused.code != "number_too_large":
            raise


def check_name(name: str) -> None:
    """check_text on a field name, and on each of its parts: WTForms reads `patents-2-number` as entry 2."""
    check_text(name, name)
    for part in re.findall(r"[^\W_]+", name):
        if part.isdigit() and not part.isdecimal():
            raise Refused("bad_number", _("“%(field)s” is not a number: use the digits 0 to 9.", field=_label(name)))


def check_query(name: str, text: str) -> None:
    """The query-string rules on top of check_text: ids and page numbers, amounts and dates in range."""
    check_text(name, text)
    key = name.strip().lower()
    whole = _whole(text.strip())
    if (key in QUERY_INTS or key.endswith("_id")) and whole is not None and whole > MAX_ID:
        raise Refused("out_of_range", _("“%(field)s” must be a whole number from 1 to %(max)s.",
                                        field=_label(name), max=MAX_ID))
    if key in QUERY_AMOUNTS and text.strip():
        try:
            amount = float(text.strip())
        except ValueError:
            amount = 0.0  # not a number at all: the page says so and ignores the filter
        if not abs(amount) <= MAX_AMOUNT:  # also NaN and the infinities
            raise Refused("out_of_range", _("“%(field)s” is an amount in 10k yuan: a number from 0 to 1,000,000.",
                                            field=_label(name)))
    if (key in QUERY_DATES or DATE_SHAPED.fullmatch(text)) and _date_out_of_range(text):
        raise Refused("out_of_range", _("“%(field)s” must be a date between %(first)s and %(last)s.",
                                        field=_label(name), first=FIRST_DATE.isoformat(),
                                        last=LAST_DATE.isoformat()))


def check_json(value: Any) -> None:
    """check_text on every key and string of a JSON document, and every whole number within 64 bits."""
    stack = [("json", value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, str):
            check_text(name, item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and abs(item) > MAX_INT64:
            raise Refused("number_too_large", _("“%(field)s” is a number too large for any field here.",
                                                field=_label(name)))
        elif isinstance(item, dict):
            for key, sub in item.items():
                check_name(str(key))
                stack.append((str(key), sub))
        elif isinstance(item, (list, tuple)):
            stack.extend((name, sub) for sub in item)


def _whole(text: str) -> Optional[int]:
    """text as a whole number when it is one (decimal digits, ASCII or not, with an optional sign), else None;
    beyond 25 digits a stand-in just past 64 bits (int() refuses over 4,300 digits, and slowly)."""
    if not re.fullmatch(r"[+-]?\d+", text):
        return None
    if len(text.lstrip("+-")) > 25:
        return -(MAX_INT64 + 1) if text.startswith("-") else MAX_INT64 + 1
    return int(text)


def _date_out_of_range(text: str) -> bool:
    """True when text reads as a date (ISO 8601: 2026-01-31, with a time, or compact) outside the calendar
    this platform accepts; False for dates inside it and for anything that is not a date."""
    text = text.strip()
    head = re.match(r"([+-]?[0-9]{4,9})-([0-9]{1,2})-([0-9]{1,2})", text)
    if head:
        year, month, day = (int(p) for p in head.groups())
        return 1 <= month <= 12 and 1 <= day <= 31 and not FIRST_DATE.year <= year <= LAST_DATE.year
    try:
        when = date.fromisoformat(text)
    except ValueError:
        return False
    return not FIRST_DATE <= when <= LAST_DATE


def _secret(name: str) -> bool:
    """A field that holds a secret (passwords, their confirmation): opaque text, never parsed."""
    key = name.lower()
    return "password" in key or key in SECRET_FIELDS


def _label(name: str) -> str:
    return name[:40] if name else "?"


# ---------------------------------------------------------------- the request

def _request_parts() -> Iterable[tuple[str, Any, str]]:
    """(where, name, value) of every text in the request, in the order they are checked."""
    yield "path", "path", request.path
    for name, value in (request.view_args or {}).items():
        yield "path", name, value
    for name, values in request.args.lists():
        yield "name", name, name
        for value in values:
            yield "query", name, value
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    for name, values in request.form.lists():
        yield "name", name, name
        for value in values:
            yield "form", name, value
    for name, upload in request.files.items(multi=True):
        yield "form", name, upload.filename or ""


def _check_request() -> Optional[Refused]:
    try:
        for where, name, value in _request_parts():
            if not isinstance(value, str):
                continue
            if where == "name":
                check_name(value)
            else:
                {"query": check_query, "form": check_form}.get(where, check_text)(name, value)
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.is_json:
            problem = json_problem(request.get_data(cache=True))
            if problem is not None:
                return Refused("bad_json", problem)
            check_json(request.get_json(silent=True))
    except Refused as refused:
        return refused
    return None


def _clean_page_input() -> None:
    """A page's form values and query string lose their invisible control characters (they come with text pasted
    from another program) before anything reads them, and the reader is told: refusing the request would throw
    away everything typed, or a search and its filters. Passwords are never changed behind the reader's back
    (check_text still refuses those), nor are field or file names, or the API's input: a program is told what
    to fix."""
    if is_api_request() or _download():
        return
    changed = False
    for part in ("args", "form"):
        if part == "form" and request.method in ("GET", "HEAD", "OPTIONS"):
            continue
        values = getattr(request, part)
        if any(unstorable_char(v) for _name, vs in values.lists() for v in vs):
            # werkzeug's cached_property: every later read of request.args / request.form gets the cleaned values
            setattr(request, part, ImmutableMultiDict(
                [(name, v if _secret(name) else clean_text(v)) for name, vs in values.lists() for v in vs]))
            request.__dict__.pop("values", None)  # args + form, cached if read before: read again from these
            changed = True
    if changed:
        _tell(_("Invisible control characters (they often come with text copied from another program) were taken "
                "out of what you typed. Check the text before you go on."))
    _drop_out_of_range_args()


def _drop_out_of_range_args() -> None:
    """A page's query-string value beyond what any filter holds (a date in year 1 or 9999, a page number past a
    database integer, an absurd amount) is left out, and the reader is told which: the page answers with the
    rest of the search, as it does for a malformed date, instead of a 400 that loses the search. A value out of
    range means "no bound" for a filter (until 9999-12-31) or the first page, so leaving it out keeps the
    meaning."""
    kept, dropped = [], []
    for name, values in request.args.lists():
        for value in values:
            try:
                check_query(name, value)
            except Refused as refused:
                if refused.code in ("out_of_range", "number_too_large", "bad_number"):
                    dropped.append(refused.message)
                    continue
            kept.append((name, value))
    if dropped:
        request.args = ImmutableMultiDict(kept)
        request.__dict__.pop("values", None)
        for message in dict.fromkeys(dropped):
            _tell(_("%(problem)s This filter was left out.", problem=message))


def _download() -> bool:
    """A request whose answer is no page to tell the reader on (a file, a HEAD, a static file): its input is
    refused (400, with the message) as the API's is, never changed silently."""
    return (request.method == "HEAD" or request.endpoint == "static" or request.path.endswith(FILE_SUFFIXES)
            or request.args.get("format", "").strip().lower() in FILE_FORMATS)


def _tell(message: str) -> None:
    """A notice for the page this request draws (or the page a redirect leads to); kept in g so that an answer
    with no page (web/input_guard.py _forget_untold) does not leave it for an unrelated later page."""
    flash(message, "warning")
    g.setdefault("guard_notices", []).append(message)


def _forget_untold(response: Any) -> Any:
    """The guard's notices leave the session again when this answer is neither a page nor a redirect to one."""
    notices = g.get("guard_notices")
    if notices and response.mimetype != "text/html" and not 300 <= response.status_code < 400:
        kept = [(c, m) for c, m in session.get("_flashes", []) if m not in notices]
        if kept:
            session["_flashes"] = kept
        else:
            session.pop("_flashes", None)
    return response


def _refuse() -> Optional[Any]:
    _clean_page_input()
    refused = _check_request()
    if refused is None:
        return None
    if is_api_request():
        return error_response(400, refused.code, refused.message)
    return render_template("errors/error.html", code=400, message=refused.message), 400


def init_app(app: Flask) -> None:
    """Check every request before its view."""
    app.before_request(_refuse)
    app.after_request(_forget_untold)
