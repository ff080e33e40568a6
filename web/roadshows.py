"""Roadshows (路演): the broker's planning pages, the company's registration and wishes, intents, exports."""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import panels, pdf, roadshow_programme, roadshows, taxonomy
from services.errors import NotFound, ServiceError
from services.exports import XLSX_MIME, Table, to_xlsx
from services.matching import MatchingUnavailable

from . import policy
from .db import abandon, after_commit, db
from .errors import refusal
from .i18n import locale_code
from .jobs import start as start_job
from .matches import runtime
from .roadshow_forms import (AddPresenterForm, AttendanceForm, ConflictForm, IntentForm, InviteForm, RoadshowForm,
                             WishForm)

bp = Blueprint("roadshows", __name__, url_prefix="/roadshows")
log = logging.getLogger(__name__)

policy.allow("roadshows.index", "GET", policy.SIGNED_IN, note="roadshows the user manages, is invited to or presents at")
policy.allow("roadshows.new", ("GET", "POST"), policy.STAFF)
policy.allow("roadshows.detail", "GET", policy.MARKET, relation="participant",
             note="manager (its broker, admins), invited company, presenting university")
for _endpoint in ("propose", "add_presenter", "remove_presenter", "companies", "invite", "attendance", "conflict",
                  "schedule", "export"):
    policy.allow(f"roadshows.{_endpoint}", "GET" if _endpoint in ("companies", "export") else "POST", policy.STAFF,
                 relation="owner", note="the roadshow's broker or an admin")
policy.allow("roadshows.register", "POST", {policy.COMPANY}, relation="participant", note="invited company")
policy.allow("roadshows.decline", "POST", {policy.COMPANY}, relation="participant", note="invited company")
policy.allow("roadshows.wishes", "POST", {policy.COMPANY}, relation="participant", note="registered company")
policy.allow("roadshows.intent", "POST", {policy.COMPANY, policy.UNIVERSITY}, relation="participant",
             note="the meeting's company or the presenting achievement's owner")


def _managed(roadshow_id: int):
    try:
        return roadshows.get_managed(db(), roadshow_id, current_user)
    except NotFound:
        abort(404)


def _back(roadshow_id: int, anchor: str = ""):
    return redirect(url_for("roadshows.detail", roadshow_id=roadshow_id) + (f"#{anchor}" if anchor else ""))


def _attempt(roadshow_id: int, action: Callable[[], Any], done: str, anchor: str = ""):
    """Run one service call, flash (the request's unit commits); a refusal is flashed, never a 500."""
    try:
        action()
        flash(done, "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
    except MatchingUnavailable as err:
        abandon()
        log.warning("matching unavailable: %s", type(err).__name__)
        flash(_("Matching is not available right now: the search index must be rebuilt. "
                "An operator can run `flask index rebuild`."), "danger")
    return _back(roadshow_id, anchor)


def _form_error(form: Any, roadshow_id: int, anchor: str = ""):
    if "csrf_token" in form.errors:
        abort(400)
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
    return _back(roadshow_id, anchor)


@bp.route("/")
def index():
    return render_template("roadshows/index.html", roadshows=roadshows.visible_to(db(), current_user))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = RoadshowForm()
    form.field_code.choices = [("", _("Choose…"))] + taxonomy.filter_field_choices(db(), locale_code())
    form.region_code.choices = [("", "—")] + roadshow_programme.region_choices(db(), locale_code())
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k != "csrf_token"}
        try:
            roadshow = roadshows.create_roadshow(db(), current_user, data)
            flash(_("Roadshow created. Next: propose presenters."), "success")
            return redirect(url_for("roadshows.detail", roadshow_id=roadshow.id))
        except ServiceError as err:
            flash(refusal(err), "danger")
    return render_template("roadshows/form.html", form=form)


