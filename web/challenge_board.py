"""揭榜挂帅 end to end: the public 榜单, challenges made from demands, joint applications, several winners (赛马),
milestones with rolled-up progress, the panel's acceptance (验收). Panel scoring and the shortlist stay on the
challenge's own page (web/challenges.py)."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from services import challenge_race as races, challenges, listings
from services.errors import NotFound, ServiceError

from . import policy
from .challenges import APPLICATION_STATUS
from .db import db
from .errors import refusal
from .programme_forms import (AcceptanceForm, AwardForm, FromDemandsForm, JointApplicationForm, MilestoneForm,
                              ProgressForm)

bp = Blueprint("challenge_board", __name__, url_prefix="/programme/challenges")
BOARD_STATUS = {"open": _l("Open for applications"), "closed": _l("Applications closed"),
                "announced": _l("Awarded (赛马 under way)"), "accepted": _l("Accepted (验收 done)")}

policy.allow("challenge_board.board", "GET", policy.ALL_ROLES, note="the public 榜单: names and numbers only")
policy.allow("challenge_board.race", "GET", policy.ALL_ROLES, note="a challenge's public page: teams, milestones")
policy.allow("challenge_board.new", ("GET", "POST"), policy.STAFF, note="a challenge from published demands")
policy.allow("challenge_board.apply", "POST", policy.LISTERS, note="universities, institutes and companies")
for _endpoint in ("award", "milestone", "progress", "conclude"):
    policy.allow(f"challenge_board.{_endpoint}", "POST", policy.STAFF, relation="owner",
                 note="the challenge's broker or an admin")
policy.allow("challenge_board.acceptance", "POST", policy.STAFF, relation="participant",
             note="panelists of the challenge")


def _get(challenge_id: int, manage: bool = False) -> Any:
    try:
        if manage:
            return challenges.get_managed(db(), challenge_id, current_user)
        return races.get(db(), challenge_id)
    except NotFound:
        abort(404)


def _back(challenge_id: int, anchor: str = ""):
    return redirect(url_for("challenge_board.race", challenge_id=challenge_id) + (f"#{anchor}" if anchor else ""))


def _attempt(challenge_id: int, action: Callable[[], Any], done: str, anchor: str = ""):
    """One service call and a flash (the request's unit commits); a refusal is flashed, never a 500."""
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


@bp.route("/")
def board():
    status = request.args.get("status", "")
    return render_template("challenge_board/board.html", rows=races.board(db(), status), status=status,
                           STATUS=BOARD_STATUS)


def _apply_form(challenge: Any) -> JointApplicationForm:
    form = JointApplicationForm()
    form.achievement_ids.choices = [(a.id, a.title) for a in listings.owned_by(db(), "achievement", current_user)
                                    if a.status == "published"] if current_user.role == "university" else []
    return form


@bp.route("/<int:challenge_id>")
def race(challenge_id: int):
    return _race_page(_get(challenge_id))


def _race_page(challenge: Any, apply_form: Any = None, status: int = 200):
    """The challenge's page; `apply_form`: a refused application, drawn again with what was typed."""
    s = db()
    manager = challenges.is_manager(current_user, challenge)
    ctx: dict[str, Any] = dict(challenge=challenge, manager=manager, STATUS=BOARD_STATUS,
                               panelist=challenges.is_panelist(s, challenge, current_user),
                               winners=races.winners(challenge), team_name=races.team_name,
                               progress=races.application_progress, total=races.challenge_progress(challenge),
                               open=challenges.is_open(challenge), APP_STATUS=APPLICATION_STATUS,
                               linked=lambda a: challenges.linked_achievements(s, a))
    if current_user.is_authenticated and current_user.role in races.APPLICANT_ROLES:
        ctx["mine"] = challenges.own_application(s, challenge, current_user)
        ctx["apply_form"] = apply_form or _apply_form(challenge)
    if manager:
        form = AwardForm()
        form.application_ids.choices = [(a.id, races.team_name(a)) for a in challenge.applications
                                        if a.status == "shortlisted"]
        ctx.update(award_form=form, milestone_form=MilestoneForm(), progress_form=ProgressForm())
    return render_template("challenge_board/race.html", **ctx), status


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = FromDemandsForm()
    form.demand_ids.choices = [(d.id, f"#{d.id} {d.title}") for d in races.published_demands(db())]
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k not in ("csrf_token", "demand_ids")}
        for key in ("reward", "budget"):
            data[key] = float(data[key]) if data.get(key) is not None else None
        try:
            challenge = races.create_from_demands(db(), current_user, form.demand_ids.data, data)
            flash(_("Challenge published (榜) with the company as issuer."), "success")
            return redirect(url_for("challenge_board.race", challenge_id=challenge.id))
        except ServiceError as err:
            flash(refusal(err), "danger")
    return render_template("challenge_board/new.html", form=form)


