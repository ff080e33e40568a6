"""The advisory panel (科技顾问团, issue 21) pages.

Who: brokers and admins form panels from suggested advisors (ranked by the engine; conflicts of interest refused
with the reason) and read every panel; administrators create advisor accounts; an advisor sees only the panels
assigned to them and writes their own review; the achievement's owning side (every member of its organisation, as
listings are shared) reads its panels' summary. Anyone else gets 404 for a panel."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField, TextAreaField
from wtforms.validators import InputRequired
from wtforms.validators import Optional as Blank

from models import Achievement, Status
from services import clock, panels, roadshows
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import abandon, db
from .errors import refusal
from .forms import REQUIRED, DateField, FlaskForm, MultiCheckboxField, _counted, _max, id_choice
from .panel_forms import (CONFLICT_LABELS, CRITERION_LABELS, PERSPECTIVE_LABELS, AddMemberForm, AdvisorForm,
                          PanelForm, ProfileForm, RemoveMemberForm, ReviewForm)

log = logging.getLogger(__name__)
bp = Blueprint("panels", __name__, url_prefix="/panels")
STAFF = ("broker", "admin")
OWNERS = ("university",)  # achievements are universities' (services/listings.OWNER_ROLE)
_NOTE = ("panel scores: staff every panel, the achievement's owning side (its organisation's members) its own "
         "(404 for others), advisors never others'")
policy.allow("panels.index", "GET", policy.STAFF | {policy.UNIVERSITY}, relation="owner_or_staff",
             note="staff: every panel; universities: the panels of their organisation's achievements")
policy.allow("panels.new", ("GET", "POST"), policy.STAFF,
             note="form a panel from suggested advisors; ?roadshow=id: one panel per presenting achievement "
                  "(the roadshow's manager only, 404 otherwise)")
policy.allow("panels.detail", "GET", policy.STAFF | {policy.UNIVERSITY}, relation="owner_or_staff", note=_NOTE)
policy.allow("panels.add_member", "POST", policy.STAFF, note="a conflicting advisor is refused with the reason")
policy.allow("panels.remove_member", "POST", policy.STAFF, note="takes the advisor and their review off")
policy.allow("panels.mine", "GET", {policy.ADVISOR}, relation="self", note="the advisor's own assignments only")
policy.allow("panels.review", ("GET", "POST"), {policy.ADVISOR}, relation="participant",
             note="only a panel assigned to this advisor (404 otherwise); never other advisors' scores")
policy.allow("panels.profile", ("GET", "POST"), {policy.ADVISOR}, relation="self", note="one's own profile")
policy.allow("panels.advisors", "GET", policy.STAFF, note="the advisors and their profiles (no contacts)")
policy.allow("panels.new_advisor", ("GET", "POST"), {policy.ADMIN}, note="administrators create advisor accounts")


def init_app(app: Any) -> None:
    app.jinja_env.globals.update(PERSPECTIVE_LABELS=PERSPECTIVE_LABELS, CRITERION_LABELS=CRITERION_LABELS,
                                 CONFLICT_LABELS=CONFLICT_LABELS, panel_line=panel_line)


def panel_line(achievement_id: int) -> str:
    """The achievement's newest panel summary in one line, for staff pages (roadshow presenters and
    applications); empty for anyone else or without a panel."""
    if not current_user.is_authenticated or current_user.role not in STAFF:
        return ""
    summary = panels.latest_summaries(db(), [achievement_id]).get(achievement_id)
    if summary is None:
        return ""
    if not summary.reviews:
        return _("Advisory panel: no review yet (%(n)s advisors).", n=summary.members)
    m = summary.means
    text = _("Advisory panel: technology %(t).1f, market %(m).1f, value %(v).1f (%(n)s of %(total)s reviews)",
             t=m["tech_score"], m=m["market_score"], v=m["value_score"], n=summary.reviews, total=summary.members)
    if summary.value_min is not None:
        text += " · " + _("value %(lo)s–%(hi)s (10k yuan)", lo="%g" % summary.value_min, hi="%g" % summary.value_max)
    return text


def _encoder() -> Any:
    """The engine's encoder for ranking advisors, or None (lexical ranking) when it is off or not ready."""
    if not current_app.config.get("PANEL_SUGGEST_ENGINE", True):
        return None
    from services.matching import MatchingUnavailable, ModelNotReady
    try:
        return current_app.extensions["matching"].encoder
    except (ModelNotReady, MatchingUnavailable, OSError) as err:
        log.warning("advisor suggestions without the engine: %s", err)
        return None


