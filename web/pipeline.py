"""The deal pipeline board: a broker's opportunities by stage, idle ones flagged; stage moves and contracts."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import PIPELINE_STAGES
from services import pipeline
from services.errors import NotFound, ServiceError

from . import policy
from .db import db
from .errors import refusal
from .forms import AdvanceForm, CloseForm, SignForm

bp = Blueprint("pipeline", __name__, url_prefix="/opportunities")
_OWN = "the opportunity's broker; admins all"
policy.allow("pipeline.board", "GET", policy.STAFF, relation="self", note="own opportunities; admins all")
policy.allow("pipeline.show", "GET", policy.STAFF, relation="self", note=_OWN)
for _name in ("advance", "sign", "close"):
    policy.allow(f"pipeline.{_name}", "POST", policy.STAFF, relation="self", note=_OWN)

STAGE_LABELS = {"introduced": _l("Introduced"), "agreed": _l("Both sides agreed to talk"), "meeting": _l("Meeting"),
                "negotiating": _l("Negotiating"), "signed": _l("Contract signed"), "closed": _l("Closed")}
CONTRACT_LABELS = {"development": _l("Technology development"), "transfer": _l("Technology transfer"),
                   "license": _l("Technology licensing"), "consulting": _l("Technical consulting"),
                   "service": _l("Technical service")}


def init_app(app: Flask) -> None:
    """Labels for templates."""
    app.jinja_env.globals.update(PIPELINE_LABELS=STAGE_LABELS, CONTRACT_LABELS=CONTRACT_LABELS)


def _opportunity(opportunity_id: int):
    try:
        return pipeline.get_for(db(), opportunity_id, current_user)
    except NotFound:
        abort(404)


@bp.route("/")
def board():
    stage = request.args.get("stage", "")
    stage = stage if stage in PIPELINE_STAGES else ""
    days = current_app.config["OPPORTUNITY_IDLE_DAYS"]
    rows = pipeline.board(db(), current_user, stage)
    return render_template("pipeline/board.html", rows=rows, stage=stage, days=days,
                           idle={o.id for o in rows if pipeline.is_idle(o, days)})


@bp.route("/<int:opportunity_id>")
def show(opportunity_id: int):
    opp = _opportunity(opportunity_id)
    return render_template("pipeline/show.html", opp=opp, next_stage=pipeline.next_stage(opp),
                           advance_form=AdvanceForm(), sign_form=SignForm(), close_form=CloseForm())


def _done(opp, message: str):
    flash(message, "success")
    return redirect(url_for("pipeline.show", opportunity_id=opp.id))


def _refused(opp, err: ServiceError, form=None):
    flash(refusal(err), "danger")
    return render_template("pipeline/show.html", opp=opp, next_stage=pipeline.next_stage(opp),
                           advance_form=AdvanceForm(), sign_form=form or SignForm(), close_form=CloseForm()), 400


@bp.route("/<int:opportunity_id>/advance", methods=["POST"])
def advance(opportunity_id: int):
    opp, form = _opportunity(opportunity_id), AdvanceForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        pipeline.advance(db(), opp, current_user, form.note.data or "")
    except ServiceError as err:
        return _refused(opp, err)
    return _done(opp, _("Moved to: %(stage)s", stage=STAGE_LABELS[opp.stage]))


@bp.route("/<int:opportunity_id>/sign", methods=["POST"])
def sign(opportunity_id: int):
    opp, form = _opportunity(opportunity_id), SignForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return render_template("pipeline/show.html", opp=opp, next_stage=pipeline.next_stage(opp),
                               advance_form=AdvanceForm(), sign_form=form, close_form=CloseForm()), 400
    try:
        pipeline.sign(db(), opp, current_user, form.contract_type.data, form.amount.data, form.signed_on.data)
    except ServiceError as err:
        return _refused(opp, err, form)
    return _done(opp, _("Contract signed and recorded."))


@bp.route("/<int:opportunity_id>/close", methods=["POST"])
def close(opportunity_id: int):
    opp, form = _opportunity(opportunity_id), CloseForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return render_template("pipeline/show.html", opp=opp, next_stage=pipeline.next_stage(opp),
                               advance_form=AdvanceForm(), sign_form=SignForm(), close_form=form), 400
    try:
        pipeline.close(db(), opp, current_user, form.reason.data)
    except ServiceError as err:
        return _refused(opp, err)
    return _done(opp, _("Opportunity closed."))
