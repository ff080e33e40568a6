"""Ranked, explained matches for a listing (both directions), for brokers and for the listing's owner."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from matchmaking.encoders import ModelNotReady
from matchmaking.engine import highlight
from matchmaking.vectorstore import IndexCorruptError, IndexMismatchError
from services import feedback, listings, taxonomy
from services.errors import NotFound
from services.matching import MatchingRuntime

from . import policy
from .db import db, sessionmaker_for
from .i18n import locale_code

bp = Blueprint("matches", __name__, url_prefix="/matches")
policy.allow("matches.for_listing", "GET", policy.SIGNED_IN, relation="owner_or_staff",
             note="staff: any listing; owner: own published listing; 404 otherwise. No contact fields.")
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """One matching runtime per app; it listens for committed listing changes."""
    app.extensions["matching"] = MatchingRuntime(app.config, sessionmaker_for(app))


def runtime() -> MatchingRuntime:
    """The current app's matching runtime."""
    return current_app.extensions["matching"]


def marked(text: str, terms: list[str]) -> Markup:
    """The text, escaped, with the shared terms wrapped in <mark> (one call per text, not a template loop)."""
    return Markup("".join(f"<mark>{escape(seg)}</mark>" if hit else str(escape(seg))
                          for seg, hit in highlight(text or "", terms)))


def possible_duplicates(item) -> list:
    """Published listings that look like this unpublished one; empty when matching is unavailable."""
    try:
        views = runtime().similar(db(), item, k=3)
    except (ModelNotReady, IndexMismatchError, IndexCorruptError) as err:
        log.warning("duplicate check unavailable: %s", type(err).__name__)
        return []
    return [v for v in views if v.match.score >= current_app.config["DUPLICATE_MIN_SCORE"]]


@bp.route("/<kind>/<int:listing_id>")
@login_required
def for_listing(kind: str, listing_id: int):
    if kind not in listings.KINDS:
        abort(404)
    try:
        item = listings.get_listing(db(), kind, listing_id, current_user)
    except NotFound:
        abort(404)
    reviewer = listings.is_reviewer(current_user)
    if not (reviewer or (listings.is_owner(current_user, item) and item.status == "published")):
        abort(404)
    k = min(max(request.args.get("k", 10, type=int) or 10, 1), 50)
    problem, views, similar = None, [], []
    try:
        views = feedback.rerank(db(), item, runtime().find_matches(db(), item, k=k))  # judged-irrelevant last
        similar = runtime().similar(db(), item, k=5) if reviewer else []
    except (ModelNotReady, IndexMismatchError, IndexCorruptError) as err:
        log.warning("matching unavailable: %s", type(err).__name__)
        problem = _("Matching is not available right now: the search index must be rebuilt. "
                    "An operator can run `flask index rebuild`.")
    return render_template("matches/list.html", kind=kind, item=item, views=views, similar=similar, k=k,
                           problem=problem, marked=marked, pair_of=feedback.pair_of,
                           latest=feedback.latest_for_pairs(db(), [feedback.pair_of(item, v.listing) for v in views])
                           if reviewer else None, can_introduce=item.status == "published",
                           intro_action=url_for("introductions.request_intro"), locale=locale_code(),
                           region_names=taxonomy.region_names(db(), locale_code()))
