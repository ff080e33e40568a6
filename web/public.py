"""What anyone can see: the home page, search with filters, listing details; plus the signed-in dashboard."""
from __future__ import annotations

import math
from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from services import listings, taxonomy
from services import search as search_service
from services.errors import NotFound

from . import policy, security
from .db import db, separate_unit
from .i18n import locale_code, platform_zone
from .matches import marked, possible_duplicates
from .matches import runtime as matching_runtime

bp = Blueprint("public", __name__)
policy.allow("static", "GET", policy.ALL_ROLES, note="stylesheets")
policy.allow("public.home", "GET", policy.ALL_ROLES, note="published listings only")
policy.allow("public.dashboard", "GET", policy.SIGNED_IN, relation="self", note="redirects to the role's home")
policy.allow("public.search", "GET", policy.ALL_ROLES,
             note="published for everyone; other statuses only for staff (search_stmt)")
policy.allow("public.detail", "GET", policy.ALL_ROLES, relation="owner_or_staff",
             note="published: anyone; unpublished: owner and staff (404 otherwise); "
                  "contact fields: can_see_contact (owner, staff, counterpart after accepted introduction)")


@bp.route("/")
def home():
    s = db()
    demands, n_demands = listings.page(s, listings.search_stmt("demand", listings.SearchFilters(), None), 1, 6)
    achievements, n_ach = listings.page(s, listings.search_stmt("achievement", listings.SearchFilters(), None), 1, 6)
    return render_template("public/home.html", demands=demands, achievements=achievements,
                           n_demands=n_demands, n_achievements=n_ach, fields=taxonomy.top_fields(s),
                           **_names())


@bp.app_template_global("found_words")
def found_words(text: str, words: list[str], body: bool = False) -> Markup:
    """A search result's title (or, body=True, the excerpt of its body around the query's first word) with the
    query's words marked."""
    return marked(search_service.excerpt(text, words) if body else text, words)


@bp.route("/dashboard")
@login_required
def dashboard():
    role = current_user.role
    if role == "company":
        return redirect(url_for("demands.mine"))
    if role == "university":
        return redirect(url_for("achievements.mine"))
    if role == "admin":
        return redirect(url_for("admin.users"))
    return redirect(url_for("review.queue"))


@bp.route("/search/<kind>")
def search(kind: str):
    if kind not in listings.KINDS:
        abort(404)
    filters, problems = parse_filters(request.args)
    number = _int_arg("page", 1)
    if filters.q.strip():  # a text query runs the embedding model: counted per address
        security.throttle().hit("search_address", security.client_ip() or "-")
    size = current_app.config["PAGE_SIZE"]
    res = search_service.find(db(), matching_runtime(), kind, filters, current_user, number, size)
    lc = locale_code()
    counts = search_service.facets(db(), kind, res)
    related = (search_service.related(db(), kind, filters, current_user, lc)
               if not res.total and filters.q.strip() else None)
    return render_template("public/search.html", kind=kind, rows=res.rows, total=res.total, page=number,
                           ranked=res.ranked, words=res.words, facets=counts, related=related,
                           filtered=search_service.is_filtered(filters),
                           filters=filters, problems=problems, page_size=size,
                           field_choices=taxonomy.filter_field_choices(db(), lc),
                           regions=taxonomy.regions(db()), reviewer=listings.is_reviewer(current_user),
                           **_names())


@bp.route("/<kind>/<int:listing_id>")
def detail(kind: str, listing_id: int):
    if kind not in listings.KINDS:
        abort(404)
    try:
        item = listings.get_listing(db(), kind, listing_id, current_user)
    except NotFound:
        abort(404)
    insider = listings.is_owner(current_user, item) or listings.is_reviewer(current_user)
    duplicates = possible_duplicates(item) if insider and item.status in ("draft", "submitted", "returned") else []
    show_contact = listings.can_see_contact(current_user, item)
    if show_contact:
        security.no_store()
    if show_contact and not listings.is_owner(current_user, item):
        _log_reveal(item)
    return render_template("public/detail.html", kind=kind, item=item, duplicates=duplicates,
                           show_contact=show_contact, intro_choices=intro_choices(item),
                           owner=listings.is_owner(current_user, item),
                           reviewer=listings.is_reviewer(current_user),
                           history=listings.history(db(), item) if insider else [],
                           **_names())


def _log_reveal(item: Any) -> None:
    """Record the contact reveal in its own short write transaction (this GET request's session only reads)."""
    with separate_unit() as s:
        listings.reveal_contact(s, current_user, item)


def intro_choices(item: Any) -> list[tuple[int, str]]:
    """The viewer's own published listings of the other kind, to pair with this one in a request."""
    other = {"demand": "achievement", "achievement": "demand"}[item.kind]
    if item.status != "published" or not current_user.is_authenticated \
            or current_user.role != listings.OWNER_ROLE[other]:
        return []
    return [(x.id, x.title) for x in listings.owned_by(db(), other, current_user) if x.status == "published"]


def _names() -> dict[str, Any]:
    lc = locale_code()
    return {"region_names": taxonomy.region_names(db(), lc)}


def _int_arg(name: str, default: int) -> int:
    try:
        return max(int(request.args.get(name, default)), 1)
    except (TypeError, ValueError):
        return default


QUERY_CHARS = 200  # of search text: the full-text index asks for its first 16 words anyway


def parse_filters(args: Any) -> tuple[listings.SearchFilters, list[str]]:
    """Filters from query arguments; bad values are dropped with a message instead of failing."""
    problems: list[str] = []
    q = args.get("q", "")
    if len(q) > QUERY_CHARS:
        problems.append(_("Only the first %(n)s characters of the search text are used.", n=QUERY_CHARS))
    f = listings.SearchFilters(q=q[:QUERY_CHARS], field=args.get("field", "")[:64],
                               region=args.get("region", "")[:32], mode=args.get("mode", "")[:16],
                               stage=args.get("stage", "")[:16], status=args.get("status", "published")[:16],
                               zone=platform_zone())
    for name in ("budget", "max_price"):
        raw = args.get(name, "").strip()
        if raw:
            try:
                value = float(raw)
                if value < 0 or not math.isfinite(value):
                    raise ValueError
                setattr(f, name, value)
            except ValueError:
                problems.append(_("Amounts are numbers in 10k yuan, e.g. 50; the filter was ignored."))
    for name in ("since", "until"):
        raw = args.get(name, "").strip()
        if raw:
            try:
                setattr(f, name, date.fromisoformat(raw))
            except ValueError:
                problems.append(_("Dates look like 2026-01-31; the date filter was ignored."))
    if f.since and f.until and f.since > f.until:
        problems.append(_("The start date is after the end date, so nothing can match: swap them."))
    return f, problems
