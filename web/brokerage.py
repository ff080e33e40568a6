"""Broker operations (issue 21 part 4): the broker's caseload, the overdue and unassigned queue with
reassignment, routing rules (admins), demands a broker enters for a company and the company's confirmation,
and broker profiles. The per-broker performance table is on web/broker_stats.py.

Who: brokers see their own caseload (admins pick any broker's); brokers take a queued demand on themselves,
admins assign it to anyone; only admins edit routing rules; the company confirms a demand entered for it
(its owning side only, 404 for anyone else); a broker edits their own profile, admins see all profiles."""
from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from models import Role, User
from services import brokerage, brokerage_entries, exports, organisations, regions, taxonomy
from services.errors import NotFound, ServiceError
from services.exports import Table

from . import policy, security
from .access import roles_required
from .brokerage_forms import (HOW_LABELS, LEVEL_LABELS, AssignForm, ConfirmForm, EnterDemandForm, ProfileForm,
                              RuleForm, level_choices, message)
from .db import abandon, db
from .forms import listing_data
from .i18n import STATUS_LABELS, locale_code

bp = Blueprint("brokerage", __name__)
BROKER_ADMIN = frozenset({policy.BROKER, policy.ADMIN})
policy.allow("brokerage.caseload", "GET", policy.STAFF, relation="self",
             note="a broker's own caseload; admins may pick any broker (?broker=id); ?format=csv downloads it "
                  "(no contact details)")
policy.allow("brokerage.overdue", "GET", policy.STAFF, note="open demands idle for N days, and the unassigned ones")
policy.allow("brokerage.assign", "POST", policy.STAFF, relation="staff",
             note="admins assign to any broker; a broker takes a demand on themselves only")
policy.allow("brokerage.enter", ("GET", "POST"), BROKER_ADMIN,
             note="a demand entered for a company account, hidden until the company confirms")
policy.allow("brokerage.confirm", ("GET", "POST"), {policy.COMPANY}, relation="owner",
             note="the company's side only (404 for anyone else)")
policy.allow("brokerage.rules", "GET", {policy.ADMIN}, note="routing rules")
policy.allow("brokerage.rule_new", ("GET", "POST"), {policy.ADMIN})
policy.allow("brokerage.rule_edit", ("GET", "POST"), {policy.ADMIN})
policy.allow("brokerage.rule_delete", "POST", {policy.ADMIN})
policy.allow("brokerage.profile", ("GET", "POST"), {policy.BROKER}, relation="self", note="the broker's own profile")
policy.allow("brokerage.profiles", "GET", {policy.ADMIN}, note="every broker's profile")


def init_app(app: Any) -> None:
    """Labels for templates."""
    app.jinja_env.globals.update(BROKER_LEVEL_LABELS=LEVEL_LABELS, ASSIGNED_HOW_LABELS=HOW_LABELS)


