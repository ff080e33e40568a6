"""API of the broker operations (issue 21 part 4), with the pages' visibility rules: a broker's caseload (admins
any broker's), the overdue queue (staff), routing rules (admins), the broker's own profile (read and change),
and the per-broker performance figures (staff)."""
from __future__ import annotations

from typing import Any, Optional

import marshmallow as ma
from flask import current_app
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from models import CERTIFICATE_LEVELS, Role, User
from services import brokerage
from services.errors import NotFound, ServiceError

from .. import policy
from ..brokerage_forms import message
from ..db import abandon, db
from ..i18n import platform_zone
from . import schemas as s
from .core import api_blueprint

TOKEN = [{"bearerAuth": []}]
bp = api_blueprint(Blueprint("api_brokerage", __name__, url_prefix="/api/v1/brokerage",
                             description="Broker operations: caseloads, routing rules, profiles, performance."))
policy.allow("api_brokerage.caseload", "GET", policy.STAFF, relation="self",
             note="the caller's caseload; admins name a broker")
policy.allow("api_brokerage.overdue", "GET", policy.STAFF, note="open demands idle for N days")
policy.allow("api_brokerage.rules", "GET", {policy.ADMIN}, note="routing rules")
policy.allow("api_brokerage.profile", "GET", {policy.BROKER}, relation="self", note="the caller's own broker profile")
policy.allow("api_brokerage.profile_update", "PUT", {policy.BROKER}, relation="self",
             note="replace the caller's own broker profile")
policy.allow("api_brokerage.performance", "GET", policy.STAFF, note="per-broker figures")


class CaseOut(ma.Schema):
    demand_id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    broker_id = fields.Integer(allow_none=True)
    assigned_at = fields.DateTime(allow_none=True)
    last_action_at = fields.DateTime(allow_none=True)
    days_idle = fields.Integer(allow_none=True)
    opportunities = fields.Integer(required=True)


class CaseList(ma.Schema):
    items = fields.List(fields.Nested(CaseOut), required=True)


class CaseloadArgs(ma.Schema):
    broker = s.Whole(load_default=None, validate=validate.Range(min=1, max=2_147_483_647),
                     metadata={"description": "admins: whose caseload"})


class OverdueArgs(ma.Schema):
    days = s.Whole(load_default=None, validate=validate.Range(min=1, max=365))


