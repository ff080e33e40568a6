"""Owners' pages for demands (companies) and achievements (universities): list, create, edit, lifecycle."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import listings, taxonomy
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import db
from .errors import message_for, refusal
from .forms import AchievementForm, ActionForm, DemandForm, listing_data
from .i18n import locale_code

FORMS = {"demand": DemandForm, "achievement": AchievementForm}
OWNER_ACTIONS = ("submit", "withdraw", "close")


def _populate(form: Any) -> None:
    lc = locale_code()
    form.field_code.choices = [("", _("Choose…"))] + taxonomy.field_choices(db(), lc)
    form.region.choices = [("", _("Choose…"))] + [(r.code, r.name(lc)) for r in taxonomy.regions(db())]


def _prefill(form: Any, item: Any) -> None:
    form.field_code.data = item.field.code
    form.modes.data = item.modes
    if item.kind == "demand":
        form.min_trl.data = str(item.min_trl) if item.min_trl else ""
        form._existing_deadline = item.deadline
    else:
        form.trl.data = str(item.trl) if item.trl else ""
        while len(form.patents.entries) < len(item.patents):
            form.patents.append_entry()
        for entry, patent in zip(form.patents.entries, item.patents):
            entry.form.number.data, entry.form.kind.data, entry.form.status.data = \
                patent.number, patent.kind, patent.status


def make_blueprint(kind: str, url_prefix: str, role: str) -> Blueprint:
    """The owner's blueprint for one kind of listing."""
    bp = Blueprint(f"{kind}s", __name__, url_prefix=url_prefix)
    name = f"{kind}s"
    policy.allow(f"{name}.mine", "GET", {role}, relation="self", note="the user's own listings")
    policy.allow(f"{name}.new", ("GET", "POST"), {role}, relation="self")
    policy.allow(f"{name}.edit", ("GET", "POST"), {role}, relation="owner", note="404 for anyone else's")
    policy.allow(f"{name}.act", "POST", {role}, relation="owner", note="submit/withdraw/close; 404 for others")

    @bp.route("/mine")
    @roles_required(role)
    def mine():
        return render_template("listings/mine.html", kind=kind, rows=listings.owned_by(db(), kind, current_user),
                               action_form=ActionForm())

    @bp.route("/new", methods=["GET", "POST"])
    @roles_required(role)
    def new():
        form = FORMS[kind]()
        _populate(form)
        if form.validate_on_submit():
            return _save(form, None)
        return render_template("listings/form.html", kind=kind, form=form, item=None)

    @bp.route("/<int:listing_id>/edit", methods=["GET", "POST"])
    @roles_required(role)
    def edit(listing_id: int):
        item = _owned(listing_id)
        if item.status not in listings.EDITABLE:
            flash(message_for(ServiceError("listing.not_editable")), "warning")
            return redirect(url_for("public.detail", kind=kind, listing_id=item.id))
        form = FORMS[kind](obj=item)
        _populate(form)
        if request.method == "GET":
            _prefill(form, item)
        elif kind == "demand":
            form._existing_deadline = item.deadline
        if form.validate_on_submit():
            return _save(form, item)
        return render_template("listings/form.html", kind=kind, form=form, item=item)

    @bp.route("/<int:listing_id>/<action>", methods=["POST"])
    @roles_required(role)
    def act(listing_id: int, action: str):
        if action not in OWNER_ACTIONS or not ActionForm().validate_on_submit():
            abort(400)
        item = _owned(listing_id)
        try:
            listings.transition(db(), item, current_user, action)
            flash(_ACTION_DONE[action](), "success")
        except ServiceError as err:
            flash(refusal(err), "danger")
        return redirect(url_for("public.detail", kind=kind, listing_id=listing_id))

    def _owned(listing_id: int) -> Any:
        try:
            return listings.get_owned(db(), kind, listing_id, current_user)
        except NotFound:
            abort(404)

    def _save(form: Any, item: Any):
        data = listing_data(form)
        try:
            if item is None:
                item = listings.create_listing(db(), kind, current_user, data)
            else:
                listings.update_listing(db(), item, current_user, data)
            if request.form.get("intent") == "submit" and item.status in ("draft", "returned"):
                listings.transition(db(), item, current_user, "submit")
        except ServiceError as err:
            flash(refusal(err), "danger")
            return render_template("listings/form.html", kind=kind, form=form, item=item), 422
        flash(_("Submitted for review.") if item.status == "submitted" else _("Saved."), "success")
        return redirect(url_for("public.detail", kind=kind, listing_id=item.id))

    return bp


_ACTION_DONE = {"submit": lambda: _("Submitted for review."), "withdraw": lambda: _("Withdrawn from review; "
                "it is a draft again."), "close": lambda: _("Closed. It is no longer shown publicly.")}

demands_bp = make_blueprint("demand", "/demands", "company")
achievements_bp = make_blueprint("achievement", "/achievements", "university")
