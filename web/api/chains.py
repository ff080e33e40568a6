"""API of issue 20 step 5 beside the register (web/api/contracts.py): the industry chains with their nodes,
edges and node counts, a node's listings with their matches on the node (brokers and admins, as on the map
pages: published listings only, no contact fields), the region targets (brokers and admins read; admins set
one with PUT) and the contract statistics of a period and region node (the same figures as
/contracts/statistics/)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Optional

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from sqlalchemy import select

from models import CHAIN_STAGES, Field, Region
from services import chains, clock, contract_stats as stats, regions
from services.errors import NotFound, ServiceError

from .. import policy
from ..chains import home_region, message as chain_message
from ..contract_messages import message as contract_message
from ..db import abandon, db
from . import schemas as s
from .core import api_blueprint

TOKEN = [{"bearerAuth": []}]
FOUR = Decimal("0.0001")
chains_bp = api_blueprint(Blueprint("api_chains", __name__, url_prefix="/api/v1/chains",
                                    description="Industry chains: nodes, edges, node counts and listings."))
targets_bp = api_blueprint(Blueprint("api_targets", __name__, url_prefix="/api/v1/targets",
                                     description="Yearly contract targets of region nodes."))
stats_bp = api_blueprint(Blueprint("api_contract_stats", __name__, url_prefix="/api/v1/contract-statistics",
                                   description="Contract statistics of a region node and period."))
_MAP = "as the chain map: brokers and admins (contract counts and gaps are planning data)"
policy.allow("api_chains.index", "GET", policy.STAFF, note=_MAP)
policy.allow("api_chains.detail", "GET", policy.STAFF, note=_MAP)
policy.allow("api_chains.node_listings", "GET", policy.STAFF, note=_MAP + "; published listings, no contacts")
policy.allow("api_targets.index", "GET", policy.STAFF, note="as the statistics page: brokers and admins")
policy.allow("api_targets.Target", "GET", policy.STAFF, note="one target with its progress")
policy.allow("api_targets.Target", "PUT", frozenset({policy.ADMIN}), note="admins set targets, as on /contracts/statistics/targets")
policy.allow("api_contract_stats.index", "GET", policy.STAFF, note="as /contracts/statistics/: brokers and admins")


def _refuse(err: ServiceError, text: str, field: Optional[str] = None) -> None:
    """Answer a refusal with its code and message; nothing of the request is kept."""
    abandon()
    if isinstance(err, NotFound):
        abort(404, code=err.code if err.code != "not_found" else "not_found", message=text)
    abort(422, code=err.code, message=text, errors={field: [text]} if field else None)


def _region(code: str, default: Optional[str] = None) -> Region:
    node = regions.by_code(db(), code or default or "")
    if node is None:
        text = chain_message(ServiceError("chain.unknown_region"))
        abort(422, code="chain.unknown_region", message=text, errors={"region": [text]})
    return node


# -- chains -------------------------------------------------------------------------------------------------
class ChainOut(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    description = fields.String(required=True)
    key_chain = fields.Boolean(required=True)
    leaders = fields.List(fields.String(), required=True, metadata={"description": "链主 enterprises"})
    version = fields.Integer(required=True, metadata={"description": "bumped by every edit of the chain"})
    nodes = fields.Integer(required=True, metadata={"description": "how many nodes"})


class ChainList(ma.Schema):
    items = fields.List(fields.Nested(ChainOut), required=True)


class NodeOut(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(CHAIN_STAGES))
    description = fields.String(required=True)
    demands = fields.Integer(required=True)
    achievements = fields.Integer(required=True)
    local_demands = fields.Integer(required=True)
    local_achievements = fields.Integer(required=True)
    matches = fields.Integer(required=True, metadata={
        "description": "pairs of a published demand and a published achievement both placed on the node"})
    contracts = fields.Integer(required=True, metadata={"description": "registered contracts of its listings"})
    gap = fields.String(allow_none=True, metadata={
        "description": "needs_results: local demands, no local achievement; needs_firms: achievements, no local demand"})


class EdgeOut(ma.Schema):
    id = fields.Integer(required=True)
    from_id = fields.Integer(required=True)
    to_id = fields.Integer(required=True)
    weight = fields.Float(allow_none=True)
    quantity = fields.String(required=True)


class ChainDetail(ChainOut):
    region = fields.String(required=True, metadata={"description": "the region node counted as local"})
    node_list = fields.List(fields.Nested(NodeOut), required=True, data_key="node_list")
    edges = fields.List(fields.Nested(EdgeOut), required=True)


class RegionArgs(ma.Schema):
    region = fields.String(load_default="", validate=validate.Length(max=64),
                           metadata={"description": "region code counted as local (default CHAIN_HOME_REGION)"})


class ListingRef(ma.Schema):
    kind = fields.String(required=True)
    id = fields.Integer(required=True)
    title = fields.String(required=True)


class PlacedOut(ListingRef):
    source = fields.String(required=True, metadata={"description": "engine or broker"})
    score = fields.Float(allow_none=True)
    matches = fields.List(fields.Nested(ListingRef), required=True, metadata={
        "description": "listings of the other kind on the same node, best placed first"})


class NodeListings(ma.Schema):
    node = fields.Nested(NodeOut, required=True)
    items = fields.List(fields.Nested(PlacedOut), required=True)


def _chain(c: Any) -> dict[str, Any]:
    return {"id": c.id, "code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "description": c.description,
            "key_chain": c.key_chain, "leaders": c.leader_list, "version": c.version, "nodes": len(c.nodes)}


def _node(st: Any) -> dict[str, Any]:
    n = st.node
    return {"id": n.id, "code": n.code, "name_zh": n.name_zh, "name_en": n.name_en, "stage": n.stage,
            "description": n.description, "demands": st.demands, "achievements": st.achievements,
            "local_demands": st.local_demands, "local_achievements": st.local_achievements, "matches": st.matches,
            "contracts": st.contracts,
            "gap": "needs_results" if st.needs_results else "needs_firms" if st.needs_firms else None}


def _get_chain(chain_id: int) -> Any:
    try:
        return chains.get_chain(db(), chain_id)
    except NotFound as err:
        _refuse(err, chain_message(err))


@chains_bp.route("/", endpoint="index")
@chains_bp.response(200, ChainList)
@chains_bp.doc(security=TOKEN)
def chains_index() -> dict[str, Any]:
    """Every industry chain, key chains first."""
    return {"items": [_chain(c) for c in chains.all_chains(db())]}


@chains_bp.route("/<int(max=2147483647):chain_id>", endpoint="detail")
@chains_bp.arguments(RegionArgs, location="query")
@chains_bp.response(200, ChainDetail)
@chains_bp.doc(security=TOKEN)
def chains_detail(args: dict[str, Any], chain_id: int) -> dict[str, Any]:
    """One chain: its nodes with their counts for a region node (and the gaps), and its edges."""
    chain = _get_chain(chain_id)
    node = _region(args["region"], home_region())
    stats_ = chains.node_stats(db(), chain, node)
    return {**_chain(chain), "region": node.code, "node_list": [_node(x) for x in stats_],
            "edges": [{"id": e.id, "from_id": e.from_id, "to_id": e.to_id, "weight": e.weight, "quantity": e.quantity}
                      for e in chains.edges(db(), chain)]}


@chains_bp.route("/<int(max=2147483647):chain_id>/nodes/<int(max=2147483647):node_id>/listings",
                 endpoint="node_listings")
@chains_bp.arguments(RegionArgs, location="query")
@chains_bp.response(200, NodeListings)
@chains_bp.doc(security=TOKEN)
def node_listings(args: dict[str, Any], chain_id: int, node_id: int) -> dict[str, Any]:
    """A node's published demands and achievements (brokers' placements first), each with its matches on
    the node; the node's counts equal this list."""
    chain = _get_chain(chain_id)
    try:
        node = chains.get_node(db(), chain, node_id)
    except ServiceError as err:
        _refuse(NotFound(err.code), chain_message(err))
    region = _region(args["region"], home_region())
    st = next(x for x in chains.node_stats(db(), chain, region) if x.node.id == node.id)

    def ref(p: Any) -> dict[str, Any]:
        return {"kind": p.kind, "id": p.item.id, "title": p.item.title}

    return {"node": _node(st), "items": [{**ref(p), "source": p.placement.source, "score": p.placement.score,
                                          "matches": [ref(q) for q in p.matches]}
                                         for p in chains.node_listings(db(), chain, node)]}