class RuleOut(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    field_code = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    priority = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    broker_ids = fields.List(fields.Integer(), required=True)
    assigned = fields.Integer(required=True)


class RuleList(ma.Schema):
    items = fields.List(fields.Nested(RuleOut), required=True)


class ProfileOut(ma.Schema):
    user_id = fields.Integer(required=True)
    certificate_level = fields.String(allow_none=True)
    certificate_number = fields.String(required=True)
    training_hours = fields.Integer(required=True)
    field_codes = fields.List(fields.String(), required=True)
    region_codes = fields.List(fields.String(), required=True)


class ProfileIn(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    certificate_level = fields.String(load_default=None, allow_none=True,
                                      validate=validate.OneOf(CERTIFICATE_LEVELS))
    certificate_number = fields.String(load_default="", validate=validate.Length(max=40))
    training_hours = s.Whole(load_default=0, validate=validate.Range(min=0, max=10000))
    field_codes = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list,
                              validate=validate.Length(max=100))
    region_codes = fields.List(fields.String(validate=validate.Length(max=32)), load_default=list,
                               validate=validate.Length(max=200))


class PerformanceArgs(ma.Schema):
    since = s.Day(load_default=None)
    until = s.Day(load_default=None)


class FiguresOut(ma.Schema):
    broker_id = fields.Integer(required=True)
    name = fields.String(required=True)
    introductions = fields.Integer(required=True)
    agreed = fields.Integer(required=True)
    opportunities = fields.Integer(required=True)
    contracts = fields.Integer(required=True)
    amount = fields.Decimal(required=True, as_string=True, metadata={"type": "string", "format": "decimal", "description": "10k yuan"})


class FiguresList(ma.Schema):
    items = fields.List(fields.Nested(FiguresOut), required=True)


def _case(r: brokerage.CaseRow) -> dict[str, Any]:
    return {"demand_id": r.demand.id, "title": r.demand.title, "status": r.demand.status,
            "broker_id": r.broker.id if r.broker else None, "assigned_at": r.assigned_at,
            "last_action_at": r.last_action, "days_idle": r.days_idle(), "opportunities": r.opportunities}


def _profile(p: Any) -> dict[str, Any]:
    return {"user_id": p.user_id, "certificate_level": p.certificate_level,
            "certificate_number": p.certificate_number or "", "training_hours": p.training_hours or 0,
            "field_codes": [f.code for f in p.fields], "region_codes": [r.code for r in p.regions]}


@bp.route("/caseload", endpoint="caseload")
@bp.arguments(CaseloadArgs, location="query")
@bp.response(200, CaseList)
@bp.doc(security=TOKEN)
def caseload(args: dict[str, Any]) -> dict[str, Any]:
    """The caller's assigned demands (admins: the named broker's), longest idle first."""
    broker: Optional[User] = current_user if current_user.role == Role.BROKER.value else None
    if current_user.role == Role.ADMIN.value:
        if args["broker"] is None:
            abort(422, code="validation", message=message(ServiceError("brokerage.not_a_broker")),
                  errors={"broker": [message(ServiceError("brokerage.not_a_broker"))]})
        user = db().get(User, args["broker"])
        if user is None or user.role != Role.BROKER.value:
            abort(404, code="not_found")
        broker = user
    return {"items": [_case(r) for r in brokerage.caseload(db(), broker)]}


@bp.route("/overdue", endpoint="overdue")
@bp.arguments(OverdueArgs, location="query")
@bp.response(200, CaseList)
@bp.doc(security=TOKEN)
def overdue(args: dict[str, Any]) -> dict[str, Any]:
    """Open demands nobody acted on for `days` days (default DEMAND_OVERDUE_DAYS), assigned or not."""
    days = args["days"] or brokerage.overdue_days(current_app.config.get("DEMAND_OVERDUE_DAYS"))
    return {"items": [_case(r) for r in brokerage.overdue(db(), days)]}


@bp.route("/rules", endpoint="rules")
@bp.response(200, RuleList)
@bp.doc(security=TOKEN)
def rules() -> dict[str, Any]:
    """Every routing rule, most specific first."""
    return {"items": [{"id": r.id, "name": r.name, "field_code": r.field.code if r.field else None,
                       "region_code": r.region.code if r.region else None, "priority": r.priority,
                       "active": r.active, "broker_ids": [b.id for b in r.brokers], "assigned": r.rr_position}
                      for r in brokerage.rules(db())]}


@bp.route("/profile", endpoint="profile", methods=["GET"])
@bp.response(200, ProfileOut)
@bp.doc(security=TOKEN)
def profile_get() -> dict[str, Any]:
    """The caller's broker profile."""
    return _profile(brokerage.profile_of(db(), current_user))


_PROFILE_FIELDS = {"brokerage.bad_level": "certificate_level", "brokerage.certificate_number": "certificate_number",
                   "brokerage.training_hours": "training_hours", "brokerage.unknown_field": "field_codes",
                   "brokerage.unknown_region": "region_codes"}


@bp.route("/profile", endpoint="profile_update", methods=["PUT"])
@bp.arguments(ProfileIn)
@bp.response(200, ProfileOut)
@bp.doc(security=TOKEN)
def profile_put(data: dict[str, Any]) -> dict[str, Any]:
    """Replace the caller's broker profile."""
    try:
        saved = brokerage.save_profile(db(), current_user, data)
    except NotFound:
        abort(404, code="not_found")
    except ServiceError as err:
        abandon()
        text = message(err)
        field = _PROFILE_FIELDS.get(err.code)
        abort(422, code=err.code, message=text, errors={field: [text]} if field else None)
    return _profile(saved)


@bp.route("/performance", endpoint="performance")
@bp.arguments(PerformanceArgs, location="query")
@bp.response(200, FiguresList)
@bp.doc(security=TOKEN)
def performance(args: dict[str, Any]) -> dict[str, Any]:
    """Per broker in the period: introductions made and agreed, opportunities, registered contracts, amount."""
    if args["since"] and args["until"] and args["until"] < args["since"]:
        text = message(ServiceError("brokerage.bad_period"))
        abort(422, code="brokerage.bad_period", message=text, errors={"until": [text]})
    rows = brokerage.performance(db(), args["since"], args["until"], platform_zone())
    return {"items": [{"broker_id": r.broker.id, "name": r.broker.display_name, "introductions": r.introductions,
                       "agreed": r.agreed, "opportunities": r.opportunities, "contracts": r.contracts,
                       "amount": r.amount} for r in rows]}
