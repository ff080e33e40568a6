"""揭榜挂帅 challenges: brokers publish, universities apply, the panel scores, the broker announces the winner."""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from services import challenge_race, challenges, listings, taxonomy
from services.errors import NotFound, ServiceError
from services.matching import MatchingUnavailable

from . import policy
from .db import db
from .errors import refusal
from .forms import ActionForm
from .i18n import locale_code
from .matches import runtime
from .roadshow_forms import ApplicationForm, ChallengeForm, PanelForm

bp = Blueprint("challenges", __name__, url_prefix="/challenges")
log = logging.getLogger(__name__)
PERSPECTIVE_LABELS = {"scientist": _l("Scientist"), "entrepreneur": _l("Entrepreneur"), "investor": _l("Investor")}
APPLICATION_STATUS = {"submitted": _l("Submitted"), "shortlisted": _l("Shortlisted"), "winner": _l("Winner (揭榜)"),
                      "not_selected": _l("Not selected")}
CHALLENGE_STATUS = {"open": _l("Open for applications"), "closed": _l("Applications closed"),
                    "announced": _l("Winner announced")}

policy.allow("challenges.index", "GET", policy.SIGNED_IN, note="every challenge is published to signed-in users")
policy.allow("challenges.new", ("GET", "POST"), policy.STAFF)
policy.allow("challenges.detail", "GET", policy.SIGNED_IN,
             note="applications: manager and panelists all, applicants their own")
policy.allow("challenges.edit", ("GET", "POST"), policy.STAFF, relation="owner", note="its broker or an admin")
policy.allow("challenges.apply", "POST", {policy.UNIVERSITY})
policy.allow("challenges.panel", "POST", policy.STAFF, relation="owner", note="its broker or an admin")
policy.allow("challenges.score", "POST", policy.STAFF, relation="participant", note="panelists of the challenge")
policy.allow("challenges.shortlist", "POST", policy.STAFF, relation="owner", note="its broker or an admin")
policy.allow("challenges.announce", "POST", policy.STAFF, relation="owner", note="its broker or an admin")


def _get(challenge_id: int, manage: bool = False):
    try:
        if manage:
            return challenges.get_managed(db(), challenge_id, current_user)
        return challenges.get_challenge(db(), challenge_id)
    except NotFound:
        abort(404)


def _back(challenge_id: int, anchor: str = ""):
    return redirect(url_for("challenges.detail", challenge_id=challenge_id) + (f"#{anchor}" if anchor else ""))