# -- targets ------------------------------------------------------------------------------------------------
class TotalsOut(ma.Schema):
    count = fields.Integer(required=True)
    amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal", "description": "成交额, 10k yuan"})
    tech_amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal", "description": "技术交易额, 10k yuan"})


class TargetOut(ma.Schema):
    region = fields.String(required=True)
    year = fields.Integer(required=True)
    measure = fields.String(required=True, metadata={"description": "output (sellers inside) or absorbed (buyers)"})
    amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal"})
    count = fields.Integer(allow_none=True)
    tech_amount = fields.Decimal(allow_none=True, as_string=True, metadata={"type": "string", "format": "decimal"})
    done = fields.Nested(TotalsOut, required=True, metadata={"description": "the year so far"})
    share = fields.Float(allow_none=True, metadata={"description": "amount done / target amount"})


class TargetList(ma.Schema):
    items = fields.List(fields.Nested(TargetOut), required=True)


class YearArgs(ma.Schema):
    year = s.Whole(load_default=None, validate=validate.Range(min=1985, max=2100))


class TargetIn(ma.Schema):
    # the amounts' range is the service's check (services.contract_stats.set_target: target.bad_amount, a translated
    # message); a marshmallow Range on a Decimal would put its bounds in the OpenAPI document as strings
    amount = fields.Decimal(required=True, allow_nan=False, metadata={"minimum": 0, "maximum": 1_000_000_000})
    count = s.Whole(load_default=None, allow_none=True, validate=validate.Range(min=0, max=999_999_999))
    tech_amount = fields.Decimal(load_default=None, allow_none=True, allow_nan=False,
                                 metadata={"minimum": 0, "maximum": 1_000_000_000})
    measure = fields.String(load_default="output", validate=validate.OneOf(("output", "absorbed")))