def _form_errors(form: Any) -> None:
    if "csrf_token" in form.errors:
        abort(400)


@bp.route("/")
@roles_required(*STAFF, *OWNERS)
def index():
    rows = panels.panels_for(db(), current_user)
    return render_template("panels/index.html", rows=rows, summaries={p.id: panels.summary(p) for p in rows})


def _published(achievement_id: Any) -> Achievement | None:
    try:
        number = int(achievement_id)
    except (TypeError, ValueError):
        return None
    if not 1 <= number <= 2_147_483_647:  # beyond a database integer: no such achievement (never an overflow)
        return None
    a = db().get(Achievement, number)
    return a if a is not None and a.status == Status.PUBLISHED.value else None


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new():
    if request.values.get("roadshow"):
        return _new_set(request.values.get("roadshow", ""))
    raw = request.values.get("achievement", "") or request.form.get("achievement_id", "")
    achievement = _published(raw) if raw.isdigit() and len(raw) <= 10 else None
    if achievement is None:
        q = (request.args.get("q") or "").strip()[:100]
        stmt = select(Achievement).where(Achievement.status == Status.PUBLISHED.value)
        if q:
            stmt = stmt.where(Achievement.title.contains(q))
        found = list(db().scalars(stmt.order_by(Achievement.id.desc()).limit(30)))
        if request.method == "POST":
            flash(_("Choose a published achievement."), "danger")
        return render_template("panels/pick.html", found=found, q=q), 422 if request.method == "POST" else 200
    suggestions = panels.suggest(db(), achievement, _encoder())
    form = PanelForm()
    form.achievement_id.choices = [(achievement.id, achievement.title)]
    form.advisor_ids.choices = [(s.profile.user_id, s.profile.user.display_name) for s in suggestions]
    if request.method == "GET":
        form.achievement_id.data = achievement.id
    if form.validate_on_submit():
        try:
            panel = panels.create_panel(db(), current_user, {
                "achievement_id": achievement.id, "advisor_ids": form.advisor_ids.data, "deadline": form.deadline.data,
                "gate": form.gate.data, "note": form.note.data})
        except ServiceError as err:
            form.advisor_ids.errors = [refusal(err)]
            return render_template("panels/new.html", form=form, achievement=achievement,
                                   suggestions=suggestions), 422
        flash(_("The panel is formed; its advisors are told."), "success")
        return redirect(url_for("panels.detail", panel_id=panel.id))
    _form_errors(form)
    return render_template("panels/new.html", form=form, achievement=achievement, suggestions=suggestions), \
        422 if form.errors else 200


# ------------------------------------------------------------------------------------------- panel sets

class PanelSetForm(FlaskForm):
    """One panel per chosen presenting achievement of a roadshow, all with the same advisors and terms."""
    achievement_ids = MultiCheckboxField(_l("Presenting achievements"), coerce=id_choice, validators=[
        InputRequired(message=_l("Choose at least one presenting achievement."))])
    advisor_ids = MultiCheckboxField(_l("Advisors"), coerce=id_choice,
                                     validators=[InputRequired(message=_l("Choose at least one advisor."))])
    deadline = DateField(_l("Reviews due by"), validators=[InputRequired(message=REQUIRED)])
    gate = BooleanField(_l("Gate: a roadshow presentation is accepted only once every review is in"))
    note = TextAreaField(_l("Note to the advisors"), validators=[Blank(), _max(4000)], render_kw=_counted(4000))


def _set_message(err: ServiceError) -> str:
    """The message of a refused panel set, in the current language (the codes of one panel: web.errors)."""
    p = err.params
    texts = {
        "panel.set_no_achievements": lambda: _("Choose at least one presenting achievement."),
        "panel.set_bad_achievement": lambda: _("Choose achievements among the roadshow's published presenters."),
        "panel.set_after_roadshow": lambda: _("The reviews must be due on or before the roadshow (%(date)s).",
                                              date=p.get("date")),
        "panel.set_roadshow_over": lambda: _("The roadshow already took place on %(date)s: panels before it can no "
                                             "longer be formed.", date=p.get("date")),
        "panel.set_nothing": lambda: _("No panel was formed: each chosen achievement already has a panel for this "
                                       "roadshow, or every chosen advisor has a conflict of interest with it."),
    }
    if err.code in texts:
        abandon()
        return texts[err.code]()
    return refusal(err)


