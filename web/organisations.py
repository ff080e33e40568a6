"""The organisation page (members, invitations; managers invite, remove and change roles) and the invitation link
(issue 21 part 3). The rules are services/organisations.py's; this module only shows and asks."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import listings, organisations
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .auth import new_session, sign_in
from .db import abandon, db
from .forms import ActionForm
from .organisation_forms import ORG_ROLE_LABELS, AcceptNewForm, InviteForm, RoleForm
from .organisation_messages import message

bp = Blueprint("organisations", __name__, url_prefix="/organisation")
LISTERS = ("company", "university")
_MANAGERS = "managers of the caller's own organisation (checked in services/organisations.py; others get a refusal)"
policy.allow("organisations.index", "GET", policy.LISTERS, relation="self", note="the caller's own organisation")
policy.allow("organisations.invite", "POST", policy.LISTERS, relation="self", note=_MANAGERS)
policy.allow("organisations.revoke", "POST", policy.LISTERS, relation="self", note=_MANAGERS)
policy.allow("organisations.remove", "POST", policy.LISTERS, relation="self", note=_MANAGERS + "; 404 for others")
policy.allow("organisations.role", "POST", policy.LISTERS, relation="self", note=_MANAGERS + "; 404 for others")
policy.allow("organisations.accept", ("GET", "POST"), policy.ALL_ROLES,
             note="the invitation link: a new account, or the invited signed-in account without an organisation")


def _refused(err: ServiceError) -> str:
    abandon()
    return message(err)


def _page(invite_form: Any = None, status: int = 200) -> Any:
    org = current_user.organisation
    manager = organisations.is_manager(current_user)
    ctx: dict[str, Any] = {"org": org, "manager": manager, "ORG_ROLE_LABELS": ORG_ROLE_LABELS}
    if org is not None:
        ctx.update(members=organisations.members(db(), org.id),
                   invitations=organisations.pending_invitations(db(), org.id) if manager else [],
                   invite_form=invite_form or InviteForm(), role_form=RoleForm(),
                   listings={kind: listings.owned_by(db(), kind, current_user) for kind in ("demand", "achievement")})
    return render_template("organisations/index.html", **ctx), status


@bp.route("/")
@roles_required(*LISTERS)
def index():
    return _page()


@bp.route("/invite", methods=["POST"])
@roles_required(*LISTERS)
def invite():
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        invitation, token = organisations.invite(db(), current_user, form.email.data, form.org_role.data)
    except ServiceError as err:
        if organisations.is_manager(current_user):
            form.email.errors.append(_refused(err))
        else:  # a member sees no invitation form: say it above the page
            flash(_refused(err), "danger")
        return _page(form, 422)
    link = url_for("organisations.accept", token=token, _external=True)
    flash(_("Invitation created for %(email)s. Send them this link (valid for %(days)s days; it is shown only "
            "once): %(link)s", email=invitation.email, days=organisations.INVITATION_DAYS, link=link), "success")
    return redirect(url_for("organisations.index"))


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@roles_required(*LISTERS)
def revoke(invitation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        organisations.revoke(db(), current_user, invitation_id)
        flash(_("Invitation withdrawn."), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refused(err), "danger")
    return redirect(url_for("organisations.index"))


@bp.route("/members/<int:user_id>/remove", methods=["POST"])
@roles_required(*LISTERS)
def remove(user_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        member = organisations.remove_member(db(), current_user, user_id)
        flash(_("%(name)s is no longer a member of the organisation.", name=member.display_name), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refused(err), "danger")
    return redirect(url_for("organisations.index"))


@bp.route("/members/<int:user_id>/role", methods=["POST"])
@roles_required(*LISTERS)
def role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        flash(_("Choose manager or member."), "danger")
        return redirect(url_for("organisations.index"))
    try:
        member = organisations.change_role(db(), current_user, user_id, form.org_role.data)
        flash(_("%(name)s is now %(role)s.", name=member.display_name, role=ORG_ROLE_LABELS[member.org_role]),
              "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refused(err), "danger")
    return redirect(url_for("organisations.index"))


@bp.route("/join/<token>", methods=["GET", "POST"])
def accept(token: str):
    try:
        invitation = organisations.invitation_for(db(), token)
    except ServiceError as err:
        return render_template("organisations/accept.html", invitation=None, error=_refused(err), form=None), 404
    form = AcceptNewForm()
    ctx = {"invitation": invitation, "error": None, "form": form, "ORG_ROLE_LABELS": ORG_ROLE_LABELS}
    if current_user.is_authenticated:
        if request.method == "POST" and ActionForm().validate_on_submit():
            try:
                organisations.accept_existing(db(), token, current_user)
            except ServiceError as err:
                ctx["error"] = _refused(err)
                return render_template("organisations/accept.html", **ctx), 422
            flash(_("You joined %(org)s.", org=invitation.organisation.name), "success")
            return redirect(url_for("organisations.index"))
        return render_template("organisations/accept.html", **ctx)
    if form.validate_on_submit():
        try:
            user = organisations.accept_new(db(), token, display_name=form.display_name.data,
                                            password=form.password.data)
            new_session(user)
        except ServiceError as err:
            target = form.password if err.code.startswith("account.password") else form.display_name
            if err.code == "account.email_taken":
                ctx["error"] = _refused(err)
            else:
                target.errors.append(_refused(err))
            return render_template("organisations/accept.html", **ctx), 422
        sign_in(user)
        flash(_("Your account is ready: you joined %(org)s.", org=invitation.organisation.name), "success")
        return redirect(url_for("organisations.index"))
    return render_template("organisations/accept.html", **ctx), (422 if request.method == "POST" else 200)


@bp.app_template_global("listing_company_name")
def listing_company_name(item: Any) -> str:
    """The company (or university) name of a listing as the current viewer may see it: a confidential demand's
    company shows as a placeholder to the public and universities (services.organisations.demand_company_name)."""
    return organisations.listing_company_name(item, current_user, placeholder=_("Confidential company"))


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    from .forms import RIGHTS_LABELS

    return {"RIGHTS_LABELS": RIGHTS_LABELS}
