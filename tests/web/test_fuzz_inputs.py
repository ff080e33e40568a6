"""No input reaches a 5xx (issue 18): every route, for every role that may call it, with hostile input.

Hypothesis draws hostile values (integers beyond 64 bits, digits int() cannot read, NaN and huge exponents,
dates at the ends of the calendar, control characters and lone surrogates, fractions for whole numbers, values
sent twice) and each example sends them to *every* cell of the route policy the role is allowed, starting from
the request the policy matrix builds for that cell (real objects of the role, so views run to the end):

- GET pages: the query string, and the URL's first id;
- form POSTs: the fields of the form (read from the page where it has one, plus the cell's own fields), some
  replaced by hostile values and some sent twice, with a valid CSRF token, as a browser would send them;
- the API: hostile query strings, JSON bodies with hostile values, and bodies that are not JSON.

The assertion is only that the answer is not a server error (a 503 only where the database is busy, which a
single client never makes it). Derandomised with a bounded number of examples, so a run is deterministic and
takes about a minute or two on two cores.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.conftest import CSRF_RE, app_config, dispose_app
from tests.web.policy_builders import api_token, is_api
from tests.web.test_policy import ROLES, World, _builders, signed_in_client
from web import policy

pytestmark = [pytest.mark.model, pytest.mark.slow]  # the real model (search, matches); about two minutes

EXAMPLES = 3  # generated examples per role, after the KNOWN ones
# Cells that end the session being fuzzed (what they do is tested in test_security.py / test_auth.py)
SKIP = {("auth.logout", "POST"), ("account.logout_everywhere", "POST")}

HUGE_INTS = ["9" * 30, str(2**63), str(2**64), str(-(2**63) - 1), "2147483648", "-2147483649", "1" + "0" * 400]
ODD_INTS = ["0", "-1", "1.5", "2.0", "-0", "1e3", "0x10", "1_000", " 7 ", "+7", "007", "١٢", "٣", "²", "①", "𝟙",
            "Ⅻ", "๓"]
NUMBERS = ["nan", "NaN", "-inf", "Infinity", "inf", "1e999999999", "1e99999999999999999999", "sNaN", "-1e308",
           "1e309", "1e-999999999", "999999999999.995", "12,5", "1 000"]
DATES = ["9999-12-31", "0000-01-01", "10000-01-01", "0001-01-01", "99991231", "2026-02-30", "2026-13-01",
         "1899-12-31", "+12345-01-01", "9999-12-31T23:59:59", "2026-W01-1", "31/12/9999"]
TEXTS = ["\x01", "a\x07b", "\x1b[31m", "\x7f", "\x85", "\x9f", "\ud800", "x\udfffy", "\ufffe", "\uffff", "\u202e",
         "\u2028", "'; DROP TABLE users; --", "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "{{7*7}}",
         "../../etc/passwd", "%00", "%s%n", "", " ", "x" * 6000, "Ω" * 300, "null", "[]", "{}"]
HOSTILE = HUGE_INTS + ODD_INTS + NUMBERS + DATES + TEXTS
QUERY_NAMES = ["page", "per_page", "k", "q", "field", "region", "mode", "stage", "status", "budget", "max_price",
               "since", "until", "role", "actor", "action", "next", "demand_id", "achievement_id", "scope", "id"]


def hostile_text() -> st.SearchStrategy[str]:
    """One hostile value: from the known classes, or anything Hypothesis makes up (surrogates included)."""
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.dates().map(lambda d: d.isoformat()),
        st.text(st.characters(exclude_categories=()), max_size=12),
    )


@st.composite
def hostile_inputs(draw: Callable) -> dict[str, Any]:
    """What one example sends everywhere: a few hostile values, which fields get them, and whether to repeat."""
    return {"values": draw(st.lists(hostile_text(), min_size=1, max_size=6)),
            "stride": draw(st.integers(min_value=1, max_value=3)),
            "shift": draw(st.integers(min_value=0, max_value=60)),
            "twice": draw(st.booleans()),
            "json_raw": draw(st.sampled_from(RAW_BODIES))}


RAW_BODIES = [
    (b"title=x&modes=joint", "application/x-www-form-urlencoded"),
    (b"not json at all", "text/plain"),
    (b"", "application/json"),
    (b'{"title": NaN}', "application/json"),
    (b'{"title": "x",', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"a":' * 200 + b"1" + b"}" * 200, "application/json"),
    (b"\xff\xfe\x00{", "application/json"),
    (b'"just a string"', "application/json"),
    (b'{"title": "\\ud800\\udfff\\ud800"}', "application/json"),
    (None, None),  # the cell's own body with hostile values instead (below)
]


# --- the world: one app, one user per role, every cell's request built once -------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, new_database) -> World:
    from app import create_app

    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(app_config(tmp, new_database(tmp), RATELIMIT_ENABLED=False))
    yield World(app)
    dispose_app(app)


@pytest.fixture(scope="module")
def cells(world: World) -> dict[str, list[tuple[str, str, str, dict]]]:
    """For each role: (endpoint, method, url, data) of every policy cell it may call, built once."""
    builders, out = _builders(), {}
    for role in ROLES:
        out[role] = []
        for (endpoint, method), rule in sorted(policy.RULES.items()):
            if role in rule.roles and (endpoint, method) not in SKIP and endpoint != "static":
                build = builders.get((endpoint, method)) or (lambda w, r, e=endpoint: (_any_url(w, e), {}))
                url, data = build(world, role)
                out[role].append((endpoint, method, url, data))
    return out


def _any_url(world: World, endpoint: str) -> str:
    """A URL of an endpoint the policy matrix has no builder for yet: ids 1, other arguments 'x'."""
    rule = next(world.app.url_map.iter_rules(endpoint))
    return re.sub(r"<(?:int(?:\([^)]*\))?:)?([a-z_]+)>|<[^>]*:([a-z_]+)>",
                  lambda m: "1" if m.group(0).startswith("<int") else "x", rule.rule)


class _FormFields(HTMLParser):
    """The (name, value) pairs a browser would send for the forms of a page (checked boxes, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._first_option: str | None = None
        self._chosen = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and name != "csrf_token":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file", "image", "reset"):
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._first_option, self._chosen = name, None, False
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self.fields.append((self._select, a.get("value", "")))
                self._chosen = True
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            if not self._chosen and self._first_option is not None:
                self.fields.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _page_fields(client: Any, url: str) -> list[tuple[str, str]]:
    resp = client.get(url)
    if resp.status_code != 200 or "html" not in resp.content_type:
        return []
    parser = _FormFields()
    parser.feed(resp.get_data(as_text=True))
    return parser.fields


# --- sending ---------------------------------------------------------------------------------------------------

def _q(text: str) -> str:
    """Percent-encoding of any str, lone surrogates included (as a client sends their UTF-8 bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs).encode("ascii")


def _spread(names: list[str], h: dict, offset: int) -> dict[str, str]:
    """Which of names get which hostile value in this example: `stride` of them (all of them with stride 3),
    starting at a place that moves with the cell, so that over the cells every field gets its turn, and the
    others keep their valid values (so the view gets past the first refusal)."""
    if not names:
        return {}
    values, count = h["values"], len(names) if h["stride"] == 3 else h["stride"]
    chosen = [names[(offset + i) % len(names)] for i in range(min(count, len(names)))]
    return {name: values[(offset + i) % len(values)] for i, name in enumerate(chosen)}


def _hostile_path(url: str, h: dict) -> str:
    """The URL with its first id replaced by a hostile integer (every other example)."""
    if h["stride"] != 2:
        return url
    path, _, query = url.partition("?")
    ints = [v for v in h["values"] if re.fullmatch(r"\S+", v)] or ["9" * 30]
    path = re.sub(r"/\d+(?=/|$|\.)", "/" + _q(ints[0]), path, count=1)
    return path + ("?" + query if query else "")


def _get(client: Any, url: str, h: dict, headers: dict) -> Any:
    path, _, query = url.partition("?")
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p]
    names = sorted({k for k, _v in pairs} | set(QUERY_NAMES))
    hostile = _spread(names, h, offset=len(path) + h["shift"])
    sent = [(k, v) for k, v in pairs if k not in hostile] + [(k, v) for k, v in hostile.items()]
    if h["twice"]:
        sent += sent[:3]
    return client.get(_hostile_path(path, h), query_string=_encode(sent).decode("ascii"), headers=headers)


def _form_post(client: Any, method: str, url: str, data: dict, h: dict, token: str, page: list) -> Any:
    base = [(k, str(v)) for k, v in page] + [(k, str(x)) for k, v in data.items()
                                            for x in (v if isinstance(v, list) else [v])]
    names = sorted({k for k, _v in base})
    hostile = _spread(names, h, offset=len(url) + h["shift"])
    sent = [(k, v) for k, v in base if k not in hostile] + list(hostile.items())
    if h["twice"]:
        sent += sent  # every value twice: multi-selects with repeats, fields sent twice
    sent.append(("csrf_token", token))
    return client.open(url, method=method, data=_encode(sent), content_type="application/x-www-form-urlencoded")


def _json_values(h: dict) -> list[Any]:
    """The example's hostile values as JSON would carry them: as strings, and as numbers where they are ones."""
    out: list[Any] = []
    for v in h["values"]:
        out.append(v)
        try:
            out.append(int(v) if re.fullmatch(r"[+-]?[0-9]+", v) else float(v))
        except (ValueError, OverflowError):
            pass
    return out + [1.5, 2**64, 2**70, True, None, [], {}, ["joint", "joint"], [[[[[]]]]]]


def _api_write(client: Any, method: str, url: str, data: dict, h: dict, headers: dict) -> Any:
    raw, kind = h["json_raw"]
    if raw is not None:
        return client.open(url, method=method, data=raw, content_type=kind, headers=headers)
    values, body = _json_values(h), dict(data)
    names = sorted(set(body) | {"title", "modes", "min_trl", "trl", "budget_min", "deadline", "listing_id", "k",
                                "demand_id", "patents"})
    for i, name in enumerate(_spread(names, h, offset=len(url) + h["shift"])):
        body[name] = values[(len(url) + i) % len(values)]
    text = json.dumps(body, default=str, allow_nan=True)  # NaN/Infinity as Python writes them
    return client.open(url, method=method, data=text, content_type="application/json", headers=headers)


def _sweep(world: World, role: str, cells: list, h: dict, pages: dict) -> list[str]:
    """Send the example to every cell; the failures (5xx), each with what was sent."""
    client = signed_in_client(world, role)
    token = CSRF_RE.search(client.get("/login" if role == "anonymous" else "/account/security")
                           .get_data(as_text=True)).group(1)
    failures = []
    for endpoint, method, url, data in cells:
        try:
            resp = _send(world, client, role, endpoint, method, url, data, h, token, pages)
        except Exception as err:  # the testing app lets an unhandled error through: that is a 500 too
            failures.append(f"{role} {method} {url} ({endpoint}) raised {type(err).__name__}: {err}; example "
                            f"{h!r}"[:600])
            continue
        if resp.status_code >= 500:
            failures.append(f"{role} {method} {url} ({endpoint}) -> {resp.status_code}; example {h!r}"[:600])
    return failures


def _send(world: World, client: Any, role: str, endpoint: str, method: str, url: str, data: dict, h: dict,
          token: str, pages: dict) -> Any:
    """One cell's request with this example's hostile input: the API with a token, pages with the session."""
    if is_api(url):
        headers = {"Authorization": f"Bearer {api_token(world, role)}"} if role != "anonymous" else {}
        resp = _get(client, url, h, headers) if method == "GET" else _api_write(client, method, url, data, h, headers)
    elif method == "GET":
        resp = _get(client, url, h, {})
    else:
        if (endpoint, method) not in pages:
            pages[(endpoint, method)] = _page_fields(client, url) if "GET" in _methods(world, endpoint) else []
        resp = _form_post(client, method, url, data, h, token, pages[(endpoint, method)])
    resp.get_data()
    resp.close()  # static files hold an open file until closed
    return resp


def _methods(world: World, endpoint: str) -> set[str]:
    return {m for rule in world.app.url_map.iter_rules(endpoint) for m in rule.methods or ()}


SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
# The known classes of issue 18, always sent first (explicit examples): one value in every field of every cell
# (what a probe does), then mixes of a class with one field at a time (so the other fields keep valid values).
KNOWN = [{"values": [value], "stride": 3, "shift": 0, "twice": twice, "json_raw": raw}
         for value, twice, raw in [("9" * 30, False, RAW_BODIES[0]), ("²", True, RAW_BODIES[1]),
                                   ("1.5", True, RAW_BODIES[3]), ("sNaN", False, RAW_BODIES[5]),
                                   ("9999-12-31", False, RAW_BODIES[6]), ("\x85", False, RAW_BODIES[9]),
                                   ("\ud800", False, (None, None))]]
KNOWN += [{"values": HUGE_INTS + ODD_INTS, "stride": 1, "shift": 7, "twice": True, "json_raw": (None, None)},
          {"values": NUMBERS + DATES, "stride": 2, "shift": 11, "twice": False, "json_raw": (None, None)}]


@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_a_server_error_to_hostile_input(world, cells, role):
    pages: dict = {}

    @SETTINGS
    @given(h=hostile_inputs())
    def sweep(h: dict) -> None:
        failures = _sweep(world, role, cells[role], h, pages)
        assert not failures, "\n".join(failures[:10])

    for known in reversed(KNOWN):  # the known classes of issue 18, always sent first
        sweep = example(known)(sweep)
    sweep()


def test_the_sweep_reaches_every_kind_of_route(cells):
    """The sweep is only as good as its reach: every policy cell but the skipped ones, for some role."""
    reached = {(e, m) for role_cells in cells.values() for e, m, _u, _d in role_cells}
    assert reached == set(policy.RULES) - SKIP - {("static", "GET")}
    urls = [u for role_cells in cells.values() for _e, _m, u, _d in role_cells]
    assert any(is_api(u) for u in urls) and any(urlsplit(u).path.startswith("/roadshows") for u in urls)