def _int_arg(name: str, lo: int, hi: int) -> Optional[int]:
    raw = (request.args.get(name) or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


# ---------------------------------------------------------------- caseload and queue


@bp.route("/caseload/")
@roles_required("broker", "admin")
def caseload():
    broker: Optional[User] = current_user if current_user.role == Role.BROKER.value else None
    chosen = _int_arg("broker", 1, 2_147_483_647)
    if current_user.role == Role.ADMIN.value and chosen:
        user = db().get(User, chosen)
        broker = user if user is not None and user.role == Role.BROKER.value else None
    rows = brokerage.caseload(db(), broker) if broker is not None else []
    if request.args.get("format") == "csv":
        name = f"caseload-{broker.id}.csv" if broker is not None else "caseload.csv"
        return Response(exports.to_csv(_caseload_table(rows)), mimetype=exports.CSV_MIME,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return render_template("brokerage/caseload.html", broker=broker, rows=rows, brokers=brokerage.brokers(db()),
                           overdue_days=brokerage.overdue_days(current_app.config.get("DEMAND_OVERDUE_DAYS")))


def _caseload_table(rows: list[brokerage.CaseRow]) -> Table:
    """The caseload as a table (the page's columns, and the last action's date): no contact details."""
    def day(value: Any) -> str:
        return value.strftime("%Y-%m-%d") if value else ""

    return Table(headers=[_("Demand ID"), _("Demand"), _("Organisation"), _("Status"), _("Assigned"),
                          _("Last action"), _("Days since last action"), _("Opportunities")],
                 rows=[[r.demand.id, r.demand.title, organisations.demand_company_name(r.demand, current_user),
                        str(STATUS_LABELS.get(r.demand.status, r.demand.status)), day(r.assigned_at),
                        day(r.last_action), "" if r.days_idle() is None else r.days_idle(), r.opportunities]
                       for r in rows], title="caseload")


def _assign_form() -> AssignForm:
    form = AssignForm()
    form.broker_id.choices = [(b.id, b.display_name) for b in brokerage.brokers(db())]
    return form


@bp.route("/caseload/overdue")
@roles_required("broker", "admin")
def overdue():
    default = brokerage.overdue_days(current_app.config.get("DEMAND_OVERDUE_DAYS"))
    lo, hi = brokerage.OVERDUE_DAYS_RANGE
    days = _int_arg("days", lo, hi)
    if days is None:
        if (request.args.get("days") or "").strip():  # typed, but not a number of days: say so, show the default
            flash(_("Enter a number of days from %(lo)s to %(hi)s; the queue shows the default of %(days)s days.",
                    lo=lo, hi=hi, days=default), "warning")
        days = default
    return render_template("brokerage/overdue.html", days=days, rows=brokerage.overdue(db(), days),
                           unassigned=brokerage.unassigned(db()), form=_assign_form())


@bp.route("/caseload/<int:demand_id>/assign", methods=["POST"])
@roles_required("broker", "admin")
def assign(demand_id: int):
    form = _assign_form()
    if current_user.role == Role.BROKER.value and not request.form.get("broker_id"):
        form.broker_id.data = current_user.id
        form.broker_id.raw_data = [str(current_user.id)]
    back = request.form.get("back") == "caseload"
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "danger")
        return redirect(url_for("brokerage.overdue"))
    try:
        brokerage.assign(db(), current_user, demand_id, form.broker_id.data)
    except NotFound:
        abort(404)
    except ServiceError as err:
        abandon()
        flash(message(err), "danger")
        return redirect(url_for("brokerage.overdue"))
    flash(_("Assigned."), "success")
    return redirect(url_for("brokerage.caseload") if back else url_for("brokerage.overdue"))


# ---------------------------------------------------------------- demands entered for a company


def _populate(form: EnterDemandForm) -> None:
    lc = locale_code()
    form.field_code.choices = [("", _("Choose…"))] + taxonomy.field_choices(db(), lc)
    form.region.choices = [("", _("Choose…"))] + [(r.code, r.name(lc)) for r in taxonomy.regions(db())]
    form.company_id.choices = [(u.id, f"{u.display_name} · {u.organisation.name if u.organisation else ''}")
                               for u in brokerage_entries.companies(db())]


@bp.route("/caseload/enter", methods=["GET", "POST"])
@roles_required("broker", "admin")
def enter():
    form = EnterDemandForm()
    _populate(form)
    if form.validate_on_submit():
        data = listing_data(form)
        company_id = data.pop("company_id")
        try:
            demand = brokerage_entries.enter_for_company(db(), current_user, company_id, data)
        except ServiceError as err:
            abandon()
            flash(message(err), "danger")
            return render_template("brokerage/enter.html", form=form), 422
        flash(_("Saved. The company is asked to confirm the demand before it goes to review."), "success")
        return redirect(url_for("public.detail", kind="demand", listing_id=demand.id))
    status = 422 if form.is_submitted() else 200
    return render_template("brokerage/enter.html", form=form), status


@bp.route("/entered/<int:demand_id>", methods=["GET", "POST"])
@roles_required("company")
def confirm(demand_id: int):
    try:
        demand, entry = brokerage_entries.entry_for(db(), current_user, demand_id)
    except NotFound:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        as_draft = request.form.get("intent") == "draft"
        try:
            brokerage_entries.confirm_entry(db(), current_user, demand_id, as_draft=as_draft)
        except ServiceError as err:
            abandon()
            flash(message(err), "danger")
            return redirect(url_for("brokerage.confirm", demand_id=demand_id))
        flash(_("Kept as your draft: change it and submit it when ready.") if as_draft
              else _("Confirmed. The demand is now under review."), "success")
        return redirect(url_for("public.detail", kind="demand", listing_id=demand_id))
    security.no_store()  # every field the company confirms, its contact details included
    return render_template("brokerage/confirm.html", demand=demand, entry=entry, form=form,
                           region_names=taxonomy.region_names(db(), locale_code()))


# ---------------------------------------------------------------- routing rules


def _rule_form(rule: Any = None) -> RuleForm:
    form = RuleForm(obj=None)
    lc = locale_code()
    form.field_code.choices = [("", _("Any field"))] + taxonomy.filter_field_choices(db(), lc)
    form.region_code.choices = [("", _("Anywhere"))] + regions.choices(db(), lc)
    form.brokers.choices = [(b.id, b.display_name) for b in brokerage.brokers(db())]
    if rule is not None and request.method == "GET":
        form.name.data, form.priority.data, form.active.data = rule.name, rule.priority, rule.active
        form.field_code.data = rule.field.code if rule.field else ""
        form.region_code.data = rule.region.code if rule.region else ""
        form.brokers.data = [b.id for b in rule.brokers]
    return form


def _save_rule(form: RuleForm, rule: Any):
    data = {"name": form.name.data, "field_code": form.field_code.data, "region_code": form.region_code.data,
            "priority": form.priority.data, "active": form.active.data, "broker_ids": form.brokers.data}
    try:
        brokerage.save_rule(db(), current_user, rule, data)
    except ServiceError as err:
        abandon()
        flash(message(err), "danger")
        return render_template("brokerage/rule_form.html", form=form, rule=rule), 422
    flash(_("Routing rule saved."), "success")
    return redirect(url_for("brokerage.rules"))


@bp.route("/admin/routing/")
@roles_required("admin")
def rules():
    return render_template("brokerage/rules.html", rules=brokerage.rules(db()), form=ConfirmForm())


@bp.route("/admin/routing/new", methods=["GET", "POST"])
@roles_required("admin")
def rule_new():
    form = _rule_form()
    if form.validate_on_submit():
        return _save_rule(form, None)
    return render_template("brokerage/rule_form.html", form=form, rule=None), 422 if form.is_submitted() else 200


@bp.route("/admin/routing/<int:rule_id>", methods=["GET", "POST"])
@roles_required("admin")
def rule_edit(rule_id: int):
    try:
        rule = brokerage.get_rule(db(), rule_id)
    except NotFound:
        abort(404)
    form = _rule_form(rule)
    if form.validate_on_submit():
        return _save_rule(form, rule)
    return render_template("brokerage/rule_form.html", form=form, rule=rule), 422 if form.is_submitted() else 200


@bp.route("/admin/routing/<int:rule_id>/delete", methods=["POST"])
@roles_required("admin")
def rule_delete(rule_id: int):
    try:
        rule = brokerage.get_rule(db(), rule_id)
    except NotFound:
        abort(404)
    if ConfirmForm().validate_on_submit():
        brokerage.delete_rule(db(), current_user, rule)
        flash(_("Routing rule deleted."), "success")
    else:
        flash(_("The form expired: please try again."), "danger")
    return redirect(url_for("brokerage.rules"))


# ---------------------------------------------------------------- profiles


@bp.route("/brokers/profile", methods=["GET", "POST"])
@roles_required("broker")
def profile():
    current = brokerage.profile_of(db(), current_user)
    form = ProfileForm()
    lc = locale_code()
    form.certificate_level.choices = level_choices()
    form.field_codes.choices = [(f.code, f.name(lc)) for f in taxonomy.top_fields(db())]
    form.region_codes.choices = regions.choices(db(), lc)
    if request.method == "GET":
        form.certificate_level.data = current.certificate_level or ""
        form.certificate_number.data = current.certificate_number
        form.training_hours.data = current.training_hours
        form.field_codes.data = [f.code for f in current.fields]
        form.region_codes.data = [r.code for r in current.regions]
    if form.validate_on_submit():
        try:
            brokerage.save_profile(db(), current_user, {
                "certificate_level": form.certificate_level.data, "certificate_number": form.certificate_number.data,
                "training_hours": form.training_hours.data, "field_codes": form.field_codes.data,
                "region_codes": form.region_codes.data})
        except ServiceError as err:
            abandon()
            flash(message(err), "danger")
            return render_template("brokerage/profile.html", form=form), 422
        flash(_("Profile saved."), "success")
        return redirect(url_for("brokerage.profile"))
    return render_template("brokerage/profile.html", form=form), 422 if form.is_submitted() else 200


@bp.route("/brokers/")
@roles_required("admin")
def profiles():
    return render_template("brokerage/profiles.html", rows=brokerage.all_profiles(db()))
