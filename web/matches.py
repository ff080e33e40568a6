"""Ranked, explained matches for a listing (both directions), for brokers and for the listing's owner."""
from __future__ import annotations

import functools
import hashlib
import logging
from typing import Optional

from flask import Blueprint, Flask, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf as csrf_token
from markupsafe import Markup, escape

from services import bands, feedback, listings, taxonomy
from services.errors import NotFound
from services.matching import MatchingRuntime, MatchingUnavailable, highlight
from services.pagecache import CSRF_SLOT, Slot

from . import jobs as jobs_web
from . import policy
from .db import db, sessionmaker_for
from .i18n import locale_code

bp = Blueprint("matches", __name__, url_prefix="/matches")
policy.allow("matches.for_listing", "GET", policy.MARKET, relation="owner_or_staff",
             note="staff: any listing; owner: own published listing; 404 otherwise. No contact fields.")
log = logging.getLogger(__name__)
PAGE_PARTS = frozenset({"title", "owner_id", "organisation_id", "status", "problem", "results"})  # what _render_page stores
BAND_LABELS = {bands.STRONG: _l("Strong match"), bands.POSSIBLE: _l("Possible match"), bands.WEAK: _l("Weak match")}


def init_app(app: Flask) -> None:
    """One matching runtime per app; it listens for committed listing changes. Band labels for templates."""
    app.extensions["matching"] = runtime = MatchingRuntime(app.config, sessionmaker_for(app))
    jobs_web.context(app).provide(matching=runtime)  # index syncs, report batches, coverage and imports use it
    app.jinja_env.globals.update(BAND_LABELS=BAND_LABELS, band_of=bands.band_of)


def runtime() -> MatchingRuntime:
    """The current app's matching runtime."""
    return current_app.extensions["matching"]


def reranker() -> feedback.Reranker:
    """The current app's learned re-ranking of matches (web/reports.init_app provides it)."""
    return jobs_web.context().reranker


def marked(text: str, terms: list[str]) -> Markup:
    """The text, escaped, with the shared terms wrapped in <mark> (one call per text, not a template loop)."""
    return Markup("".join(f"<mark>{escape(seg)}</mark>" if hit else str(escape(seg))
                          for seg, hit in highlight(text or "", terms)))


def possible_duplicates(item) -> list:
    """Published listings that look like this unpublished one; empty when matching is unavailable."""
    try:
        views = runtime().similar(db(), item, k=3)
    except MatchingUnavailable as err:
        log.warning("duplicate check unavailable: %s", type(err).__name__)
        return []
    return [v for v in views if v.match.score >= current_app.config["DUPLICATE_MIN_SCORE"]]


@bp.route("/<kind>/<int:listing_id>")
@login_required
def for_listing(kind: str, listing_id: int):
    if kind not in listings.KINDS:
        abort(404)
    reviewer = listings.is_reviewer(current_user)
    k = min(max(request.args.get("k", 10, type=int) or 10, 1), 50)
    rt = runtime()
    here = request.path + (f"?k={k}" if "k" in request.args else "")  # the forms' way back: no other parameters
    try:
        slot, stamps, page = _lookup(rt, kind, listing_id, k, reviewer, here)
    except MatchingUnavailable:  # pgvector's stamps need the model's tables: _render_page says what is wrong
        slot, stamps, page = None, [], None
    if page is None:
        page = _render_page(rt, kind, listing_id, k, reviewer, here)
        if not page["problem"] and all(rt.serving(x) in (0, stamp) for x, stamp in stamps):
            # not while an older matcher serves (a rebuild runs); 0: none was needed (no published listing of that kind)
            rt.pages.store(slot, page)
    # the same check as for a page rendered now (get_listing's can_view follows from either side)
    elif not (reviewer or (listings.on_owning_side(current_user, kind, page["owner_id"], page["organisation_id"])
                           and page["status"] == "published")):
        abort(404)
    return render_template("matches/list.html", kind=kind, listing_id=listing_id, title=page["title"],
                           problem=page["problem"], results=Markup(page["results"].replace(CSRF_SLOT, csrf_token())),
                           directory_panel=_directory_panel(kind, listing_id))


def _directory_panel(kind: str, listing_id: int) -> Markup:
    """Providers from the service directory for a demand, investors for an achievement (staff): rendered per
    request, outside the cached page (web/directory.py)."""
    from .directory import match_panel
    return match_panel(kind, listing_id)


