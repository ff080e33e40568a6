"""API endpoints for roadshows (路演), read-only: the ones the caller may see, with presenters and meetings.

Visibility as on the pages (services.roadshows): the roadshow's broker and admins manage it and see every
meeting; an invited company and the owner of a presenting achievement see it with their own meetings only;
anyone else gets 404. Organisations by name only: no contact details.
"""
from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services import bands, roadshows
from services.errors import NotFound

from .. import policy
from ..db import db
from ..i18n import locale_code
from . import schemas as s
from .core import api_blueprint

TOKEN = [{"bearerAuth": []}]

bp = api_blueprint(Blueprint("api_roadshows", __name__, url_prefix="/api/v1/roadshows",
                             description="Roadshows the caller manages, is invited to or presents at (read-only)."))
policy.allow("api_roadshows.Collection", "GET", policy.SIGNED_IN,
             note="roadshows the user manages, is invited to or presents at")
policy.allow("api_roadshows.Item", "GET", policy.MARKET, relation="participant",
             note="manager (its broker, admins), invited company, presenting university; else 404")


def _org(achievement: Any) -> str:
    return achievement.organisation.name if achievement.organisation else ""


def summary(roadshow: Any, rel: str) -> dict[str, Any]:
    return {"id": roadshow.id, "title": roadshow.title, "theme": roadshow.theme or "",
            "field": roadshow.field.code, "field_name": roadshow.field.name(locale_code()),
            "held_on": roadshow.held_on, "start_time": roadshow.start_time or "", "venue": roadshow.venue or "",
            "online_link": roadshow.online_link or "", "relation": rel,
            "presenter_count": len(roadshow.presenters), "scheduled": roadshow.scheduled_at is not None}


def _meeting(roadshow: Any, m: Any, rel: str) -> dict[str, Any]:
    achievement = m.presenter.achievement
    # a company invited for a confidential demand stays unnamed to a presenter until an accepted introduction
    company = roadshows.company_name(m.company, current_user, roadshow, _("Confidential company"))
    counterpart = {"company": _org(achievement), "presenter": company}.get(rel)  # managers: both sides above
    return {"id": m.id, "slot": m.slot, "time": roadshows.slot_times(roadshow, m.slot), "table": m.table_no,
            "company": company, "presenter_id": m.presenter_id, "achievement_id": achievement.id,
            "achievement_title": achievement.title, "presenter_organisation": _org(achievement),
            "counterpart": counterpart, "score": round(m.score, 1), "band": bands.band_of(m.score), "company_intent": m.company_intent,
            "presenter_intent": m.presenter_intent}


def dump(roadshow: Any, rel: str) -> dict[str, Any]:
    """A roadshow as the caller sees it: its presenters and the caller's meetings (managers: all)."""
    invitation = roadshows.invitation_of(db(), roadshow, current_user) if rel == "company" else None
    return {**summary(roadshow, rel), "presentation_slots": roadshow.presentation_slots,
            "meeting_slots": roadshow.meeting_slots, "tables": roadshow.tables, "slot_minutes": roadshow.slot_minutes,
            "seats": roadshow.seats, "seats_taken": roadshow.seats_taken,
            "invitation_status": invitation.status if invitation is not None else None,
            "presenters": [{"id": p.id, "achievement_id": p.achievement_id, "title": p.achievement.title,
                            "organisation": _org(p.achievement)} for p in roadshow.presenters],
            "meetings": [_meeting(roadshow, m, rel) for m in roadshows.meetings(db(), roadshow, current_user)]}


@bp.route("/")
class Collection(MethodView):
    @bp.arguments(s.PageArgs, location="query")
    @bp.response(200, s.RoadshowPage)
    @bp.doc(security=TOKEN)
    def get(self, args: dict[str, Any]):
        """Roadshows the caller manages, is invited to or presents at; newest date first."""
        visible = roadshows.visible_to(db(), current_user)
        start = (args["page"] - 1) * args["per_page"]
        return {"items": [summary(r, roadshows.relation(db(), r, current_user))
                          for r in visible[start:start + args["per_page"]]],
                "page": args["page"], "per_page": args["per_page"], "total": len(visible)}


@bp.route("/<int(max=2147483647):roadshow_id>")
class Item(MethodView):
    @bp.response(200, s.RoadshowOut)
    @bp.doc(security=TOKEN)
    def get(self, roadshow_id: int):
        """One roadshow the caller may see, with presenters and the caller's meetings."""
        try:
            roadshow, rel = roadshows.get_visible(db(), roadshow_id, current_user)
        except NotFound:
            abort(404, code="not_found")
        return dump(roadshow, rel)