def _totals(t: Any) -> dict[str, Any]:
    return {"count": t.count, "amount": t.amount, "tech_amount": t.tech_amount}


def _four(value: Any) -> Optional[Decimal]:
    """An amount as stored (Numeric(14, 4)), whether just set or read back."""
    return Decimal(value).quantize(FOUR) if value is not None else None


def _target(row: Any) -> dict[str, Any]:
    prog = stats.progress(db(), row.region, row.year)
    return {"region": row.region.code, "year": row.year, "measure": row.measure or "output",
            "amount": _four(row.amount), "count": row.count, "tech_amount": _four(row.tech_amount),
            "done": _totals(prog.done), "share": prog.share}


@targets_bp.route("/", endpoint="index")
@targets_bp.arguments(YearArgs, location="query")
@targets_bp.response(200, TargetList)
@targets_bp.doc(security=TOKEN)
def targets_index(args: dict[str, Any]) -> dict[str, Any]:
    """Every region target of a year (default: this year) with where it stands."""
    return {"items": [_target(t) for t in stats.targets_of(db(), args["year"] or clock.today().year)]}


@targets_bp.route("/<string(maxlength=64):region>/<int(max=2100):year>")
class Target(MethodView):
    @targets_bp.response(200, TargetOut)
    @targets_bp.doc(security=TOKEN)
    def get(self, region: str, year: int):
        """A region node's target for a year with its progress; 404 when none is set."""
        row = stats.get_target(db(), _region(region), year)
        if row is None:
            abort(404, code="not_found")
        return _target(row)

    @targets_bp.arguments(TargetIn)
    @targets_bp.response(200, TargetOut)
    @targets_bp.doc(security=TOKEN)
    def put(self, data: dict[str, Any], region: str, year: int):
        """Set (create or replace) a region node's target for a year (admins)."""
        node = _region(region)
        try:
            row = stats.set_target(db(), current_user, node, year, data["amount"], data["count"],
                                   data["tech_amount"], measure=data["measure"])
        except ServiceError as err:
            _refuse(err, contract_message(err), "amount" if err.code == "target.bad_amount" else None)
        return _target(row)