def _set_done(result: panels.PanelSet) -> None:
    flash(_("%(n)s panels formed; their advisors are told.", n=len(result.panels)), "success")
    if result.skipped:
        flash(_("Left off for a conflict of interest: %(list)s.", list="; ".join(
            f"{name} – {title} ({CONFLICT_LABELS.get(reason, reason)})" for name, title, reason in result.skipped)),
            "warning")
    if result.existing:
        flash(_("Already with a panel for this roadshow (left alone): %(list)s.", list="; ".join(result.existing)),
              "warning")


def _new_set(raw: str):
    """Panels for a roadshow's presenting achievements (its manager only; 404 for anyone else)."""
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    if not 1 <= number <= 2_147_483_647:  # beyond a database integer: no such roadshow (never an overflow)
        abort(404)
    try:
        roadshow = roadshows.get_managed(db(), number, current_user)
    except NotFound:
        abort(404)
    if roadshow.held_on < clock.today():  # no deadline can fall between today and a roadshow already held
        return _roadshow_over(roadshow)
    achievements = panels.roadshow_achievements(db(), roadshow)
    suggestions = panels.suggest_for_set(db(), achievements, _encoder())
    form = PanelSetForm()
    form.achievement_ids.choices = [(a.id, a.title) for a in achievements]
    form.advisor_ids.choices = [(s.profile.user_id, s.profile.user.display_name) for s in suggestions]
    if request.method == "GET":
        form.achievement_ids.data = [a.id for a in achievements]
    context = {"form": form, "roadshow": roadshow, "achievements": achievements, "suggestions": suggestions,
               "existing": {p.achievement_id for p in panels.roadshow_panels(db(), roadshow.id)}}
    if form.validate_on_submit():
        try:
            result = panels.create_panel_set(db(), current_user, roadshow, {
                "achievement_ids": form.achievement_ids.data, "advisor_ids": form.advisor_ids.data,
                "deadline": form.deadline.data, "gate": form.gate.data, "note": form.note.data})
        except ServiceError as err:
            form.advisor_ids.errors = [_set_message(err)]
            return render_template("panels/set.html", **context), 422
        _set_done(result)
        return redirect(url_for("roadshows.detail", roadshow_id=roadshow.id, _anchor="presenters"))
    _form_errors(form)
    return render_template("panels/set.html", **context), 422 if form.errors else 200


def _roadshow_over(roadshow: Any):
    """The roadshow has taken place: no panel can be formed before it (said up front; a POST is refused)."""
    return render_template("panels/set.html", roadshow=roadshow, over=True), \
        422 if request.method == "POST" else 200


def _viewable(panel_id: int) -> Any:
    try:
        return panels.panel_for_viewer(db(), panel_id, current_user)
    except NotFound:
        abort(404)


@bp.route("/<int:panel_id>")
@roles_required(*STAFF, *OWNERS)
def detail(panel_id: int):
    panel = _viewable(panel_id)
    staff = current_user.role in STAFF
    add = AddMemberForm()
    if staff:
        taken = {m.advisor_id for m in panel.members}
        add.advisor_id.choices = [(s.profile.user_id, s.profile.user.display_name + (
            f" ({CONFLICT_LABELS[s.conflict]})" if s.conflict else "")) for s in panels.suggest(db(), panel.achievement)
            if s.profile.user_id not in taken]
    return render_template("panels/detail.html", panel=panel, summary=panels.summary(panel), staff=staff,
                           add=add, remove=RemoveMemberForm(),
                           perspectives=_perspectives(panel) if staff else {})


def _perspectives(panel: Any) -> dict[int, str]:
    out = {}
    for m in panel.members:
        profile = panels.profile_for(db(), m.advisor)
        out[m.advisor_id] = profile.perspective if profile else ""
    return out


