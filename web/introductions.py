"""Introductions: request (from a match list or a listing page), the inbox, accept/decline/withdraw."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import feedback, introductions, listings
from services.errors import NotFound, ServiceError

from . import policy
from .db import db
from .errors import refusal
from .forms import ActionForm, IntroductionForm
from .auth import safe_next

bp = Blueprint("introductions", __name__, url_prefix="/introductions")
policy.allow("introductions.inbox", "GET", policy.SIGNED_IN, relation="participant",
             note="owners see introductions of their listings and their requests; staff see all")
policy.allow("introductions.request_intro", "POST", policy.SIGNED_IN, relation="owner_or_staff",
             note="an owner of one side (published) or a broker/admin; reason required")
policy.allow("introductions.answer", "POST", policy.LISTERS, relation="counterpart_consented",
             note="accept/decline: only the owner of a side whose consent is pending")
policy.allow("introductions.withdraw", "POST", policy.MARKET, relation="participant",
             note="either side's owner, the requester, or staff; hides contacts again")

DONE = {"accept": lambda: _("You agreed to the introduction."),
        "decline": lambda: _("You declined. The other side only learns that it was not taken up.")}


@bp.route("/")
def inbox():
    rows = introductions.inbox(db(), current_user)
    latest = feedback.latest_for_pairs(db(), [(i.demand_id, i.achievement_id) for i in rows], by=current_user)
    return render_template("introductions/inbox.html", rows=rows, form=ActionForm(), latest=latest,
                           party_feedback=lambda i: current_user.id in (i.demand.owner_id, i.achievement.owner_id)
                           and i.demand.status == i.achievement.status == "published",
                           shown_status=lambda i: introductions.shown_status(i, current_user),
                           can_answer=lambda i: introductions.can_answer(current_user, i),
                           can_withdraw=lambda i: introductions.can_withdraw(current_user, i))


@bp.route("/request", methods=["POST"])
def request_intro():
    form = IntroductionForm()
    back = safe_next(request.form.get("next")) or url_for("introductions.inbox")
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _request_page(form, back)
    try:
        introductions.request_introduction(db(), current_user, form.demand_id.data, form.achievement_id.data,
                                           form.reason.data)
        flash(_("Introduction requested. The other side will be asked to agree."), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return _request_page(form, back)
    return redirect(back)


def _request_page(form: IntroductionForm, back: str):
    """A refused request drawn again on its own page: the messages at the fields, the reason as typed (the match
    list it came from holds one small form per row, and going back to it would lose the text)."""
    pair = [(kind, _visible(kind, i)) for kind, i in (("demand", form.demand_id.data),
                                                       ("achievement", form.achievement_id.data))]
    return render_template("introductions/request.html", form=form, back=back, pair=pair), 422


def _visible(kind: str, listing_id: object):
    """The listing if the reader may see it, else None (a draft's existence is not revealed)."""
    if not isinstance(listing_id, int):
        return None
    try:
        return listings.get_listing(db(), kind, listing_id, current_user)
    except NotFound:
        return None


@bp.route("/<int:intro_id>/<any(accept, decline):answer>", methods=["POST"])
def answer(intro_id: int, answer: str):
    return _act(intro_id, getattr(introductions, answer), DONE[answer])


@bp.route("/<int:intro_id>/withdraw", methods=["POST"])
def withdraw(intro_id: int):
    return _act(intro_id, introductions.withdraw, lambda: _("Introduction withdrawn; contact details are "
                                                             "hidden again."))


def _act(intro_id: int, change, done):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        intro = introductions.get_for(db(), intro_id, current_user)
        change(db(), intro, current_user)
        flash(done(), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
    return redirect(url_for("introductions.inbox"))
