"""API of the advisory panel (科技顾问团, issue 21), with the pages' visibility: staff create and read every panel
(with each advisor's scores); an achievement's owner reads its panels' summary; an advisor lists the panels
assigned to them and submits their own review, never seeing another advisor's scores. Others: 404."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from models import Panel
from services import panels
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import db
from . import schemas as s
from .core import abort_for_service_error, api_blueprint

TOKEN = [{"bearerAuth": []}]
SERVICE_ERRORS = {"panel.bad_achievement": (422, "achievement_id"), "panel.bad_advisor": (422, "advisor_ids"),
                  "panel.no_advisors": (422, "advisor_ids"), "panel.too_many": (422, "advisor_ids"),
                  "panel.conflict": (409, "advisor_ids"), "panel.bad_deadline": (422, "deadline"),
                  "panel.bad_roadshow": (422, "roadshow_id"), "panel.exists": (409, "achievement_id"),
                  "panel.bad_note": (422, "note"),
                  "panel.deadline_passed": (409, None), "panel.bad_score": (422, None),
                  "panel.bad_comment": (422, "comment"), "panel.bad_value": (422, "value_min"),
                  "panel.value_required": (422, "value_min"), "panel.value_order": (422, "value_max")}

bp = api_blueprint(Blueprint("api_panels", __name__, url_prefix="/api/v1/panels",
                             description="The advisory panel (科技顾问团): panels, reviews and summaries."))
policy.allow("api_panels.Panels", "GET", policy.STAFF | {policy.UNIVERSITY, policy.ADVISOR}, relation="owner_or_staff",
             note="staff: every panel; universities: their achievements' panels; advisors: their assignments (no scores "
                  "of others)")
policy.allow("api_panels.Panels", "POST", policy.STAFF, note="form a panel; a conflicting advisor is refused (409)")
policy.allow("api_panels.PanelDetail", "GET", policy.STAFF | {policy.UNIVERSITY, policy.ADVISOR},
             relation="owner_or_staff", note="staff: all; owner: the summary; assigned advisor: own review; else 404")
policy.allow("api_panels.Review", "POST", {policy.ADVISOR}, relation="participant",
             note="an assigned advisor's own review; 404 for a panel not assigned")


class MeansOut(ma.Schema):
    tech_score = fields.Float(allow_none=True, metadata={"description": "技术前景, 1-5"})
    market_score = fields.Float(allow_none=True, metadata={"description": "市场需求, 1-5"})
    value_score = fields.Float(allow_none=True, metadata={"description": "成果价值, 1-5"})


class CommentOut(ma.Schema):
    perspective = fields.String(required=True)
    comment = fields.String(required=True)


class SummaryOut(ma.Schema):
    members = fields.Integer(required=True)
    reviews = fields.Integer(required=True)
    complete = fields.Boolean(required=True)
    means = fields.Nested(MeansOut, required=True)
    value_min = fields.Float(allow_none=True, metadata={"description": "investors' lowest value, 10k yuan"})
    value_max = fields.Float(allow_none=True, metadata={"description": "investors' highest value, 10k yuan"})
    comments = fields.List(fields.Nested(CommentOut), required=True)


class ReviewOut(ma.Schema):
    advisor_id = fields.Integer(allow_none=True)
    tech_score = fields.Integer(required=True)
    market_score = fields.Integer(required=True)
    value_score = fields.Integer(required=True)
    comment = fields.String(required=True)
    value_min = fields.Float(allow_none=True)
    value_max = fields.Float(allow_none=True)
    submitted_at = fields.DateTime(required=True)


class PanelOut(ma.Schema):
    id = fields.Integer(required=True)
    achievement_id = fields.Integer(required=True)
    achievement_title = fields.String(required=True)
    deadline = fields.Date(required=True)
    status = fields.String(required=True, metadata={"description": "open | complete"})
    gate = fields.Boolean(required=True)
    summary = fields.Nested(SummaryOut, allow_none=True, metadata={"description": "staff and the owner only"})
    reviews = fields.List(fields.Nested(ReviewOut), metadata={"description": "staff: every review; an advisor: "
                                                                             "their own only"})


class PanelList(ma.Schema):
    items = fields.List(fields.Nested(PanelOut), required=True)


class PanelIn(ma.Schema):
    achievement_id = s.Whole(required=True, validate=validate.Range(min=1))
    advisor_ids = s.UniqueList(s.Whole(validate=validate.Range(min=1)), required=True,
                               validate=validate.Length(min=1, max=panels.MAX_PANEL))
    deadline = s.Day(required=True)
    gate = fields.Boolean(load_default=False)
    note = fields.String(load_default="", validate=validate.Length(max=panels.MAX_COMMENT))


class ReviewIn(ma.Schema):
    tech_score = s.Whole(required=True, validate=validate.Range(min=1, max=5))
    market_score = s.Whole(required=True, validate=validate.Range(min=1, max=5))
    value_score = s.Whole(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=panels.MAX_COMMENT))
    # the range is the service's check (services.panels._money: panel.bad_value, translated); a marshmallow Range on a
    # Decimal would put its bounds in the OpenAPI document as strings
    value_min = fields.Decimal(load_default=None, allow_none=True, allow_nan=False,
                               metadata={"minimum": 0, "maximum": 10_000_000})
    value_max = fields.Decimal(load_default=None, allow_none=True, allow_nan=False,
                               metadata={"minimum": 0, "maximum": 10_000_000})


def _num(value: Any) -> Any:
    return None if value is None else float(value)


def _review(member: Any, with_advisor: bool) -> dict:
    r = member.review
    return {"advisor_id": member.advisor_id if with_advisor else None, "tech_score": r.tech_score,
            "market_score": r.market_score, "value_score": r.value_score, "comment": r.comment,
            "value_min": _num(r.value_min), "value_max": _num(r.value_max), "submitted_at": r.submitted_at}


def _panel(panel: Panel) -> dict:
    """The panel as the caller may see it."""
    out = {"id": panel.id, "achievement_id": panel.achievement_id, "achievement_title": panel.achievement.title,
           "deadline": panel.deadline, "status": panel.status, "gate": panel.gate, "summary": None, "reviews": []}
    staff = current_user.role in panels.STAFF
    if panels.can_see_summary(current_user, panel):
        out["summary"] = panels.summary(panel).as_dict()
    if staff:
        out["reviews"] = [_review(m, True) for m in panel.members if m.review is not None]
    elif current_user.role == "advisor":
        out["reviews"] = [_review(m, False) for m in panel.members
                          if m.review is not None and m.advisor_id == current_user.id]
    return out


@bp.route("/")
class Panels(MethodView):
    @bp.response(200, PanelList)
    @bp.doc(security=TOKEN)
    def get(self):
        """Panels the caller may see: staff every panel, an owner its achievements', an advisor its assignments."""
        return {"items": [_panel(p) for p in panels.panels_for(db(), current_user)]}

    @bp.arguments(PanelIn)
    @bp.response(201, PanelOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any]):
        """Form a panel for a published achievement; the advisors are told. A conflict of interest is refused."""
        try:
            panel = panels.create_panel(db(), current_user, data)
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)
        return _panel(panel)


def _visible(panel_id: int) -> Panel:
    panel = panels.get_panel(db(), panel_id)
    if panels.can_see_summary(current_user, panel):
        return panel
    if current_user.role == "advisor":
        panels.assignment(db(), panel_id, current_user)
        return panel
    raise NotFound()


@bp.route("/<int(max=2147483647):panel_id>")
class PanelDetail(MethodView):
    @bp.response(200, PanelOut)
    @bp.doc(security=TOKEN)
    def get(self, panel_id: int):
        """One panel, as the caller may see it (404 for a panel the caller has nothing to do with)."""
        try:
            return _panel(_visible(panel_id))
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)


@bp.route("/<int(max=2147483647):panel_id>/review")
class Review(MethodView):
    @bp.arguments(ReviewIn)
    @bp.response(200, ReviewOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any], panel_id: int):
        """Submit (or change, until the deadline) one's own review of an assigned panel."""
        try:
            panels.submit_review(db(), panel_id, current_user, data)
            member = panels.assignment(db(), panel_id, current_user)
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)
        return _review(member, False)
