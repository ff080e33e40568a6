"""API read endpoints of issue 20: the region hierarchy (any signed-in caller: reference data) and the
technology-contract register (brokers and admins, as on the pages: company names and amounts are not public)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from models import TECH_CONTRACT_CATEGORIES, TechContract
from services import contracts, listings, regions
from services.errors import NotFound

from .. import policy
from ..db import db
from . import schemas as s
from .core import api_blueprint

TOKEN = [{"bearerAuth": []}]
regions_bp = api_blueprint(Blueprint("api_regions", __name__, url_prefix="/api/v1/regions",
                                     description="The region hierarchy: provinces down to parks."))
contracts_bp = api_blueprint(Blueprint("api_contracts", __name__, url_prefix="/api/v1/contracts",
                                       description="The technology-contract register (brokers and admins)."))
policy.allow("api_regions.index", "GET", policy.SIGNED_IN, note="reference data, no personal data")
policy.allow("api_contracts.index", "GET", policy.STAFF, note="the register, filtered and paged")
policy.allow("api_contracts.detail", "GET", policy.STAFF, note="one contract")


class RegionOut(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    level = fields.String(required=True)
    gb_code = fields.String(allow_none=True)
    parent_id = fields.Integer(allow_none=True)
    depth = fields.Integer(required=True)


class RegionList(ma.Schema):
    items = fields.List(fields.Nested(RegionOut), required=True)


class ContractOut(ma.Schema):
    id = fields.Integer(required=True)
    reg_number = fields.String(required=True)
    registered_on = fields.Date(allow_none=True)
    name = fields.String(required=True)
    contract_type = fields.String(required=True)
    category = fields.String(required=True)
    status = fields.String(required=True)
    seller_name = fields.String(required=True)
    seller_nature = fields.String(required=True)
    seller_region = fields.String(required=True)
    buyer_name = fields.String(required=True)
    buyer_nature = fields.String(required=True)
    buyer_region = fields.String(required=True)
    amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal", "description": "成交额, 10k yuan"})
    tech_amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal", "description": "技术交易额, 10k yuan"})
    signed_on = fields.Date(required=True)
    field_code = fields.String(allow_none=True)
    ip_kind = fields.String(required=True)
    demand_id = fields.Integer(allow_none=True)
    achievement_id = fields.Integer(allow_none=True)
    opportunity_id = fields.Integer(allow_none=True)
    challenge_id = fields.Integer(allow_none=True)


class ContractPage(ma.Schema):
    items = fields.List(fields.Nested(ContractOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class ContractFilterArgs(s.PageArgs):
    q = fields.String(load_default="", validate=validate.Length(max=100))
    category = fields.String(load_default="", validate=validate.OneOf(("",) + TECH_CONTRACT_CATEGORIES))
    status = fields.String(load_default="", validate=validate.OneOf(("", "registered", "not_registered")))
    region = fields.String(load_default="", validate=validate.Length(max=32),
                           metadata={"description": "a region code: contracts with either party in it or below"})
    field = fields.String(load_default="", validate=validate.Length(max=64))
    since = s.Day(load_default=None)
    until = s.Day(load_default=None)


def _contract(row: TechContract) -> dict[str, Any]:
    return {**{k: getattr(row, k) for k in ContractOut._declared_fields if hasattr(row, k)},
            "seller_region": row.seller_region.code, "buyer_region": row.buyer_region.code,
            "field_code": row.field.code if row.field else None}


@regions_bp.route("/", endpoint="index")
@regions_bp.response(200, RegionList)
@regions_bp.doc(security=TOKEN)
def index() -> dict[str, Any]:
    """Every region, depth first (each node followed by the nodes under it)."""
    return {"items": [{"id": n.region.id, "code": n.region.code, "name_zh": n.region.name_zh,
                       "name_en": n.region.name_en, "level": n.region.level, "gb_code": n.region.gb_code,
                       "parent_id": n.region.parent_id, "depth": n.depth} for n in regions.tree(db())]}


@contracts_bp.route("/", endpoint="index")
@contracts_bp.arguments(ContractFilterArgs, location="query")
@contracts_bp.response(200, ContractPage)
@contracts_bp.doc(security=TOKEN)
def contracts_index(args: dict[str, Any]) -> dict[str, Any]:
    """Contracts matching the filters, newest signing first."""
    f = contracts.ContractFilter(q=args["q"], category=args["category"], status=args["status"], region=args["region"],
                                 field=args["field"], since=args["since"], until=args["until"])
    rows, total = listings.page(db(), contracts.search_stmt(f), args["page"], args["per_page"])
    return {"items": [_contract(r) for r in rows], "page": args["page"], "per_page": args["per_page"], "total": total}


@contracts_bp.route("/<int(max=2147483647):contract_id>", endpoint="detail")
@contracts_bp.response(200, ContractOut)
@contracts_bp.doc(security=TOKEN)
def contracts_detail(contract_id: int) -> dict[str, Any]:
    """One contract of the register."""
    try:
        return _contract(contracts.get(db(), contract_id))
    except NotFound:
        abort(404, code="not_found")