@bp.route("/<int:roadshow_id>")
def detail(roadshow_id: int):
    try:
        roadshow, rel = roadshows.get_visible(db(), roadshow_id, current_user)
    except NotFound:
        abort(404)
    ctx: dict[str, Any] = dict(roadshow=roadshow, rel=rel, rows=roadshows.schedule_rows(db(), roadshow, current_user),
                               intent_form=IntentForm(), company_name=roadshows.company_name)
    if rel == "manager":
        ctx.update(_manager_context(roadshow))
    elif rel == "company":
        invitation = roadshows.invitation_of(db(), roadshow, current_user)
        form = WishForm(presenter_ids=[w.presenter_id for w in roadshows.wishes_of(db(), roadshow, current_user.id)])
        form.presenter_ids.choices = [(p.id, p.achievement.title) for p in roadshow.presenters]
        ctx.update(invitation=invitation, wish_form=form)
    return render_template("roadshows/detail.html", **ctx)


def _manager_context(roadshow: Any) -> dict[str, Any]:
    registered = [i for i in roadshow.invitations if i.status == "registered"]
    attendance = AttendanceForm(companies=[i.company_id for i in registered if i.attended],
                                presenters=[p.id for p in roadshow.presenters if p.attended])
    attendance.companies.choices = [(i.company_id, roadshows.company_name(i.company, current_user, roadshow))
                                    for i in registered]
    attendance.presenters.choices = [(p.id, p.achievement.title) for p in roadshow.presenters]
    conflict = ConflictForm()
    conflict.company_id.choices = [(i.company_id, roadshows.company_name(i.company, current_user, roadshow))
                                   for i in roadshow.invitations]
    conflict.presenter_id.choices = [(p.id, p.achievement.title) for p in roadshow.presenters]
    info = roadshow.schedule_info or {}
    return dict(add_form=AddPresenterForm(), attendance=attendance, conflict_form=conflict,
                wishes=roadshows.wishes_of(db(), roadshow), bindings=[binding_message(b) for b in info.get("bindings", [])],
                info=info, coverage=_coverage(roadshow))


def _coverage(roadshow: Any) -> Any:
    """How the presenters cover the open demands now; None (shown as "—") while matching is unavailable."""
    try:
        return roadshows.presenter_coverage(db(), runtime(), roadshow)
    except MatchingUnavailable as err:
        log.warning("roadshow coverage unavailable: %s", type(err).__name__)
        return None


def binding_message(binding: dict) -> str:
    """What a binding constraint means and what to relax, in the user's language."""
    p = binding["params"]
    messages = {
        "table_slots": lambda: _("%(wished)s wished meetings, %(capacity)s table-slots (%(slots)s slots x %(tables)s "
                                 "tables): add %(add_slots)s slot(s) or %(add_tables)s table(s).", **p),
        "presenter_cap": lambda: _("%(name)s is wished by %(wished)s companies but capped at %(cap)s meetings: "
                                   "raise the cap per presenter.", **p),
        "presenter_slots": lambda: _("%(name)s is wished by %(wished)s companies but there are only %(slots)s "
                                     "meeting slots: add slots.", **p),
        "company_cap": lambda: _("%(name)s wishes %(wished)s meetings but is capped at %(cap)s: raise the cap per "
                                 "company.", **p),
        "company_slots": lambda: _("%(name)s wishes %(wished)s meetings but there are only %(slots)s meeting slots: "
                                   "add slots.", **p),
        "conflict": lambda: _("%(company_name)s and %(presenter_name)s are conflicted (same organisation or marked): "
                              "never scheduled.", **p),
    }
    return messages.get(binding["code"], lambda: binding["code"])()


