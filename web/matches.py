"""Ranked, explained matches for a listing (both directions), for brokers and for the listing's owner."""
from __future__ import annotations

import functools
import hashlib
import logging
from typing import Optional

from flask import Blueprint, Flask, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf as csrf_token
from markupsafe import Markup, escape

from matchmaking.encoders import ModelNotReady
from matchmaking.engine import highlight
from matchmaking.vectorstore import IndexCorruptError, IndexMismatchError
from services import feedback, listings, taxonomy
from services.errors import NotFound
from services.indexing import doc_fingerprint
from services.matching import MatchingRuntime
from services.pagecache import CSRF_SLOT

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
    problem, results = None, None
    try:
        results = _results(kind, item, k, reviewer)
    except (ModelNotReady, IndexMismatchError, IndexCorruptError) as err:
        log.warning("matching unavailable: %s", type(err).__name__)
        problem = _("Matching is not available right now: the search index must be rebuilt. "
                    "An operator can run `flask index rebuild`.")
    if results is None:  # only with a problem: the empty list says so, not "no counterpart yet"
        results = _render_results(kind, item, k, request.path, [], [], None, problem)
    return render_template("matches/list.html", kind=kind, item=item, k=k, problem=problem,
                           results=Markup(results.replace(CSRF_SLOT, csrf_token())))


def _results(kind: str, item, k: int, reviewer: bool) -> str:
    """The rendered results (with CSRF_SLOT for the token), from the page cache when nothing they show changed."""
    rt = runtime()
    here = request.path + (f"?k={k}" if "k" in request.args else "")  # the forms' way back: no other parameters
    if not rt.pages.shared:
        return _render_results(kind, item, k, here, *_fresh(rt, item, k, reviewer))
    other = "achievement" if kind == "demand" else "demand"
    kinds = (other, kind) if reviewer else (other,)  # reviewers also see possible duplicates (same kind)
    # the index stamps follow index writes from any process, even one without the shared cache (pgvector: one
    # small query each); the cache's version follows every other change (services/pagecache.py)
    stamps = tuple(rt.stamp(x) for x in kinds)
    key = rt.pages.key("matches", _template_digest(), rt.model_ident, rt.backend, kind, item.id,
                       doc_fingerprint(item), item.owner_id, item.organisation_id, item.status, k, locale_code(),
                       reviewer, here, stamps, feedback.rerank_state(db()))
    html = rt.pages.get(key)
    if html is not None:
        return html
    html = _render_results(kind, item, k, here, *_fresh(rt, item, k, reviewer))
    # not while an older matcher serves (a rebuild runs); 0: none was needed (no published listing of that kind)
    if all(rt.serving(x) in (0, stamp) for x, stamp in zip(kinds, stamps)):
        rt.pages.set(key, html)
    return html


def _fresh(rt: MatchingRuntime, item, k: int, reviewer: bool) -> tuple[list, list, Optional[dict]]:
    """Matches (judged-irrelevant last), possible duplicates and the latest feedback per pair, for reviewers."""
    views = feedback.rerank(db(), item, rt.find_matches(db(), item, k=k))
    similar = rt.similar(db(), item, k=5) if reviewer else []
    latest = feedback.latest_for_pairs(db(), [feedback.pair_of(item, v.listing) for v in views]) if reviewer else None
    return views, similar, latest


@functools.lru_cache(maxsize=1)
def _template_digest() -> str:
    """The results template's source: a deploy that changes it does not serve pages rendered by the old one."""
    source = current_app.jinja_env.loader.get_source(current_app.jinja_env, "matches/_results.html")[0]
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _render_results(kind: str, item, k: int, here: str, views: list, similar: list, latest,
                    problem: Optional[str] = None) -> str:
    return render_template("matches/_results.html", kind=kind, item=item, views=views, similar=similar, k=k,
                           problem=problem, marked=marked, pair_of=feedback.pair_of, latest=latest, here=here,
                           can_introduce=item.status == "published", csrf=CSRF_SLOT,
                           intro_action=url_for("introductions.request_intro"), locale=locale_code(),
                           region_names=taxonomy.region_names(db(), locale_code()))