def _lookup(rt: MatchingRuntime, kind: str, listing_id: int, k: int, reviewer: bool,
            here: str) -> tuple[Optional[Slot], list[tuple[str, int]], Optional[dict]]:
    """(slot, index stamps, stored page or None) from the page cache; (None, [], None) without a shared store.
    Nothing here reads the listing: a served page costs no query but the index stamps (pgvector)."""
    if not rt.pages.shared:
        return None, [], None
    other = "achievement" if kind == "demand" else "demand"
    kinds = (other, kind) if reviewer else (other,)  # reviewers also see possible duplicates (same kind)
    # the index stamps follow index writes from any process, even one without the shared cache (pgvector: one
    # small query); the cache's version follows every other change, the listing's own included
    stamps = list(zip(kinds, rt.stamps(kinds)))
    slot, page = rt.pages.lookup("matches", _template_digest(), rt.model_ident, rt.calibration_ident, rt.backend,
                                 kind, listing_id, k,
                                 locale_code(), reviewer, here, stamps, reranker().state())
    if page is not None and set(page) != PAGE_PARTS:  # stored by another version of this code: a miss
        page = None
    return slot, stamps, page


def _render_page(rt: MatchingRuntime, kind: str, listing_id: int, k: int, reviewer: bool, here: str) -> dict:
    """The page's stored parts: the listing's title, owner and status (for the access check of a served page),
    the rendered results (CSRF_SLOT for the token) and the problem, if matching is unavailable. 404 here for
    a viewer who may not see the listing's matches."""
    try:
        item = listings.get_listing(db(), kind, listing_id, current_user)
    except NotFound:
        abort(404)
    if not (reviewer or (listings.is_owner(current_user, item) and item.status == "published")):
        abort(404)
    problem, fresh = None, ([], [], None)
    try:
        fresh = _fresh(rt, item, k, reviewer)
    except MatchingUnavailable as err:
        log.warning("matching unavailable: %s", type(err).__name__)
        problem = _("Matching is not available right now: the search index must be rebuilt. "
                    "An operator can run `flask index rebuild`.")
    # with a problem the empty list says so, not "no counterpart yet"
    return {"title": item.title, "owner_id": item.owner_id, "organisation_id": item.organisation_id,
            "status": item.status, "problem": problem,
            "results": _render_results(kind, item, k, here, reviewer, *fresh, problem)}


def _fresh(rt: MatchingRuntime, item, k: int, reviewer: bool) -> tuple[list, list, Optional[dict]]:
    """Matches (judged-irrelevant last), possible duplicates and the latest feedback per pair, for reviewers."""
    views = feedback.rerank(db(), item, rt.find_matches(db(), item, k=k), reranker())
    # possible duplicates only from the near-duplicate threshold (a broker saw five unrelated "duplicates")
    similar = [v for v in rt.similar(db(), item, k=5) if v.match.score >= current_app.config["DUPLICATE_MIN_SCORE"]] \
        if reviewer else []
    latest = feedback.latest_for_pairs(db(), [feedback.pair_of(item, v.listing) for v in views]) if reviewer else None
    return views, similar, latest


@functools.lru_cache(maxsize=1)
def _template_digest() -> str:
    """The results template's source: a deploy that changes it does not serve pages rendered by the old one."""
    source = current_app.jinja_env.loader.get_source(current_app.jinja_env, "matches/_results.html")[0]
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _render_results(kind: str, item, k: int, here: str, reviewer: bool, views: list, similar: list, latest,
                    problem: Optional[str] = None) -> str:
    """The results fragment: strong and possible matches listed, weak ones folded (an empty state above them
    when nothing reaches the middle band); the next steps it offers depend on the role only (reviewer)."""
    listed, weak = bands.split_views(views)
    band_words = {band: str(label) for band, label in BAND_LABELS.items()}  # translated once, not per result
    return render_template("matches/_results.html", kind=kind, item=item, listed=listed, weak=weak, similar=similar,
                           k=k, problem=problem, marked=marked, pair_of=feedback.pair_of, latest=latest, here=here,
                           reviewer=reviewer, band_words=band_words, strong=bands.has_strong(views),
                           can_introduce=item.status == "published", csrf=CSRF_SLOT,
                           intro_action=url_for("introductions.request_intro"), locale=locale_code(),
                           region_names=taxonomy.region_names(db(), locale_code()))
