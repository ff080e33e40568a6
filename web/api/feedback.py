"""API endpoints for feedback on suggested pairs: record an outcome, read a pair's history.

The rules are services.feedback's: brokers and admins judge any pair of published listings; the owner of
either listing may once both sides accepted an introduction of the pair (else 404), and cannot ask to
'introduce'. Staff read every feedback on a pair, a party only their own.
"""
from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services import feedback, reports
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import db
from . import schemas as s
from .core import abort_for_service_error, api_blueprint

TOKEN = [{"bearerAuth": []}]
# service error code -> (HTTP status, field it concerns)
SERVICE_ERRORS = {"feedback.bad_outcome": (422, "outcome"), "feedback.reason_required": (422, "reason"),
                  "feedback.note_required": (422, "note"), "feedback.party_introduce": (422, "outcome"),
                  "feedback.listing_not_open": (409, None)}
_WHO = ("brokers and admins on any pair of published listings; the owners of its two listings once both "
        "accepted an introduction (feedback.is_party), else 404")

bp = api_blueprint(Blueprint("api_feedback", __name__, url_prefix="/api/v1/feedback",
                             description="Feedback on suggested pairs (used in reports and the ranking)."))
policy.allow("api_feedback.Collection", "POST", policy.STAFF | policy.LISTERS, relation="counterpart_consented",
             note=_WHO)
policy.allow("api_feedback.Collection", "GET", policy.STAFF | policy.LISTERS, relation="counterpart_consented",
             note="a pair's feedback: staff all of it, the parties of an accepted introduction their own, else 404")


def dump(fb: Any) -> dict[str, Any]:
    """One feedback: who recorded it only as a role (and whether it was the caller)."""
    return {"id": fb.id, "demand_id": fb.demand_id, "achievement_id": fb.achievement_id, "outcome": fb.outcome,
            "reason": fb.reason, "note": fb.note, "query_kind": fb.query_kind, "by_role": fb.user.role,
            "mine": fb.user_id == current_user.id, "created_at": fb.created_at}


@bp.route("/")
class Collection(MethodView):
    @bp.arguments(s.FeedbackArgs, location="query")
    @bp.response(200, s.FeedbackPage)
    @bp.doc(security=TOKEN)
    def get(self, args: dict[str, Any]):
        """The feedback on one pair, oldest first (staff: all; parties of an accepted introduction: their own)."""
        try:
            rows = feedback.history_for(db(), current_user, args["demand_id"], args["achievement_id"])
        except NotFound:
            abort(404, code="not_found")
        start = (args["page"] - 1) * args["per_page"]
        return {"items": [dump(fb) for fb in rows[start:start + args["per_page"]]], "page": args["page"],
                "per_page": args["per_page"], "total": len(rows)}

    @bp.arguments(s.FeedbackIn)
    @bp.response(201, s.FeedbackOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any]):
        """Record an outcome for a pair ('introduce' opens an opportunity on the broker's board)."""
        score, breakdown = (reports.row_evidence(db(), data["report_row_id"], current_user)
                            if data.get("report_row_id") else (None, None))
        try:
            fb = feedback.record(db(), current_user, data["demand_id"], data["achievement_id"], data["outcome"],
                                 data.get("reason"), data["note"], query_kind=data["query_kind"], score=score,
                                 features=breakdown)
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)  # raises: the unit rolls back
        return dump(fb)