@bp.route("/<int:roadshow_id>/propose", methods=["POST"])
def propose(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    got: dict[str, Any] = {}
    response = _attempt(roadshow_id, lambda: got.setdefault("p", roadshows.propose_presenters(db(), runtime(), roadshow)),
                        _("Presenters proposed to cover the open demands of the field; swap any you like."),
                        "presenters")
    if "p" in got:
        p = got["p"]
        flash(_("%(covered)s of %(demands)s open demands are covered by at least one presenter.",
                covered=p.covered, demands=p.demands), "success" if p.optimal else "warning")
        if not p.optimal:
            flash(_("The best set found in the time allowed is shown; it is not proven optimal."), "warning")
    return response


@bp.route("/<int:roadshow_id>/presenters", methods=["POST"])
def add_presenter(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    form = AddPresenterForm()
    if not form.validate_on_submit():
        return _form_error(form, roadshow_id, "presenters")
    def add_after_panel() -> Any:  # 科技顾问团: a gating panel of the achievement must be complete first
        panels.check_gate(db(), form.achievement_id.data)
        return roadshows.add_presenter(db(), roadshow, form.achievement_id.data)
    return _attempt(roadshow_id, add_after_panel, _("Presenter added."), "presenters")


@bp.route("/<int:roadshow_id>/presenters/<int:presenter_id>/remove", methods=["POST"])
def remove_presenter(roadshow_id: int, presenter_id: int):
    roadshow = _managed(roadshow_id)
    return _attempt(roadshow_id, lambda: roadshows.remove_presenter(db(), roadshow, presenter_id),
                    _("Presenter removed."), "presenters")


@bp.route("/<int:roadshow_id>/companies")
def companies(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    proposals, problem = [], None
    try:
        proposals = roadshows.propose_companies(db(), runtime(), roadshow)
    except ServiceError as err:
        problem = refusal(err)
    except MatchingUnavailable:
        abandon()
        problem = _("Matching is not available right now: the search index must be rebuilt. "
                    "An operator can run `flask index rebuild`.")
    return render_template("roadshows/companies.html", roadshow=roadshow, proposals=proposals, problem=problem,
                           form=InviteForm(), company_name=roadshows.company_name)


@bp.route("/<int:roadshow_id>/invite", methods=["POST"])
def invite(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    form = InviteForm()
    if not form.validate_on_submit():
        return _form_error(form, roadshow_id, "invitations")
    demand_id = int(form.demand_id.data) if form.demand_id.data else None
    return _attempt(roadshow_id, lambda: roadshows.invite(db(), roadshow, int(form.company_id.data), demand_id),
                    _("Invitation recorded."), "invitations")


@bp.route("/<int:roadshow_id>/register", methods=["POST"])
def register(roadshow_id: int):
    if roadshows.invitation_of(db(), _visible(roadshow_id), current_user) is None:
        abort(404)
    return _attempt(roadshow_id, lambda: roadshows.register(db(), roadshow_id, current_user),
                    _("You are registered. Choose the presenters you want to meet."), "wishes")


@bp.route("/<int:roadshow_id>/decline", methods=["POST"])
def decline(roadshow_id: int):
    _visible(roadshow_id)
    return _attempt(roadshow_id, lambda: roadshows.decline(db(), roadshow_id, current_user),
                    _("You will not attend; your seat and meetings are released."), "wishes")


def _visible(roadshow_id: int):
    try:
        return roadshows.get_visible(db(), roadshow_id, current_user)[0]
    except NotFound:
        abort(404)


@bp.route("/<int:roadshow_id>/wishes", methods=["POST"])
def wishes(roadshow_id: int):
    roadshow = _visible(roadshow_id)
    form = WishForm()
    form.presenter_ids.choices = [(p.id, p.achievement.title) for p in roadshow.presenters]
    if not form.validate_on_submit():
        return _form_error(form, roadshow_id, "wishes")
    return _attempt(roadshow_id, lambda: roadshows.set_wishes(db(), runtime(), roadshow, current_user,
                                                              form.presenter_ids.data or []),
                    _("Your wished meetings are saved."), "wishes")


@bp.route("/<int:roadshow_id>/attendance", methods=["POST"])
def attendance(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    form = AttendanceForm()
    form.companies.choices = [(i.company_id, "") for i in roadshow.invitations if i.status == "registered"]
    form.presenters.choices = [(p.id, "") for p in roadshow.presenters]
    if not form.validate_on_submit():
        return _form_error(form, roadshow_id, "attendance")
    return _attempt(roadshow_id, lambda: roadshows.set_attendance(db(), roadshow, form.companies.data or [],
                                                                  form.presenters.data or []),
                    _("Attendance saved."), "attendance")


@bp.route("/<int:roadshow_id>/conflicts", methods=["POST"])
def conflict(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    form = ConflictForm()
    form.company_id.choices = [(i.company_id, "") for i in roadshow.invitations]
    form.presenter_id.choices = [(p.id, "") for p in roadshow.presenters]
    if not form.validate_on_submit():
        return _form_error(form, roadshow_id, "schedule")
    return _attempt(roadshow_id, lambda: roadshows.mark_conflict(db(), roadshow, form.company_id.data,
                                                                 form.presenter_id.data),
                    _("Conflict recorded: this pair will never be scheduled."), "schedule")


@bp.route("/<int:roadshow_id>/schedule", methods=["POST"])
def schedule(roadshow_id: int):
    roadshow = _managed(roadshow_id)
    if not roadshows.needs_job(db(), roadshow):
        return _attempt(roadshow_id, lambda: roadshows.build_schedule(db(), roadshow),
                        _("Schedule built."), "schedule")
    job = roadshows.submit_schedule_job(db(), roadshow, current_user)
    job_id = job.id
    after_commit(lambda: start_job(job_id))
    return redirect(url_for("jobs.status", job_id=job_id))


@bp.route("/meetings/<int:meeting_id>/intent", methods=["POST"])
def intent(meeting_id: int):
    form = IntentForm()
    meeting = roadshows.meeting_for(db(), meeting_id, current_user)
    if meeting is None:
        abort(404)
    if not form.validate_on_submit():
        return _form_error(form, meeting.roadshow_id, "meetings")
    return _attempt(meeting.roadshow_id, lambda: roadshows.record_intent(db(), meeting_id, current_user,
                                                                         form.intent.data),
                    _("Your intent is recorded."), "meetings")


INTENT_LABELS = {"interested": lambda: _("Interested"), "not_interested": lambda: _("Not interested"), "": lambda: ""}


def schedule_table(roadshow: Any) -> Table:
    """The schedule as an export table with translated headers (no contact details)."""
    table = Table([_("Slot"), _("Time"), _("Table"), _("Company"), _("Presenter (achievement)"),
                   _("Presenter organisation"), _("Match score"), _("Company intent"), _("Presenter intent")],
                  title=_("Schedule"))
    for r in roadshows.schedule_rows(db(), roadshow):
        table.add([r["slot"], r["time"], r["table"], r["company"], r["presenter"], r["presenter_org"], r["score"],
                   INTENT_LABELS[r["company_intent"]](), INTENT_LABELS[r["presenter_intent"]]()])
    return table


@bp.route("/<int:roadshow_id>/schedule.<fmt>")
def export(roadshow_id: int, fmt: str):
    roadshow = _managed(roadshow_id)
    if fmt not in ("pdf", "xlsx"):
        abort(404)
    table = schedule_table(roadshow)
    if fmt == "xlsx":
        return _download(to_xlsx(table), XLSX_MIME, f"roadshow-{roadshow.id}-schedule.xlsx")
    try:
        doc = pdf.Document(f"{roadshow.title} · {_('1:1 meeting schedule')}", landscape=True)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return _back(roadshow_id, "schedule")
    doc.facts([(_("Date"), roadshow.held_on.isoformat()), (_("Venue"), roadshow.venue or roadshow.online_link),
               (_("Presenters"), "、".join(p.achievement.title for p in roadshow.presenters))])
    return _download(doc.table(table).output(), pdf.PDF_MIME, f"roadshow-{roadshow.id}-schedule.pdf")


def _download(data: bytes, mime: str, name: str) -> Response:
    return Response(data, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})
