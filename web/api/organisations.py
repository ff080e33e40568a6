"""API endpoints for organisation accounts (issue 21 part 3): the caller's organisation's members, inviting a
colleague, removing a member. The rules are services/organisations.py's: members read, managers change."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from services import organisations
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import abandon, db
from ..organisation_messages import message
from . import schemas as s
from .core import api_blueprint

TOKEN = [{"bearerAuth": []}]
# service error code -> (HTTP status, field it concerns)
SERVICE_ERRORS = {"organisation.manager_only": (403, None), "organisation.bad_role": (422, "org_role"),
                  "organisation.bad_email": (422, "email"), "organisation.already_member": (409, "email"),
                  "organisation.already_invited": (409, "email"), "organisation.kind_not_invitable": (403, None),
                  "organisation.last_manager": (409, None), "organisation.invitee_wrong_kind": (409, "email"),
                  "organisation.invitee_has_organisation": (409, "email")}

bp = api_blueprint(Blueprint("api_organisation", __name__, url_prefix="/api/v1/organisation",
                             description="The caller's organisation: members, invitations (managers)."))
_MANAGERS = "managers of the caller's own organisation; members get 403"
policy.allow("api_organisation.Members", "GET", policy.LISTERS, relation="self", note="the caller's organisation")
policy.allow("api_organisation.Invitations", "POST", policy.LISTERS, relation="self", note=_MANAGERS)
policy.allow("api_organisation.Member", "DELETE", policy.LISTERS, relation="self",
             note=_MANAGERS + "; 404 for anyone outside it")


class MemberOut(ma.Schema):
    id = fields.Integer(required=True)
    display_name = fields.String(required=True)
    email = fields.String(required=True, metadata={"description": "shown to the organisation's own members only"})
    org_role = fields.String(required=True, metadata={"description": "manager | member"})


class MembersOut(ma.Schema):
    organisation = fields.String(required=True, allow_none=True)
    items = fields.List(fields.Nested(MemberOut), required=True)


class InvitationIn(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    org_role = fields.String(load_default="member", validate=validate.OneOf(("manager", "member")))


class InvitationOut(ma.Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    org_role = fields.String(required=True)
    expires_at = s.UtcDateTime(required=True)
    link = fields.String(required=True, metadata={"description": "the one-time link to send the invitee "
                                                                 "(returned only now)"})


def _refuse(err: ServiceError) -> None:
    abandon()  # the abort below raises too: nothing of the refused call is kept
    if isinstance(err, NotFound):
        abort(404, code="not_found")
    status, field = SERVICE_ERRORS.get(err.code, (422, None))
    text = message(err)
    abort(status, code=err.code, message=text, errors={field: [text]} if field else None)


@bp.route("/members")
class Members(MethodView):
    @bp.response(200, MembersOut)
    @bp.doc(security=TOKEN)
    def get(self):
        """The members of the caller's organisation, managers first."""
        org = current_user.organisation
        rows = organisations.members(db(), org.id) if org is not None else []
        return {"organisation": org.name if org is not None else None,
                "items": [{"id": u.id, "display_name": u.display_name, "email": u.email, "org_role": u.org_role}
                          for u in rows]}


@bp.route("/invitations")
class Invitations(MethodView):
    @bp.arguments(InvitationIn)
    @bp.response(201, InvitationOut)
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any]):
        """Invite a colleague (managers): the answer carries the one-time link to send them."""
        try:
            invitation, token = organisations.invite(db(), current_user, data["email"], data["org_role"])
        except ServiceError as err:
            _refuse(err)
        return {"id": invitation.id, "email": invitation.email, "org_role": invitation.org_role,
                "expires_at": invitation.expires_at,
                "link": url_for("organisations.accept", token=token, _external=True)}


@bp.route("/members/<int:user_id>")
class Member(MethodView):
    @bp.response(200, MemberOut)
    @bp.doc(security=TOKEN)
    def delete(self, user_id: int):
        """Remove a member from the caller's organisation (managers; never the last manager); answers the removed
        account as it was."""
        try:
            member = organisations.get_member(db(), current_user, user_id)
            out = {"id": member.id, "display_name": member.display_name, "email": member.email,
                   "org_role": member.org_role}
            organisations.remove_member(db(), current_user, user_id)
        except ServiceError as err:
            _refuse(err)
        return out
