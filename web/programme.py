"""The roadshow programme in public: the calendar and its iCalendar feed, a roadshow's public page, open
registration with a waiting list, universities' applications to present, online links, the programme figures."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Optional

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import ical, listings, programme_stats, roadshow_programme as programme, roadshows, taxonomy
from services import panels
from models import RoadshowApplication
from services.errors import NotFound, ServiceError

from . import policy
from .db import abandon, db
from .errors import refusal
from .i18n import locale_code
from .programme_forms import (KIND_LABELS, PARTICIPANT_LABELS, DecideForm, MeetingLinkForm, PresenterLinksForm,
                              PresentForm, RegisterForm)

bp = Blueprint("programme", __name__, url_prefix="/programme")
PER_PAGE = 20

policy.allow("programme.calendar", "GET", policy.ALL_ROLES, note="the public calendar of roadshows")
policy.allow("programme.feed", "GET", policy.ALL_ROLES, note="iCalendar feed of the calendar (same filters)")
policy.allow("programme.roadshow", "GET", policy.ALL_ROLES, note="a roadshow's public page: no contact details")
policy.allow("programme.roadshow_ics", "GET", policy.ALL_ROLES,
             note="the roadshow as an event; a signed-in participant's own 1:1 meetings with their links too")
policy.allow("programme.register", "POST", {policy.COMPANY}, note="companies (and investors: company accounts)")
policy.allow("programme.cancel", "POST", {policy.COMPANY}, relation="self", note="the registration's own company")
policy.allow("programme.apply", "POST", {policy.UNIVERSITY}, relation="owner", note="with its own achievement")
for _endpoint in ("decide", "presenter_links", "meeting_link"):
    policy.allow(f"programme.{_endpoint}", "POST", policy.STAFF, relation="owner", note="the roadshow's broker or an admin")
policy.allow("programme.figures", "GET", policy.ALL_ROLES, note="aggregate figures of the programme, no contacts")


def _filters() -> dict[str, Any]:
    args = request.args
    kind = args.get("kind", "")
    return {"field_code": args.get("field", "")[:64], "city": args.get("city", "")[:64],
            "kind": kind if kind in KIND_LABELS else ""}


def _page() -> int:
    raw = request.args.get("page", "1")
    return min(int(raw), 100_000) if raw.isdigit() and int(raw) > 0 else 1


@bp.route("/")
def calendar():
    filters, past = _filters(), request.args.get("when") == "past"
    page = programme.calendar(db(), past=past, page=_page(), per_page=PER_PAGE, **filters)
    return render_template("programme/calendar.html", page=page, past=past, filters=filters, KINDS=KIND_LABELS,
                           fields=taxonomy.filter_field_choices(db(), locale_code()), cities=programme.cities(db()),
                           feed_url=url_for("programme.feed", _external=True,
                                            **{k: v for k, v in request.args.items() if k in ("field", "city", "kind")}))


def _event(roadshow: Any) -> ical.Event:
    length = roadshow.slot_minutes * (roadshow.presentation_slots + roadshow.meeting_slots)
    start = ical.local(roadshow.held_on, roadshow.start_time)
    page = url_for("programme.roadshow", roadshow_id=roadshow.id, _external=True)
    description = "\n".join(x for x in (str(KIND_LABELS.get(roadshow.kind, "")), roadshow.theme or "",
                                        roadshow.agenda or "", roadshow.online_link or "", page) if x)
    return ical.Event(uid=f"roadshow-{roadshow.id}@{request.host.split(':')[0]}", start=start,
                      end=ical.local(roadshow.held_on, roadshow.start_time, length), summary=roadshow.title,
                      description=description, location=roadshow.venue or roadshow.online_link or roadshow.city,
                      url=page, categories=[str(KIND_LABELS.get(roadshow.kind, roadshow.kind))])


def _ics(text: str, name: str) -> Response:
    return Response(text, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-cache"})


@bp.route("/calendar.ics")
def feed():
    rows = programme.feed_rows(db(), **_filters())
    return _ics(ical.calendar([_event(r) for r in rows], _("Roadshow programme")), "roadshows.ics")


def _roadshow(roadshow_id: int) -> Any:
    try:
        return programme.get_public(db(), roadshow_id)
    except NotFound:
        abort(404)


def _meetings_of_user(roadshow: Any) -> list:
    """The signed-in user's own 1:1 meetings (managers: none here; they have the full schedule)."""
    if not current_user.is_authenticated or roadshows.is_manager(current_user, roadshow):
        return []
    return roadshows.meetings(db(), roadshow, current_user)


