"""The industry-chain map (产业链图谱) for brokers and admins: the chains, each drawn as a server-rendered SVG in
upstream / midstream / downstream columns with its node counts and gaps for a region node, a node's listings,
downloads (SVG, .xlsx), and a broker's correction of a listing's node (kept through recomputation).

Who: brokers and admins (the map counts contracts and names gaps for planning; listers see their listings
elsewhere). A node's matches are the pairs of a published demand and a published achievement both placed on it
(the node's published demands times its achievements; services.chains.node_listings lists each
listing's matches on the node). Brokers also add a
listing to a node or take it off; admins edit chains, nodes and edges (web/chain_admin.py)."""
from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from services import chains, exports, regions
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .chain_forms import KIND_LABELS, ListingOnNodeForm, PlaceForm
from .chain_svg import layout
from .db import db
from .errors import message_for, refusal
from .i18n import locale_code

bp = Blueprint("chains", __name__, url_prefix="/chains")
STAFF = ("broker", "admin")
_NOTE = "the industry-chain map: brokers and admins (contract counts and gaps are planning data)"
policy.allow("chains.index", "GET", policy.STAFF, note=_NOTE)
policy.allow("chains.show", "GET", policy.STAFF, note=_NOTE)
policy.allow("chains.svg", "GET", policy.STAFF, note=_NOTE + ": the map as an SVG file")
policy.allow("chains.export", "GET", policy.STAFF, note=_NOTE + ": node counts and listings as .xlsx")
policy.allow("chains.place", "POST", policy.STAFF, note="a broker moves a listing to another node of the chain")
policy.allow("chains.add_listing", "POST", policy.STAFF, note="a broker adds a published listing to a node")
policy.allow("chains.remove_listing", "POST", policy.STAFF, note="a broker takes a listing off a node (kept off)")
FIELD_LABELS = {"code": _l("the code"), "name_zh": _l("the Chinese name"), "name_en": _l("the English name"),
                "description": _l("the description"), "leaders": _l("the chain leaders"),
                "quantity": _l("the quantity")}
STAGE_LABELS = {"upstream": _l("Upstream"), "midstream": _l("Midstream"), "downstream": _l("Downstream")}


def message(err: ServiceError) -> str:
    """The message for a refusal of the chain map, in the current language."""
    found = {
        "chain.unknown": lambda: _("No such industry chain: choose one from the list of chains."),
        "chain.unknown_node": lambda: _("No such node on this chain: choose a node shown on the map."),
        "chain.node_elsewhere": lambda: _("That node belongs to another chain: choose a node of this chain."),
        "chain.unknown_listing": lambda: _("No such published demand or achievement: check the id."),
        "chain.bad_kind": lambda: _("Choose demand or achievement."),
        "chain.unknown_region": lambda: _("Unknown region: choose one from the list."),
        "chain.already_on_node": lambda: _("That listing is already on this node."),
        "chain.not_on_node": lambda: _("That listing is not on this node."),
        "chain.unknown_edge": lambda: _("No such edge on this chain."),
        "chain.required": lambda: _("Fill in %(field)s.", field=FIELD_LABELS.get(err.params.get("field"),
                                                                               err.params.get("field"))),
        "chain.too_long": lambda: _("%(field)s is too long (at most %(limit)s characters).",
                                    field=FIELD_LABELS.get(err.params.get("field"), err.params.get("field")),
                                    limit=err.params.get("limit")),
        "chain.bad_code": lambda: _("Use lower-case letters, digits, - and _ only (at most 32)."),
        "chain.duplicate_code": lambda: _("Another chain has this code: choose another code."),
        "chain.duplicate_node_code": lambda: _("Another node of this chain has this code: choose another code."),
        "chain.bad_stage": lambda: _("Choose upstream, midstream or downstream."),
        "chain.self_edge": lambda: _("An edge cannot lead from a node to itself."),
        "chain.duplicate_edge": lambda: _("There is already an edge between these two nodes."),
        "chain.cycle": lambda: _("This edge would make a cycle: supply flows one way along a chain."),
        "chain.bad_weight": lambda: _("Enter a weight between 0 and 1."),
    }.get(err.code)
    return found() if found is not None else message_for(err)


def _error(err: ServiceError, status: int):
    """A refusal answered with the error page (the unit of work is abandoned: nothing of it is kept)."""
    refusal(err)
    return render_template("errors/error.html", code=status, message=message(err)), status


@bp.route("/")
@roles_required(*STAFF)
def index():
    return render_template("chains/index.html", chains=chains.all_chains(db()))


def _region() -> tuple[Any, Optional[str]]:
    """The region node the page counts as local, and a message when the one asked for is unknown."""
    code = request.args.get("region", "").strip()[:64]
    node = regions.by_code(db(), code) if code else None
    if node is None:
        return chains.default_region(db(), home_region()), (message(ServiceError("chain.unknown_region")) if code else None)
    return node, None


def home_region() -> str:
    """The region code the map counts as local unless the page names one (CHAIN_HOME_REGION)."""
    return current_app.config.get("CHAIN_HOME_REGION") or "shaanxi"


def _map(chain_id: int, selected: Optional[int] = None) -> dict[str, Any]:
    chain = chains.get_chain(db(), chain_id)
    region, region_error = _region()
    stats = chains.node_stats(db(), chain, region)
    return {"chain": chain, "region": region, "region_error": region_error, "stats": stats,
            "region_code": region.code if region is not None else "", "lc": locale_code(),
            "lay": layout(stats, chains.edges(db(), chain), selected), "stage_labels": STAGE_LABELS}


NODE_PAGE_SIZE = 50  # listings of a node drawn per page


