"""Who may call which route: one table, enforced before every request and walked by the tests.

Every blueprint registers its routes here with :func:`allow` at import time. The before-request hook
denies by default: an endpoint without a rule answers 404 and its view never runs; a role that is not in
the rule gets the sign-in page (anonymous) or 403 (signed in). Object-level
relations ("owner", "staff_or_owner", ...) are documented here and checked in the view or service, since
they need the object; the test matrix checks both levels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from flask import Flask

ANONYMOUS = "anonymous"
COMPANY = "company"
UNIVERSITY = "university"
BROKER = "broker"
ADMIN = "admin"
ADVISOR = "advisor"
PROVIDER = "provider"

ALL_ROLES = frozenset({ANONYMOUS, COMPANY, UNIVERSITY, BROKER, ADMIN, ADVISOR, PROVIDER})
SIGNED_IN = ALL_ROLES - {ANONYMOUS}
STAFF = frozenset({BROKER, ADMIN})
LISTERS = frozenset({COMPANY, UNIVERSITY})
# the roles of the listing market (introductions, match pages, roadshows): not advisors (科技顾问团, who see only
# the panels they sit on) nor service providers (the directory)
MARKET = frozenset({COMPANY, UNIVERSITY, BROKER, ADMIN})

# Relations an object-level check may require (documentation + test matrix vocabulary).
RELATIONS = frozenset({"any", "self", "owner", "owner_or_staff", "staff", "counterpart_consented",
                       "participant"})


@dataclass(frozen=True)
class Rule:
    """Roles allowed to call one (endpoint, method), the relation required to the object, and notes."""

    roles: frozenset[str]
    relation: str = "any"
    note: str = ""


RULES: dict[tuple[str, str], Rule] = {}


def allow(endpoint: str, methods: str | Iterable[str], roles: Iterable[str], relation: str = "any",
          note: str = "") -> None:
    """Register who may call endpoint with these methods; registering one cell twice is an error."""
    roles = frozenset(roles)
    unknown = roles - ALL_ROLES
    if unknown or relation not in RELATIONS:
        raise ValueError(f"bad policy for {endpoint}: roles {sorted(unknown)} relation {relation!r}")
    for method in ([methods] if isinstance(methods, str) else methods):
        key = (endpoint, method.upper())
        if key in RULES:
            raise ValueError(f"policy for {key} registered twice")
        RULES[key] = Rule(roles, relation, note)


def rule_for(endpoint: str | None, method: str) -> Rule | None:
    """The rule for this call; HEAD follows GET, OPTIONS is allowed to whoever may call any method."""
    if endpoint is None:
        return None
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    if method == "OPTIONS":
        roles = frozenset().union(*(r.roles for (e, _), r in RULES.items() if e == endpoint))
        return Rule(roles) if roles else None
    return RULES.get((endpoint, method))


def missing(app: "Flask") -> list[tuple[str, str]]:
    """(endpoint, method) pairs the app routes but the policy does not cover (should be empty)."""
    cells = set()
    for url_rule in app.url_map.iter_rules():
        for method in (url_rule.methods or set()) - {"HEAD", "OPTIONS"}:
            cells.add((url_rule.endpoint, method))
    return sorted(c for c in cells if c not in RULES)


def role_of(user: object) -> str:
    """The policy role of a (possibly anonymous) current_user."""
    if not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    return str(getattr(user, "role"))


def init_app(app: "Flask") -> None:
    """Check every request's role against its rule before the view runs."""
    app.before_request(_enforce)


def _enforce() -> object:
    """Deny by default: a route without a rule never runs (404); a role outside the rule gets 403/sign-in."""
    from flask import abort, current_app, request
    from flask_login import current_user

    if request.endpoint is None:
        return None  # no route matched: routing answers 404/405 itself
    rule = rule_for(request.endpoint, request.method)
    if rule is None:
        current_app.logger.error("route without policy refused: %s %s", request.method, request.endpoint)
        abort(404)
    role = role_of(current_user)
    if role in rule.roles:
        return None
    if role == ANONYMOUS:
        return current_app.login_manager.unauthorized()
    abort(403)
