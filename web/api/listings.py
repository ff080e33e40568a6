"""API endpoints for demands and achievements: list, detail, create/update drafts, submit, matches."""
from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services import bands, clock, feedback, listings, taxonomy
from services import search as search_service
from services.errors import NotFound, ServiceError
from services.matching import MatchingUnavailable

from .. import policy, security
from ..api_messages import api_notice
from ..db import db, separate_unit
from ..errors import message_for
from ..i18n import locale_code, platform_zone
from ..matches import reranker, runtime
from . import schemas as s
from .core import api_blueprint

PUBLIC = [{}, {"bearerAuth": []}]   # anonymous or with a token
TOKEN = [{"bearerAuth": []}]        # a token is required
OWNER_ROLE = {"demand": policy.COMPANY, "achievement": policy.UNIVERSITY}
SCHEMAS = {"demand": (s.DemandOut, s.DemandPage, s.DemandIn, s.DemandFilterArgs, s.DemandPatch),
           "achievement": (s.AchievementOut, s.AchievementPage, s.AchievementIn, s.AchievementFilterArgs,
                           s.AchievementPatch)}
# service error code -> (HTTP status, field it concerns)
SERVICE_ERRORS = {"listing.unknown_field": (422, "field_code"), "listing.no_mode": (422, "modes"),
                  "listing.budget_order": (422, "budget_max"), "listing.deadline_past": (422, "deadline"),
                  "listing.stage_trl": (422, "trl"), "listing.wrong_role": (403, None),
                  "listing.not_editable": (409, None), "listing.bad_transition": (409, None),
                  "listing.forbidden": (403, None), "not_found": (404, None)}


def dump(item: Any, viewer: Any) -> dict[str, Any]:
    """A listing as the viewer may see it: contact details only where can_see_contact allows."""
    insider = listings.is_owner(viewer, item) or listings.is_reviewer(viewer)
    out = {"id": item.id, "kind": item.kind, "title": item.title, "field": item.field.code,
           "field_name": item.field.name(locale_code()), "region": item.region, "keywords": item.keyword_list,
           "modes": item.modes, "status": item.status, "review_note": item.review_note if insider else None,
           "created_at": item.created_at, "updated_at": item.updated_at, "published_at": item.published_at,
           "contact": ({"name": item.contact_name, "phone": item.contact_phone, "email": item.contact_email}
                       if _contact_shown(viewer, item) else None)}
    for name in listings.KIND_FIELDS[item.kind]:
        out[name] = getattr(item, name)
    if item.kind == "achievement":
        out["negotiable"] = bool(item.negotiable)
        out["patents"] = [{"number": p.number, "kind": p.kind, "status": p.status} for p in item.patents]
    return out


def _contact_shown(viewer: Any, item: Any) -> bool:
    """Whether the answer carries the listing's contact; if so it is not cached, and a reveal to anyone but the
    owner is remembered for record_reveals (as the listing page audits it)."""
    if not listings.can_see_contact(viewer, item):
        return False
    security.no_store()
    if not listings.is_owner(viewer, item):
        g.setdefault("contact_reveals", []).append(item)
    return True


def record_reveals() -> None:
    """Audit the contacts this answer carries (contact.reveal, one per listing), in a short write transaction of
    its own as on the listing page (a GET request's session only reads)."""
    items = g.pop("contact_reveals", [])
    if not items:
        return
    with separate_unit() as ws:
        for item in items:
            listings.reveal_contact(ws, current_user, item)


def match_state(views: list) -> dict[str, Any]:
    """has_match: whether any match reaches the middle band; when none does, a message that says why (no
    published counterpart, or only weak matches) and what to do next, in the caller's language."""
    listed, weak = bands.split_views(views)
    strong = bands.has_strong(views)
    if strong:
        return {"has_match": True, "has_strong_match": True, "message": None}
    if listed:
        return {"has_match": True, "has_strong_match": False, "message": api_notice("match.no_strong")}
    return {"has_match": False, "has_strong_match": False,
            "message": api_notice("match.only_weak" if weak else "match.no_counterpart")}


def service_abort(err: ServiceError) -> None:
    """Answer a refused service call with its status, message and field."""
    status, field = SERVICE_ERRORS.get(err.code, (422, None))
    message = message_for(err)
    abort(status, code=err.code, message=message, errors={field: [message]} if field else None)


def _check_input(kind: str, data: dict[str, Any], item: Any = None) -> None:
    """Rules the schema cannot express (reference data, cross-field), as field errors."""
    errors: dict[str, list[str]] = {}
    if "region" in data and data["region"] not in taxonomy.region_names(db(), "zh"):
        errors["region"] = [_("Choose a region from the list.")]
    if kind == "demand" and data.get("deadline") and data["deadline"] < clock.today() and \
            (item is None or data["deadline"] != item.deadline):
        errors["deadline"] = [_("The deadline must be today or later.")]
    if kind == "achievement":
        price = data.get("price", item.price if item is not None else None)
        negotiable = data.get("negotiable", item.negotiable if item is not None else False)
        if price is None and not negotiable:
            errors["price"] = [_("Enter an asking price or tick 'Price negotiable'.")]
    if errors:
        abort(422, code="validation_error", errors=errors)


def _get(kind: str, listing_id: int) -> Any:
    try:
        return listings.get_listing(db(), kind, listing_id, current_user)
    except NotFound:
        abort(404, code="not_found")


