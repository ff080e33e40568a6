"""API of the service directory (科技大市场): anyone reads the published entries (contacts only where the pages
show them: owner, staff, or a user whose request the provider accepted); a provider creates, edits and submits
its own entries."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from models import INVESTOR_STAGES, PROVIDER_KINDS, Provider
from services import directory, listings
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import abandon, db
from ..directory import message
from . import schemas as s
from .core import api_blueprint

PUBLIC = [{}, {"bearerAuth": []}]   # anonymous or with a token
TOKEN = [{"bearerAuth": []}]
bp = api_blueprint(Blueprint("api_directory", __name__, url_prefix="/api/v1/directory",
                             description="The service directory (科技大市场): agencies, platforms, labs, IP "
                                         "services, investors and experts."))
policy.allow("api_directory.index", "GET", policy.ALL_ROLES, note="published entries; contacts per can_see_contact")
policy.allow("api_directory.detail", "GET", policy.ALL_ROLES, note="directory.can_view; contacts per can_see_contact")
policy.allow("api_directory.create", "POST", (policy.PROVIDER,), note="a new draft entry of the caller")
policy.allow("api_directory.update", "PATCH", (policy.PROVIDER,), relation="owner", note="404 for another's entry")
policy.allow("api_directory.submit", "POST", (policy.PROVIDER,), relation="owner", note="submit for review")


class ProviderOut(ma.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    field_codes = fields.List(fields.String(), required=True)
    region = fields.String(allow_none=True)
    services = fields.String(required=True)
    equipment = fields.String(required=True)
    capacity = fields.String(required=True)
    stages = fields.List(fields.String(), required=True)
    ticket_min = fields.Float(allow_none=True, metadata={"description": "10k yuan"})
    ticket_max = fields.Float(allow_none=True, metadata={"description": "10k yuan"})
    website = fields.String(required=True)
    status = fields.String(required=True)
    contact = fields.Nested(s.ContactSchema, allow_none=True,
                            metadata={"description": "null unless the caller may see it (double opt-in)"})


class ProviderPage(ma.Schema):
    items = fields.List(fields.Nested(ProviderOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class DirectoryArgs(s.PageArgs):
    q = fields.String(load_default="", validate=validate.Length(max=100))
    kind = fields.String(load_default="", validate=validate.OneOf(("",) + PROVIDER_KINDS))
    field = fields.String(load_default="", validate=validate.Length(max=64))
    region = fields.String(load_default="", validate=validate.Length(max=32))


def _text(limit: int, required: bool = False, minimum: int = 0) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=minimum, max=limit))


class ProviderIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(PROVIDER_KINDS))
    name = _text(120, True, 2)
    description = _text(4000, True, 10)
    field_codes = s.UniqueList(fields.String(validate=validate.Length(max=64)), required=True,
                               validate=validate.Length(min=1, max=10))
    region = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    services = _text(2000)
    equipment = _text(2000)
    capacity = _text(300)
    stages = s.UniqueList(fields.String(validate=validate.OneOf(INVESTOR_STAGES)), load_default=list)
    ticket_min = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                              validate=validate.Range(min=0, max=1_000_000))
    ticket_max = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                              validate=validate.Range(min=0, max=1_000_000))
    website = _text(200)
    contact_name = _text(50, True, 1)
    contact_phone = _text(32, True, 5)
    contact_email = fields.Email(required=True, validate=validate.Length(max=254))


FIELD_OF = {"directory.ticket_order": "ticket_max"}


def _out(p: Provider) -> dict[str, Any]:
    contact = None
    if directory.can_see_contact(db(), current_user, p):
        contact = {"name": p.contact_name, "phone": p.contact_phone, "email": p.contact_email}
    return {**{k: getattr(p, k) for k in ProviderOut._declared_fields if k != "contact"}, "contact": contact}


def _refused(err: ServiceError) -> None:
    abandon()  # the abort below raises too: nothing of the refused call is kept
    if isinstance(err, NotFound):
        abort(404, code="not_found")
    text = message(err)
    field = FIELD_OF.get(err.code) or err.params.get("field")
    abort(422, code=err.code, message=text, errors={str(field): [text]} if field else None)


@bp.route("/", endpoint="index", methods=["GET"])
@bp.arguments(DirectoryArgs, location="query")
@bp.response(200, ProviderPage)
@bp.doc(security=PUBLIC)
def index(args: dict[str, Any]) -> dict[str, Any]:
    """Published entries matching the filters, newest first; a token is optional."""
    f = directory.DirectoryFilter(q=args["q"], kind=args["kind"], field=args["field"], region=args["region"])
    rows, total = listings.page(db(), directory.search_stmt(db(), f, current_user), args["page"], args["per_page"])
    return {"items": [_out(r) for r in rows], "page": args["page"], "per_page": args["per_page"], "total": total}


@bp.route("/<int(max=2147483647):provider_id>", endpoint="detail", methods=["GET"])
@bp.response(200, ProviderOut)
@bp.doc(security=PUBLIC)
def detail(provider_id: int) -> dict[str, Any]:
    """One entry: published ones for everyone, drafts for their owner and staff."""
    try:
        return _out(directory.get(db(), provider_id, current_user))
    except NotFound:
        abort(404, code="not_found")


@bp.route("/", endpoint="create", methods=["POST"])
@bp.arguments(ProviderIn)
@bp.response(201, ProviderOut)
@bp.doc(security=TOKEN)
def create(data: dict[str, Any]) -> dict[str, Any]:
    """A new draft entry of the calling provider."""
    try:
        return _out(directory.create(db(), current_user, data))
    except ServiceError as err:
        _refused(err)


@bp.route("/<int(max=2147483647):provider_id>", endpoint="update", methods=["PATCH"])
@bp.arguments(ProviderIn)
@bp.response(200, ProviderOut)
@bp.doc(security=TOKEN)
def update(data: dict[str, Any], provider_id: int) -> dict[str, Any]:
    """Replace an own entry's values (send them all); a published entry stays published."""
    try:
        provider = directory.get_owned(db(), provider_id, current_user)
        return _out(directory.update(db(), provider, current_user, data))
    except ServiceError as err:
        _refused(err)


@bp.route("/<int(max=2147483647):provider_id>/submit", endpoint="submit", methods=["POST"])
@bp.response(200, ProviderOut)
@bp.doc(security=TOKEN)
def submit(provider_id: int) -> dict[str, Any]:
    """Submit an own draft (or returned) entry for review by a broker."""
    try:
        provider = directory.get_owned(db(), provider_id, current_user)
        return _out(directory.transition(db(), provider, current_user, "submit"))
    except ServiceError as err:
        _refused(err)