@bp.route("/roadshows/<int:roadshow_id>")
def roadshow(roadshow_id: int):
    return _page_of(_roadshow(roadshow_id))


def _page_of(rs: Any, present_form: Any = None, status: int = 200, refused: Optional[dict[str, Any]] = None):
    """The public page; `present_form`: a refused application to present, drawn again with what was typed;
    `refused`: a manager's refused row form ({"form": links|decide|meeting, "id", "typed", "message"}), drawn
    again on its row with what was typed and why."""
    s = db()
    manager = roadshows.is_manager(current_user, rs)
    entry = programme.entry_of(s, rs.id, current_user)
    ctx: dict[str, Any] = dict(roadshow=rs, manager=manager, entry=entry, counts=programme.counts(s, rs),
                               KINDS=KIND_LABELS, PARTICIPANTS=PARTICIPANT_LABELS, org_name=programme.org_name,
                               position=programme.waiting_position(s, entry) if entry and entry.status == "waiting" else None,
                               applications=programme.applications(s, rs, current_user),
                               my_meetings=_meetings_of_user(rs), slot_times=roadshows.slot_times,
                               company_name=roadshows.company_name, register_form=RegisterForm(),
                               refused=refused or {})
    if current_user.is_authenticated and current_user.role == "university":
        form = present_form or PresentForm()
        form.achievement_id.choices = [(a.id, a.title) for a in listings.owned_by(s, "achievement", current_user)
                                       if a.status == "published"]
        ctx["present_form"] = form
    if manager:
        ctx.update(decide_form=DecideForm(), links_form=PresenterLinksForm(), meeting_form=MeetingLinkForm(),
                   schedule=roadshows.meetings(s, rs), waiting=programme.waiting_list(s, rs.id))
    return render_template("programme/roadshow.html", **ctx), status


@bp.route("/roadshows/<int:roadshow_id>.ics")
def roadshow_ics(roadshow_id: int):
    rs = _roadshow(roadshow_id)
    events = [_event(rs)]
    for m in _meetings_of_user(rs):
        start = ical.local(rs.held_on, rs.start_time, rs.slot_minutes * (rs.presentation_slots + m.slot - 1))
        events.append(ical.Event(
            uid=f"roadshow-{rs.id}-meeting-{m.id}@{request.host.split(':')[0]}", start=start,
            end=start + timedelta(minutes=rs.slot_minutes),
            summary=_("1:1 meeting: %(a)s / %(b)s", b=m.presenter.achievement.title,
                      a=roadshows.company_name(m.company, current_user, rs, _("Confidential company"))),
            description=_("Table %(t)s", t=m.table_no) + (f"\n{m.meeting_link}" if m.meeting_link else ""),
            location=m.meeting_link or rs.venue, url=m.meeting_link or ""))
    return _ics(ical.calendar(events, rs.title), f"roadshow-{rs.id}.ics")


def _back(roadshow_id: int, anchor: str = ""):
    return redirect(url_for("programme.roadshow", roadshow_id=roadshow_id) + (f"#{anchor}" if anchor else ""))


