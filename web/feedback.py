"""Brokers record an outcome for a suggested pair (from a report or a match list)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import feedback, reports
from services.listings import is_reviewer
from services.errors import NotFound, ServiceError

from . import policy
from .auth import safe_next
from .db import db
from .errors import refusal
from .forms import FeedbackForm

bp = Blueprint("feedback", __name__, url_prefix="/feedback")
policy.allow("feedback.record", "POST", policy.STAFF | policy.LISTERS, relation="counterpart_consented",
             note="any broker may judge a pair of published listings; the owners of its two listings once both "
                  "accepted an introduction (feedback.is_party), else 404")
DONE = {"not_relevant": lambda: _("Recorded: not relevant. This pair will be shown further down."),
        "relevant": lambda: _("Feedback recorded."),
        "introduce": lambda: _("Recorded: introduce. An opportunity was opened on your board.")}


def _next(form: FeedbackForm) -> str:
    # the one same-site check every next= goes through (no "//host", "/\\host", "/\t/host" or scheme)
    target = safe_next(form.next.data)
    if target:
        return target
    return url_for("reports.index") if is_reviewer(current_user) else url_for("introductions.inbox")


def _evidence(form: FeedbackForm) -> tuple[float | None, dict | None]:
    """The engine's score and breakdown for the pair: from the user's report row, else from the page."""
    if (form.row_id.data or "").isdigit():
        score, breakdown = reports.row_evidence(db(), int(form.row_id.data), current_user)
        if score is not None:
            return score, breakdown
    try:
        score = float(form.score.data)
        breakdown = feedback.clean_features(json.loads(form.features.data or "null"))
    except (TypeError, ValueError):
        return None, None
    return (score if 0.0 <= score <= 100.0 else None), breakdown


def _refusal(form: FeedbackForm) -> str:
    """Why nothing was recorded; no outcome chosen (the form has none preselected) is said in words."""
    if form.outcome.errors and not form.outcome.data:
        others = [str(e) for name, errors in form.errors.items() if name != "outcome" for e in errors]
        return " ".join([_("Nothing was recorded: choose an outcome (not relevant, relevant but…, or introduce) "
                           "and send again.")] + others)
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@bp.route("/<int:demand_id>/<int:achievement_id>", methods=["POST"])
def record(demand_id: int, achievement_id: int):
    form = FeedbackForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_refusal(form), "danger")
        return redirect(_next(form))
    score, breakdown = _evidence(form)
    try:
        feedback.record(db(), current_user, demand_id, achievement_id, form.outcome.data, form.reason.data or None,
                        form.note.data or "", query_kind=form.query_kind.data, score=score, features=breakdown)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return redirect(_next(form))
    flash(DONE[form.outcome.data](), "success")
    return redirect(_next(form))
