"""The broker's review queue: approve, send back with a reason, or reject."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import listings
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import db
from .errors import refusal
from .forms import ReasonForm
from .matches import possible_duplicates

bp = Blueprint("review", __name__, url_prefix="/review")
policy.allow("review.queue", "GET", policy.STAFF, relation="staff")
policy.allow("review.decide", "POST", policy.STAFF, relation="staff", note="approve/return/reject/close")
REVIEW_ACTIONS = ("approve", "return", "reject", "close")
# pending listings per kind checked for likely duplicates (one similarity query each; the rest show no badge)
DUPLICATE_CHECKS = 50
DONE = {"approve": lambda: _("Approved and published."), "return": lambda: _("Sent back to the owner."),
        "reject": lambda: _("Rejected."), "close": lambda: _("Closed.")}


@bp.route("/")
@roles_required("broker", "admin")
def queue():
    s = db()
    demands, achievements = listings.review_queue(s, "demand"), listings.review_queue(s, "achievement")
    # the engine's near-duplicate check, as on the listing page (published look-alikes from DUPLICATE_MIN_SCORE)
    duplicates = {(x.kind, x.id): possible_duplicates(x)
                  for x in demands[:DUPLICATE_CHECKS] + achievements[:DUPLICATE_CHECKS]}
    return render_template("review/queue.html", demands=demands, achievements=achievements, form=ReasonForm(),
                           duplicates=duplicates)


@bp.route("/<kind>/<int:listing_id>/<action>", methods=["POST"])
@roles_required("broker", "admin")
def decide(kind: str, listing_id: int, action: str):
    form = ReasonForm()
    if action not in REVIEW_ACTIONS or kind not in listings.KINDS:
        abort(404)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Keep the reason under 2,000 characters."), "danger")
        return redirect(url_for("public.detail", kind=kind, listing_id=listing_id))
    try:
        item = listings.get_listing(db(), kind, listing_id, current_user)
        listings.transition(db(), item, current_user, action, form.reason.data)
        flash(DONE[action](), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return redirect(url_for("public.detail", kind=kind, listing_id=listing_id))
    return redirect(url_for("review.queue"))