# -- statistics ---------------------------------------------------------------------------------------------
_FIRST_ROOT = select(Region).where(Region.parent_id.is_(None)).order_by(Region.position, Region.id).limit(1)


class StatsArgs(ma.Schema):
    region = fields.String(load_default="", validate=validate.Length(max=64),
                           metadata={"description": "region code (default: the first province)"})
    kind = fields.String(load_default="year", validate=validate.OneOf(("year", "quarter", "month", "custom")))
    year = s.Whole(load_default=None, validate=validate.Range(min=1985, max=2100))
    part = s.Whole(load_default=0, validate=validate.Range(min=0, max=12))
    start = s.Day(load_default=None)
    end = s.Day(load_default=None, metadata={"description": "inclusive"})


class FlowOut(ma.Schema):
    output = fields.Nested(TotalsOut, required=True)
    absorbed = fields.Nested(TotalsOut, required=True)
    local = fields.Nested(TotalsOut, required=True)


class YoyOut(ma.Schema):
    now = fields.Nested(TotalsOut, required=True)
    before = fields.Nested(TotalsOut, required=True)
    change = fields.Float(allow_none=True, metadata={"description": "amount change, %"})


class KeyedTotals(TotalsOut):
    key = fields.String(allow_none=True)


class ChildOut(ma.Schema):
    region = fields.String(required=True)
    flows = fields.Nested(FlowOut, required=True)


class StatsOut(ma.Schema):
    region = fields.String(required=True)
    period = fields.Dict(required=True, metadata={"description": "start, end (inclusive), kind, label"})
    flows = fields.Nested(FlowOut, required=True)
    local_rate = fields.Float(allow_none=True, metadata={"description": "local / output amount, 0-1"})
    year_on_year = fields.Dict(keys=fields.String(), values=fields.Nested(YoyOut), required=True)
    by_type = fields.List(fields.Nested(KeyedTotals), required=True)
    by_field = fields.List(fields.Nested(KeyedTotals), required=True, metadata={"description": "key: field code"})
    by_child = fields.List(fields.Nested(ChildOut), required=True)
    by_broker = fields.List(fields.Nested(KeyedTotals), required=True, metadata={"description": "key: user id"})
    target = fields.Nested(TargetOut, allow_none=True)


@stats_bp.route("/", endpoint="index")
@stats_bp.arguments(StatsArgs, location="query")
@stats_bp.response(200, StatsOut)
@stats_bp.doc(security=TOKEN)
def stats_index(args: dict[str, Any]) -> dict[str, Any]:
    """The figures of /contracts/statistics/ for a region node and period (year, quarter, month or days)."""
    node = _region(args["region"]) if args["region"] else (db().scalar(_FIRST_ROOT) or _region(""))
    try:
        p = stats.period(args["kind"], args["year"] or clock.today().year, args["part"], args["start"], args["end"])
    except ServiceError as err:
        _refuse(err, contract_message(err), "kind")
    flows = stats.flows(db(), node, p)
    yoy = stats.year_on_year(db(), node, p)
    codes = dict(db().execute(select(Field.id, Field.code)).all())
    year = p.year
    target = stats.get_target(db(), node, year) if year else None
    return {"region": node.code,
            "period": {"start": p.start.isoformat(), "end": date.fromordinal(p.end.toordinal() - 1).isoformat(),
                       "kind": p.kind, "label": p.label},
            "flows": {k: _totals(v) for k, v in flows.items()}, "local_rate": stats.local_rate(flows),
            "year_on_year": {k: {"now": _totals(a), "before": _totals(b), "change": c} for k, (a, b, c) in yoy.items()},
            "by_type": [{"key": k, **_totals(t)} for k, t in stats.by_type(db(), node, p)],
            "by_field": [{"key": codes.get(k), **_totals(t)} for k, t in stats.by_field(db(), node, p)],
            "by_child": [{"region": c.code, "flows": {k: _totals(v) for k, v in f.items()}}
                         for c, f in stats.by_child(db(), node, p)],
            "by_broker": [{"key": str(k) if k else None, **_totals(t)} for k, t in stats.by_broker(db(), node, p)],
            "target": _target(target) if target is not None else None}