def make_blueprint(kind: str) -> Blueprint:
    """The API blueprint for one kind of listing."""
    out_schema, page_schema, in_schema, filter_args, patch_schema = SCHEMAS[kind]
    bp = api_blueprint(Blueprint(f"api_{kind}s", __name__, url_prefix=f"/api/v1/{kind}s",
                                 description=f"{kind.capitalize()}s: published ones are public; owners create drafts."))
    owner = OWNER_ROLE[kind]
    name = bp.name
    policy.allow(f"{name}.Collection", "GET", policy.ALL_ROLES, note="published; reviewers may filter by status")
    policy.allow(f"{name}.Collection", "POST", {owner}, relation="self", note="creates a draft of one's own")
    policy.allow(f"{name}.Item", "GET", policy.ALL_ROLES, relation="any", note="listings.can_view")
    policy.allow(f"{name}.Item", "PATCH", {owner}, relation="owner")
    policy.allow(f"{name}.submit", "POST", {owner}, relation="owner")
    policy.allow(f"{name}.matches", "GET", {owner} | policy.STAFF, relation="owner_or_staff",
                 note="owner of a published listing, or staff")

    @bp.route("/")
    class Collection(MethodView):
        @bp.arguments(filter_args, location="query")
        @bp.response(200, page_schema)
        @bp.doc(security=PUBLIC)
        def get(self, args: dict[str, Any]):
            """List listings with filters and pagination."""
            f = listings.SearchFilters(q=args["q"], field=args["field"], region=args["region"],
                                       mode=args["mode"], status=args["status"], since=args["since"],
                                       until=args["until"], stage=args.get("stage", ""),
                                       budget=args.get("budget"), max_price=args.get("max_price"),
                                       zone=platform_zone())
            if f.q.strip():  # a text query runs the embedding model: counted per address, as on the pages
                security.throttle().hit("search_address", security.client_ip() or "-")
            rows, total, _ranked = search_service.search(db(), current_app.extensions["matching"], kind, f,
                                                         current_user, args["page"], args["per_page"])
            out = {"items": [dump(r, current_user) for r in rows], "page": args["page"],
                   "per_page": args["per_page"], "total": total}
            record_reveals()
            return out

        @bp.arguments(in_schema)
        @bp.response(201, out_schema)
        @bp.doc(security=TOKEN)
        def post(self, data: dict[str, Any]):
            """Create a draft owned by the token's user."""
            _check_input(kind, data)
            try:
                item = listings.create_listing(db(), kind, current_user, data)
            except ServiceError as err:
                service_abort(err)  # raises: the unit rolls back
            return dump(item, current_user)

    @bp.route("/<int(max=2147483647):listing_id>")
    class Item(MethodView):
        @bp.response(200, out_schema)
        @bp.doc(security=PUBLIC)
        def get(self, listing_id: int):
            """One listing, if the caller may see it."""
            out = dump(_get(kind, listing_id), current_user)
            record_reveals()
            return out

        @bp.arguments(patch_schema(partial=True))
        @bp.response(200, out_schema)
        @bp.doc(security=TOKEN)
        def patch(self, data: dict[str, Any], listing_id: int):
            """Change one's own listing (a published one goes back to review)."""
            try:
                item = listings.get_owned(db(), kind, listing_id, current_user)
            except NotFound:
                abort(404, code="not_found")
            _check_input(kind, data, item)
            try:
                listings.update_listing(db(), item, current_user, data)
            except ServiceError as err:
                service_abort(err)  # raises: the unit rolls back
            return dump(item, current_user)

    @bp.route("/<int(max=2147483647):listing_id>/submit", methods=["POST"])
    @bp.response(200, out_schema)
    @bp.doc(security=TOKEN)
    def submit(listing_id: int):
        """Submit one's own draft (or sent-back listing) for review."""
        try:
            item = listings.get_owned(db(), kind, listing_id, current_user)
            listings.transition(db(), item, current_user, "submit")
        except ServiceError as err:
            service_abort(err)  # raises: the unit rolls back
        return dump(item, current_user)

    @bp.route("/<int(max=2147483647):listing_id>/matches")
    @bp.arguments(s.MatchArgs, location="query")
    @bp.response(200, s.MatchList)
    @bp.alt_response(503, schema=s.ApiErrorSchema, description="matching index unavailable")
    @bp.doc(security=TOKEN)
    def matches(args: dict[str, Any], listing_id: int):
        """Ranked counterparts with the engine's explanation and band (owner of a published listing, or staff).

        has_match is false when no counterpart reaches the middle band, has_strong_match when none reaches the top
        one; then a message says so and what to do next."""
        item = _get(kind, listing_id)
        staff = listings.is_reviewer(current_user)
        if not (staff or (listings.is_owner(current_user, item) and item.status == "published")):
            abort(404, code="not_found")
        try:
            # as on the match page: learned re-ranking, pairs set aside as not relevant last
            views = feedback.rerank(db(), item, runtime().find_matches(db(), item, k=args["k"]), reranker())
        except MatchingUnavailable:
            current_app.logger.warning("matching unavailable for the API")
            abort(503, code="matching_unavailable",
                  message=_("Matching is not available right now: the search index must be rebuilt."))
        out = {"items": [{"score": v.match.score, "band": v.match.band,
                          "set_aside": bool(getattr(v, "set_aside", False)), "breakdown": v.match.breakdown,
                          "shared_terms": list(v.match.shared_terms), "best_sentence": v.match.best_sentence,
                          "reasons": dict(v.match.reasons), "listing": dump(v.listing, current_user)}
                         for v in views], **match_state(views)}
        record_reveals()
        return out

    return bp


demands_api = make_blueprint("demand")
achievements_api = make_blueprint("achievement")