@bp.route("/<int:challenge_id>/apply", methods=["POST"])
def apply(challenge_id: int):
    challenge = _get(challenge_id)
    form = _apply_form(challenge)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _race_page(challenge, form, 422)  # the messages on the form, what was typed kept
    try:
        data = {"team": form.team.data, "approach": form.approach.data,
                "partner_ids": races.partner_ids_named(db(), current_user, form.partners.data or ""),
                "achievement_ids": form.achievement_ids.data}
        races.apply_joint(db(), challenge, current_user, data)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return _race_page(_get(challenge_id), form, 422)
    flash(_("Your application is submitted."), "success")
    return _back(challenge_id, "apply")


@bp.route("/<int:challenge_id>/award", methods=["POST"])
def award(challenge_id: int):
    challenge = _get(challenge_id, manage=True)
    form = AwardForm()
    form.application_ids.choices = [(a.id, "") for a in challenge.applications]
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "teams")
    return _attempt(challenge_id, lambda: races.award(db(), challenge, form.application_ids.data),
                    _("Winners announced; every applicant is told and the winners enter the pipeline."), "teams")


@bp.route("/<int:challenge_id>/applications/<int:application_id>/milestones", methods=["POST"])
def milestone(challenge_id: int, application_id: int):
    challenge = _get(challenge_id, manage=True)
    form = MilestoneForm()
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "teams")
    return _attempt(challenge_id, lambda: races.add_milestone(db(), challenge, application_id, form.due_on.data,
                                                            form.deliverable.data, form.amount.data),
                    _("Milestone added."), "teams")


@bp.route("/<int:challenge_id>/milestones/<int:milestone_id>/progress", methods=["POST"])
def progress(challenge_id: int, milestone_id: int):
    challenge = _get(challenge_id, manage=True)
    form = ProgressForm()
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "teams")
    return _attempt(challenge_id, lambda: races.set_progress(db(), challenge, milestone_id, form.progress.data,
                                                           form.note.data),
                    _("Progress saved."), "teams")


@bp.route("/<int:challenge_id>/applications/<int:application_id>/acceptance", methods=["POST"])
def acceptance(challenge_id: int, application_id: int):
    challenge = _get(challenge_id)
    if not challenges.is_panelist(db(), challenge, current_user):
        abort(404)
    form = AcceptanceForm()
    if not form.validate_on_submit():
        return _invalid(form, challenge_id, "teams")
    return _attempt(challenge_id, lambda: races.score_acceptance(db(), challenge, application_id, current_user,
                                                               form.score.data),
                    _("Acceptance score saved."), "teams")


@bp.route("/<int:challenge_id>/applications/<int:application_id>/conclude", methods=["POST"])
def conclude(challenge_id: int, application_id: int):
    challenge = _get(challenge_id, manage=True)
    form = AcceptanceForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    return _attempt(challenge_id, lambda: races.conclude_acceptance(db(), challenge, application_id),
                    _("Acceptance concluded."), "teams")