@bp.route("/<int:panel_id>/members", methods=["POST"])
@roles_required(*STAFF)
def add_member(panel_id: int):
    try:
        panel = panels.get_panel(db(), panel_id)
    except NotFound:
        abort(404)
    form = AddMemberForm()
    form.advisor_id.choices = [(p.user_id, p.user.display_name) for p in panels.advisors(db())]
    if not form.validate_on_submit():
        _form_errors(form)
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
    else:
        try:
            panels.add_member(db(), current_user, panel, form.advisor_id.data)
            flash(_("The advisor is added and told."), "success")
        except ServiceError as err:
            flash(refusal(err), "danger")
    return redirect(url_for("panels.detail", panel_id=panel_id))


@bp.route("/<int:panel_id>/members/<int:member_id>/remove", methods=["POST"])
@roles_required(*STAFF)
def remove_member(panel_id: int, member_id: int):
    form = RemoveMemberForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        panels.remove_member(db(), current_user, panels.get_panel(db(), panel_id), member_id,
                             drop_review=request.form.get("drop_review") == "1")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return redirect(url_for("panels.detail", panel_id=panel_id))
    flash(_("The advisor is taken off the panel."), "success")
    return redirect(url_for("panels.detail", panel_id=panel_id))


@bp.route("/mine")
@roles_required("advisor")
def mine():
    return render_template("panels/mine.html", rows=panels.assignments(db(), current_user),
                           profile=panels.profile_for(db(), current_user))


@bp.route("/<int:panel_id>/review", methods=["GET", "POST"])
@roles_required("advisor")
def review(panel_id: int):
    try:
        member = panels.assignment(db(), panel_id, current_user)
    except NotFound:
        abort(404)
    profile = panels.profile_for(db(), current_user)
    investor = profile is not None and profile.perspective == "investor"
    existing = member.review
    form = ReviewForm(data={"tech_score": str(existing.tech_score), "market_score": str(existing.market_score),
                            "value_score": str(existing.value_score), "comment": existing.comment,
                            "value_min": existing.value_min, "value_max": existing.value_max}
                      if existing is not None and request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            panels.submit_review(db(), panel_id, current_user, {
                "tech_score": form.tech_score.data, "market_score": form.market_score.data,
                "value_score": form.value_score.data, "comment": form.comment.data,
                "value_min": form.value_min.data, "value_max": form.value_max.data})
        except ServiceError as err:
            flash(refusal(err), "danger")
            return render_template("panels/review.html", form=form, member=member, investor=investor), 422
        flash(_("Your review is saved."), "success")
        return redirect(url_for("panels.mine"))
    _form_errors(form)
    return render_template("panels/review.html", form=form, member=member, investor=investor), \
        422 if form.errors else 200


@bp.route("/profile", methods=["GET", "POST"])
@roles_required("advisor")
def profile():
    row = panels.profile_for(db(), current_user)
    form = ProfileForm(obj=row if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            panels.save_profile(db(), current_user, {"perspective": form.perspective.data,
                                                     "expertise": form.expertise.data, "fields": form.fields.data})
        except ServiceError as err:
            flash(refusal(err), "danger")
            return render_template("panels/profile.html", form=form), 422
        flash(_("Your profile is saved."), "success")
        return redirect(url_for("panels.mine"))
    _form_errors(form)
    return render_template("panels/profile.html", form=form), 422 if form.errors else 200


@bp.route("/advisors/")
@roles_required(*STAFF)
def advisors():
    return render_template("panels/advisors.html", rows=panels.advisors(db()))


@bp.route("/advisors/new", methods=["GET", "POST"])
@roles_required("admin")
def new_advisor():
    form = AdvisorForm()
    if form.validate_on_submit():
        try:
            row = panels.create_advisor(db(), current_user, {k: getattr(form, k).data for k in (
                "display_name", "email", "password", "perspective", "expertise", "fields", "organisation_name",
                "organisation_kind")})
        except ServiceError as err:
            flash(refusal(err), "danger")
            return render_template("panels/advisor_form.html", form=form), 422
        flash(_("Advisor account %(name)s created.", name=row.user.display_name), "success")
        return redirect(url_for("panels.advisors"))
    _form_errors(form)
    return render_template("panels/advisor_form.html", form=form), 422 if form.errors else 200