def _attempt(challenge_id: int, action: Callable[[], Any], done: str, anchor: str = ""):
    """One service call, flash (the request's unit commits); refusals are messages, never a 500."""
    try:
        action()
        flash(done, "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
    return _back(challenge_id, anchor)


def _invalid(form: Any, challenge_id: int, anchor: str = ""):
    if "csrf_token" in form.errors:
        abort(400)
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
    return _back(challenge_id, anchor)


def _form_data(form: ChallengeForm) -> dict[str, Any]:
    data = {k: v for k, v in form.data.items() if k != "csrf_token"}
    data["reward"] = float(data["reward"]) if data.get("reward") is not None else None
    return data


@bp.route("/")
def index():
    return render_template("challenges/index.html", challenges=challenges.listing(db()), is_open=challenges.is_open,
                           STATUS=CHALLENGE_STATUS)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ChallengeForm()
    form.field_code.choices = [("", _("Choose…"))] + taxonomy.field_choices(db(), locale_code())
    if form.validate_on_submit():
        try:
            challenge = challenges.create_challenge(db(), current_user, _form_data(form))
            flash(_("Challenge published."), "success")
            return redirect(url_for("challenges.detail", challenge_id=challenge.id))
        except ServiceError as err:
            flash(refusal(err), "danger")
    return render_template("challenges/form.html", form=form, challenge=None)


@bp.route("/<int:challenge_id>/edit", methods=["GET", "POST"])
def edit(challenge_id: int):
    challenge = _get(challenge_id, manage=True)
    form = ChallengeForm(obj=challenge) if request.method == "GET" else ChallengeForm()
    form.field_code.choices = [("", _("Choose…"))] + taxonomy.field_choices(db(), locale_code())
    if request.method == "GET":
        form.field_code.data = challenge.field.code
        form.criteria.data = challenges.criteria_text(challenge.criteria)
    form.current_deadline = challenge.deadline
    if form.validate_on_submit():
        try:
            challenges.update_challenge(db(), challenge, current_user, _form_data(form))
            flash(_("Challenge saved."), "success")
            return _back(challenge_id)
        except ServiceError as err:
            flash(refusal(err), "danger")
    return render_template("challenges/form.html", form=form, challenge=challenge)


@bp.route("/<int:challenge_id>")
def detail(challenge_id: int):
    return _detail_page(_get(challenge_id))


def _detail_page(challenge: Any, apply_form: Any = None, status: int = 200):
    """The challenge's page; `apply_form`: a refused application, drawn again with what was typed."""
    s = db()
    manager = challenges.is_manager(current_user, challenge)
    panelist = challenges.is_panelist(s, challenge, current_user)
    ctx: dict[str, Any] = dict(challenge=challenge, manager=manager, panelist=panelist,
                               open=challenges.is_open(challenge), PERSPECTIVES=PERSPECTIVE_LABELS,
                               APP_STATUS=APPLICATION_STATUS, STATUS=CHALLENGE_STATUS,
                               winner=challenges.winner_of(s, challenge), linked=lambda a: challenges.linked_achievements(s, a),
                               team_name=challenge_race.team_name,
                               action_form=ActionForm())
    if manager or panelist:
        ctx["ranking"] = challenges.ranking(s, challenge)
    if manager:
        ctx.update(_manager_context(challenge))
    if current_user.role == "university":
        ctx["mine"] = challenges.own_application(s, challenge, current_user)
        ctx["apply_form"] = apply_form or _application_form()
    return render_template("challenges/detail.html", **ctx), status


def _application_form() -> ApplicationForm:
    form = ApplicationForm()
    form.achievement_ids.choices = [(a.id, a.title) for a in listings.owned_by(db(), "achievement", current_user)
                                    if a.status == "published"]
    return form


def _manager_context(challenge: Any) -> dict[str, Any]:
    s = db()
    panel = PanelForm()
    seated = {p.user_id for p in challenges.panelists(s, challenge)}
    panel.user_id.choices = [(u.id, u.display_name) for u in challenges.staff_choices(s) if u.id not in seated]
    suggestions, problem = [], None
    try:
        suggestions = challenges.suggest(s, runtime(), challenge, k=8)
    except MatchingUnavailable as err:
        log.warning("matching unavailable: %s", type(err).__name__)
        problem = _("Matching is not available right now: the search index must be rebuilt. "
                    "An operator can run `flask index rebuild`.")
    return dict(panel_form=panel, panel=challenges.panelists(s, challenge), suggestions=suggestions,
                suggest_problem=problem)


@bp.route("/<int:challenge_id>/apply", methods=["POST"])
def apply(challenge_id: int):
    challenge = _get(challenge_id)
    form = _application_form()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _detail_page(challenge, form, 422)  # the messages on the form, what was typed kept
    data = {"team": form.team.data, "approach": form.approach.data, "achievement_ids": form.achievement_ids.data}
    try:
        challenges.apply(db(), challenge, current_user, data)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return _detail_page(_get(challenge_id), form, 422)
    flash(_("Your application is submitted."), "success")
    return _back(challenge_id, "apply")


@bp.route("/<int:challenge_id>/panel", methods=["POST"])
def panel(challenge_id: int):
    challenge = _get(challenge_id, manage=True)
    form = PanelForm()
    form.user_id.choices = [(u.id, "") for u in challenges.staff_choices(db())]
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "panel")
    return _attempt(challenge_id, lambda: challenges.assign_panelist(db(), challenge, form.user_id.data),
                    _("Panel member added."), "panel")


@bp.route("/<int:challenge_id>/applications/<int:application_id>/score", methods=["POST"])
def score(challenge_id: int, application_id: int):
    challenge = _get(challenge_id)
    if not challenges.is_panelist(db(), challenge, current_user):
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "applications")
    values = {i: request.form.get(f"score-{i}", "").strip() for i in range(len(challenge.criteria))}
    return _attempt(challenge_id, lambda: challenges.score_application(db(), challenge, application_id, current_user,
                                                                       values),
                    _("Scores saved."), "applications")


@bp.route("/<int:challenge_id>/shortlist", methods=["POST"])
def shortlist(challenge_id: int):
    challenge = _get(challenge_id, manage=True)
    form = ActionForm()
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "applications")
    ids = [int(v) for v in request.form.getlist("application_ids") if v.isdigit()]
    return _attempt(challenge_id, lambda: challenges.shortlist(db(), challenge, ids), _("Shortlist saved."),
                    "applications")


@bp.route("/<int:challenge_id>/announce", methods=["POST"])
def announce(challenge_id: int):
    challenge = _get(challenge_id, manage=True)
    form = ActionForm()
    raw = request.form.get("application_id", "")
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "applications")
    if not raw.isdigit():
        abort(404)
    return _attempt(challenge_id, lambda: challenges.announce(db(), challenge, int(raw)),
                    _("Winner announced (揭榜)."), "applications")