@bp.route("/<int:chain_id>")
@roles_required(*STAFF)
def show(chain_id: int):
    raw = request.args.get("node", "")
    try:
        node_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
        if raw and node_id is None:
            raise NotFound("chain.unknown_node")
        ctx = _map(chain_id, node_id)
        node = chains.get_node(db(), ctx["chain"], node_id) if node_id else None
    except NotFound as err:
        return _error(err, 404)
    except ServiceError as err:
        return _error(err, 422)
    removed = chains.removed_listings(db(), node) if node is not None else []
    # a busy node holds thousands of listings: drawing each row with its forms is what costs (1.3 s for 1,563 rows
    # in the capacity benchmark), so the page reads and draws NODE_PAGE_SIZE at a time and says of how many
    counts = chains.node_listing_counts(db(), node) if node is not None else {}
    total = sum(counts.values())
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 1
    page = min(max(page, 1), max(1, -(-total // NODE_PAGE_SIZE)))
    shown = (chains.node_listings(db(), ctx["chain"], node, offset=(page - 1) * NODE_PAGE_SIZE, limit=NODE_PAGE_SIZE,
                                  counts=counts) if node is not None else [])
    return render_template("chains/show.html", node=node, listed=shown, listed_total=total, page=page,
                           page_size=NODE_PAGE_SIZE, removed=removed, form=PlaceForm(),
                           add_form=ListingOnNodeForm(), kind_labels=KIND_LABELS,
                           regions=regions.choices(db(), ctx["lc"]), **ctx)


@bp.route("/<int:chain_id>/map.svg")
@roles_required(*STAFF)
def svg(chain_id: int):
    try:
        ctx = _map(chain_id)
    except NotFound as err:
        return _error(err, 404)
    body = render_template("chains/map.svg", **ctx)
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, mimetype="image/svg+xml",
                    headers={"Content-Disposition": f"attachment; filename=chain-{chain_id}.svg"})


@bp.route("/<int:chain_id>/export.xlsx")
@roles_required(*STAFF)
def export(chain_id: int):
    try:
        ctx = _map(chain_id)
    except NotFound as err:
        return _error(err, 404)
    lc = ctx["lc"]
    nodes = exports.Table([_("Stage"), _("Node"), _("Demands"), _("Achievements"), _("Local demands"),
                           _("Local achievements"), _("Matches"), _("Contracts"), _("Gap")], title=_("Nodes"))
    listed = exports.Table([_("Node"), _("Kind"), _("Id"), _("Title"), _("Placed by"), _("Score")], title=_("Listings"))
    for s in ctx["stats"]:
        gap = _("No local achievement") if s.needs_results else _("No local firm") if s.needs_firms else ""
        nodes.add([str(STAGE_LABELS[s.node.stage]), s.node.name(lc), s.demands, s.achievements, s.local_demands,
                   s.local_achievements, s.matches, s.contracts, gap])
        for p in chains.node_listings(db(), ctx["chain"], s.node):
            listed.add([s.node.name(lc), str(KIND_LABELS[p.kind]), p.item.id, p.item.title,
                        _("Broker") if p.placement.source == "broker" else _("Engine"), p.placement.score])
    return Response(exports.to_xlsx([nodes, listed]),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=chain-{chain_id}.xlsx"})


@bp.route("/<int:chain_id>/place", methods=["POST"])
@roles_required(*STAFF)
def place(chain_id: int):
    form = PlaceForm()
    back = url_for("chains.show", chain_id=chain_id, region=request.args.get("region", "")[:64] or None)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "danger")
        return redirect(back)
    try:
        chain = chains.get_chain(db(), chain_id)
        row = chains.move_listing(db(), current_user, chain, form.kind.data, form.listing_id.data, form.node_id.data)
    except ServiceError as err:
        if err.code == "chain.unknown":
            return _error(err, 404)
        refusal(err)  # nothing of a refused move is kept
        flash(message(err), "danger")
        return redirect(back)
    flash(_("Moved to %(node)s; the engine will leave it there.", node=row.node.name(locale_code())), "success")
    return redirect(url_for("chains.show", chain_id=chain_id, node=row.node_id,
                            region=request.args.get("region", "")[:64] or None) + "#listings")


def _on_node(chain_id: int, node_id: int, act: Any, done: str):
    """A broker's add or remove of a listing on a node: validated, refused with a flashed message (nothing
    kept), done with a flash; back to the node's listings."""
    form = ListingOnNodeForm()
    region = request.args.get("region", "")[:64] or None
    back = url_for("chains.show", chain_id=chain_id, node=node_id, region=region) + "#listings"
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "danger")
        return redirect(back)
    try:
        chain = chains.get_chain(db(), chain_id)
        act(db(), current_user, chain, form.kind.data, form.listing_id.data, node_id)
    except ServiceError as err:
        if err.code in ("chain.unknown", "chain.unknown_node"):
            return _error(err, 404)
        refusal(err)
        flash(message(err), "danger")
        return redirect(back)
    flash(done, "success")
    return redirect(back)


@bp.route("/<int:chain_id>/nodes/<int:node_id>/add", methods=["POST"])
@roles_required(*STAFF)
def add_listing(chain_id: int, node_id: int):
    return _on_node(chain_id, node_id, chains.add_listing, _("Added to the node; the engine will leave it there."))


@bp.route("/<int:chain_id>/nodes/<int:node_id>/remove", methods=["POST"])
@roles_required(*STAFF)
def remove_listing(chain_id: int, node_id: int):
    return _on_node(chain_id, node_id, chains.remove_listing,
                    _("Taken off the node; the engine will not put it back."))