def _attempt(roadshow_id: int, action: Callable[[], Any], done: Callable[[Any], str], anchor: str = ""):
    """One service call and a flash (the request's unit commits); a refusal is flashed, never a 500."""
    try:
        result = action()
        flash(done(result), "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
    return _back(roadshow_id, anchor)


def _invalid(form: Any, roadshow_id: int, anchor: str = ""):
    if "csrf_token" in form.errors:
        abort(400)
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
    return _back(roadshow_id, anchor)


def _registered(row: Any) -> str:
    if row.status == "registered":
        return _("You are registered.")
    return _("All seats are taken: you are number %(n)s on the waiting list. You will be told when a seat is yours.",
             n=programme.waiting_position(db(), row))


@bp.route("/roadshows/<int:roadshow_id>/register", methods=["POST"])
def register(roadshow_id: int):
    form = RegisterForm()
    if not form.validate_on_submit():
        return _invalid(form, roadshow_id, "register")
    return _attempt(roadshow_id, lambda: programme.register_open(db(), roadshow_id, current_user, form.participant.data),
                    _registered, "register")


@bp.route("/roadshows/<int:roadshow_id>/cancel", methods=["POST"])
def cancel(roadshow_id: int):
    form = RegisterForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    return _attempt(roadshow_id, lambda: programme.cancel(db(), roadshow_id, current_user),
                    lambda _r: _("Your registration is cancelled."), "register")


@bp.route("/roadshows/<int:roadshow_id>/apply", methods=["POST"])
def apply(roadshow_id: int):
    rs = _roadshow(roadshow_id)
    form = PresentForm()
    form.achievement_id.choices = [(a.id, a.title) for a in listings.owned_by(db(), "achievement", current_user)]
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _page_of(rs, form, 422)  # the messages on the form, what was typed kept
    try:
        programme.apply_to_present(db(), rs, current_user, form.achievement_id.data, form.pitch.data)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return _page_of(_roadshow(roadshow_id), form, 422)
    flash(_("Your application to present is submitted; the broker will decide."), "success")
    return _back(roadshow_id, "apply")


def _managed(roadshow_id: int) -> Any:
    try:
        return roadshows.get_managed(db(), roadshow_id, current_user)
    except NotFound:
        abort(404)


def _row_refused(rs: Any, which: str, row_id: int, message: str):
    """A manager's row form refused: the page again (422) with what was typed on that row and the reason."""
    typed = {k: v for k, v in request.form.items() if k != "csrf_token"}
    flash(message, "danger")
    return _page_of(rs, status=422, refused={"form": which, "id": row_id, "typed": typed, "message": message})


def _row_form(rs: Any, which: str, row_id: int, form: Any, action: Callable[[], Any], done: str, anchor: str):
    """A manager's row form (decide, presenter links, meeting link): saved and back to the page, or drawn again
    with what was typed when the form or the service refuses it (a refusal is never a 500, nothing is lost)."""
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _row_refused(rs, which, row_id, " ".join(str(e) for errors in form.errors.values() for e in errors))
    try:
        action()
    except NotFound:
        abort(404)
    except ServiceError as err:
        abandon()  # nothing of the refused action is kept
        return _row_refused(_roadshow(rs.id), which, row_id, refusal(err))
    flash(done, "success")
    return _back(rs.id, anchor)


@bp.route("/roadshows/<int:roadshow_id>/applications/<int:application_id>/decide", methods=["POST"])
def decide(roadshow_id: int, application_id: int):
    rs = _managed(roadshow_id)
    form = DecideForm()
    accept = form.decision.data == "accept"

    def decide_after_panel() -> Any:  # 科技顾问团: a gating panel of the achievement must be complete first
        row = db().get(RoadshowApplication, application_id)
        if accept and row is not None and row.roadshow_id == rs.id and row.status == "submitted":
            panels.check_gate(db(), row.achievement_id)
        return programme.decide(db(), rs, application_id, accept, form.reason.data)
    return _row_form(rs, "decide", application_id, form, decide_after_panel,
                     _("Accepted: the achievement presents.") if accept else _("Declined."), "applications")


@bp.route("/roadshows/<int:roadshow_id>/presenters/<int:presenter_id>/links", methods=["POST"])
def presenter_links(roadshow_id: int, presenter_id: int):
    rs = _managed(roadshow_id)
    form = PresenterLinksForm()
    return _row_form(rs, "links", presenter_id, form,
                     lambda: programme.set_presenter_links(db(), rs, presenter_id, form.live_link.data,
                                                           form.recording_link.data),
                     _("Links saved."), "presenters")


@bp.route("/roadshows/<int:roadshow_id>/meetings/<int:meeting_id>/link", methods=["POST"])
def meeting_link(roadshow_id: int, meeting_id: int):
    rs = _managed(roadshow_id)
    form = MeetingLinkForm()
    return _row_form(rs, "meeting", meeting_id, form,
                     lambda: programme.set_meeting_link(db(), rs, meeting_id, form.meeting_link.data),
                     _("Links saved."), "schedule")


@bp.route("/figures")
def figures():
    year = request.args.get("year", "")
    region = request.args.get("region", "")[:32]
    figures = programme_stats.figures(db(), year=int(year) if year.isdigit() and 1900 < int(year) < 3000 else None,
                                      region_code=region, roadshow_target=current_app.config["PROGRAMME_ROADSHOW_TARGET"],
                                      project_target=current_app.config["PROGRAMME_PROJECT_TARGET"])
    page = programme_stats.roadshow_rows(db(), year=figures.year, region_code=region, page=_page(), per_page=PER_PAGE)
    return render_template("programme/figures.html", f=figures, page=page, region=region, KINDS=KIND_LABELS,
                           regions=programme.region_choices(db(), locale_code()), years=programme_stats.years(db()))
