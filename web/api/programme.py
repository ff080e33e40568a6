"""API endpoints of the roadshow programme and 揭榜挂帅 (issue 22): self-registration (with the waiting list) and
its cancellation, applications to present, intents after a 1:1 meeting, and challenge applications (alone or
jointly). The rules are the services' (services.roadshow_programme, services.roadshows, services.challenge_race);
refusals answer with their code and a message in the caller's language. Organisations by name only."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from services import challenge_race, roadshow_programme as programme, roadshows
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import db
from . import schemas as s
from .core import abort_for_service_error, api_blueprint

TOKEN = [{"bearerAuth": []}]
SERVICE_ERRORS = {"programme.bad_participant": (422, "participant"), "programme.apply_achievement": (422, "achievement_id"),
                  "programme.already_applied": (409, "achievement_id"), "roadshow.already_registered": (409, None),
                  "programme.already_waiting": (409, None), "challenge.already_applied": (409, None),
                  "challenge.organisation_applied": (409, None),
                  "race.bad_partner": (422, "partner_ids"), "race.partners_many": (422, "partner_ids"),
                  "challenge.bad_achievement": (422, "achievement_ids"), "roadshow.bad_intent": (422, "intent")}

bp = api_blueprint(Blueprint("api_programme", __name__, url_prefix="/api/v1/programme",
                             description="The roadshow programme and 揭榜挂帅: registration, applications, intents."))
policy.allow("api_programme.Registration", "POST", {policy.COMPANY}, note="companies; investors register as one")
policy.allow("api_programme.Registration", "DELETE", {policy.COMPANY}, relation="self", note="one's own registration")
policy.allow("api_programme.Presenting", "POST", {policy.UNIVERSITY}, relation="owner", note="with its own achievement")
policy.allow("api_programme.Intent", "POST", {policy.COMPANY, policy.UNIVERSITY}, relation="participant",
             note="the meeting's company or the presenting achievement's owner; else 404")
policy.allow("api_programme.ChallengeApplication", "POST", policy.LISTERS,
             note="universities, institutes and companies, alone or with partner organisations")


class RegistrationIn(ma.Schema):
    participant = fields.String(load_default="company", validate=validate.OneOf(("company", "investor")))


class RegistrationOut(ma.Schema):
    roadshow_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "registered | waiting | declined"})
    participant = fields.String(required=True)
    position = fields.Integer(allow_none=True, metadata={"description": "place on the waiting list (1 = next)"})


class PresentingIn(ma.Schema):
    achievement_id = s.Whole(required=True, validate=validate.Range(min=1))
    pitch = fields.String(load_default="", validate=validate.Length(max=2000))


class PresentingOut(ma.Schema):
    id = fields.Integer(required=True)
    roadshow_id = fields.Integer(required=True)
    achievement_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "submitted | accepted | declined"})


class IntentIn(ma.Schema):
    intent = fields.String(required=True, validate=validate.OneOf(("interested", "not_interested")))


class IntentOut(ma.Schema):
    meeting_id = fields.Integer(required=True)
    company_intent = fields.String(allow_none=True)
    presenter_intent = fields.String(allow_none=True)


class ChallengeApplicationIn(ma.Schema):
    team = fields.String(required=True, validate=validate.Length(min=4, max=2000))
    approach = fields.String(required=True, validate=validate.Length(min=20, max=6000))
    partner_ids = s.UniqueList(s.Whole(validate=validate.Range(min=1)), load_default=list,
                               validate=validate.Length(max=challenge_race.MAX_PARTNERS))
    achievement_ids = s.UniqueList(s.Whole(validate=validate.Range(min=1)), load_default=list,
                                   validate=validate.Length(max=20))


class ChallengeApplicationOut(ma.Schema):
    id = fields.Integer(required=True)
    challenge_id = fields.Integer(required=True)
    status = fields.String(required=True)
    team = fields.String(required=True, metadata={"description": "the lead's organisation and its partners"})


def _registration(row: Any) -> dict[str, Any]:
    position = programme.waiting_position(db(), row) if row.status == "waiting" else None
    return {"roadshow_id": row.roadshow_id, "status": row.status, "participant": row.participant, "position": position}


@bp.route("/roadshows/<int(max=2147483647):roadshow_id>/registration")
class Registration(MethodView):
    @bp.arguments(RegistrationIn)
    @bp.response(201, RegistrationOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any], roadshow_id: int):
        """Register for an open roadshow: a seat, or the next place on the waiting list."""
        try:
            return _registration(programme.register_open(db(), roadshow_id, current_user, data["participant"]))
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)

    @bp.response(200, RegistrationOut)
    @bp.doc(security=TOKEN)
    def delete(self, roadshow_id: int):
        """Cancel one's registration (the seat goes to the first waiting) or leave the waiting list."""
        try:
            return _registration(programme.cancel(db(), roadshow_id, current_user))
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)


@bp.route("/roadshows/<int(max=2147483647):roadshow_id>/presenting")
class Presenting(MethodView):
    @bp.arguments(PresentingIn)
    @bp.response(201, PresentingOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any], roadshow_id: int):
        """Apply to present one's own published achievement; the roadshow's broker decides."""
        try:
            roadshow = programme.get_public(db(), roadshow_id)
            row = programme.apply_to_present(db(), roadshow, current_user, data["achievement_id"], data["pitch"])
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)
        return {"id": row.id, "roadshow_id": row.roadshow_id, "achievement_id": row.achievement_id, "status": row.status}


@bp.route("/meetings/<int(max=2147483647):meeting_id>/intent")
class Intent(MethodView):
    @bp.arguments(IntentIn)
    @bp.response(200, IntentOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any], meeting_id: int):
        """One's intent after a 1:1 meeting, online or offline (both interested: the pair enters the pipeline)."""
        try:
            if roadshows.meeting_for(db(), meeting_id, current_user) is None:
                raise NotFound()
            meeting = roadshows.record_intent(db(), meeting_id, current_user, data["intent"])
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)
        return {"meeting_id": meeting.id, "company_intent": meeting.company_intent,
                "presenter_intent": meeting.presenter_intent}


@bp.route("/challenges/<int(max=2147483647):challenge_id>/applications")
class ChallengeApplication(MethodView):
    @bp.arguments(ChallengeApplicationIn)
    @bp.response(201, ChallengeApplicationOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any], challenge_id: int):
        """Apply to a challenge, alone or with partner organisations (ids from the organisations' list)."""
        try:
            challenge = challenge_race.get(db(), challenge_id)
            row = challenge_race.apply_joint(db(), challenge, current_user, data)
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)
        return {"id": row.id, "challenge_id": row.challenge_id, "status": row.status,
                "team": challenge_race.team_name(row)}
