"""Administration: users and roles, deactivation, the field taxonomy."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from services import accounts, audit, taxonomy
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import db
from .errors import refusal
from .forms import ActionForm, AuditFilterForm, CreateUserForm, FieldForm, UserAdminForm
from .i18n import locale_code

bp = Blueprint("admin", __name__, url_prefix="/admin")
for _endpoint, _methods in (("admin.users", "GET"), ("admin.create_user", "POST"), ("admin.change_role", "POST"),
                            ("admin.set_active", "POST"), ("admin.fields", "GET"),
                            ("admin.edit_field", ("GET", "POST"))):
    policy.allow(_endpoint, _methods, {policy.ADMIN}, relation="staff")


ROLES = ("company", "university", "broker", "admin")
ACTIVE_FILTERS = {"yes": True, "no": False}


@bp.route("/users")
@roles_required("admin")
def users():
    return _users_page(CreateUserForm())


def _users_page(create_form: CreateUserForm, status: int = 200):
    """One page of the user list, filtered by role, active state and a text in e-mail or name."""
    args = request.args
    role = args.get("role", "") if args.get("role", "") in ROLES else ""
    active = args.get("active", "") if args.get("active", "") in ACTIVE_FILTERS else ""
    q = args.get("q", "")[:100]
    rows = accounts.list_users(db(), role=role or None, q=q)
    if active:  # accounts.list_users has no active filter; the list is an admin's, a few hundred rows at most
        rows = [u for u in rows if bool(u.active) is ACTIVE_FILTERS[active]]
    size = current_app.config["PAGE_SIZE"]
    number = max(args.get("page", 1, type=int) or 1, 1)  # past the last page: the pager says so and leads back
    return render_template("admin/users.html", rows=rows[(number - 1) * size:number * size], total=len(rows),
                           page=number, page_size=size, role_form=UserAdminForm(), action_form=ActionForm(),
                           create_form=create_form, role=role, active=active, q=q), status


@bp.route("/users/new", methods=["POST"])
@roles_required("admin")
def create_user():
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(db(), email=form.email.data, password=form.password.data,
                                        display_name=form.display_name.data, role=form.role.data)
            # recorded here: services/accounts.create_user also serves self-registration, which is not privileged
            audit.record(db(), "user.created", actor=current_user, target=f"user:{user.id}",
                         detail={"role": user.role})
            flash(_("Account created."), "success")
            return redirect(url_for("admin.users"))
        except ServiceError as err:
            form.email.errors.append(refusal(err))
    return _users_page(form, 422)


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@roles_required("admin")
def change_role(user_id: int):
    form = UserAdminForm()
    if not form.validate_on_submit():
        flash(_("Choose a role from the list."), "danger")
        return redirect(url_for("admin.users"))
    return _apply(user_id, lambda user: accounts.set_role(db(), user, form.role.data, actor=current_user),
                  _("Role changed; the user's sessions were ended."))


@bp.route("/users/<int:user_id>/<any(activate, deactivate):what>", methods=["POST"])
@roles_required("admin")
def set_active(user_id: int, what: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    active = what == "activate"
    return _apply(user_id, lambda user: accounts.set_active(db(), user, active, actor=current_user),
                  _("Account activated.") if active else _("Account deactivated; its sessions were ended."))


def _apply(user_id: int, change, done: str):
    try:
        change(accounts.get_user(db(), user_id))
        flash(done, "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
    return redirect(url_for("admin.users"))


@bp.route("/fields")
@roles_required("admin")
def fields():
    return render_template("admin/fields.html", tops=taxonomy.top_fields(db(), include_inactive=True))


@bp.route("/fields/new", methods=["GET", "POST"])
@bp.route("/fields/<int:field_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit_field(field_id: int | None = None):
    try:
        field = taxonomy.get_field(db(), field_id) if field_id else None
    except NotFound:
        abort(404)
    form = FieldForm(obj=field)
    form.parent_code.choices = [("", _("(top level)"))] + [
        (f.code, f.name(locale_code())) for f in taxonomy.top_fields(db(), include_inactive=True)]
    if request.method == "GET" and field is not None and field.parent is not None:
        form.parent_code.data = field.parent.code
    if form.validate_on_submit():
        try:
            taxonomy.save_field(db(), code=form.code.data, name_zh=form.name_zh.data, name_en=form.name_en.data,
                                parent_code=form.parent_code.data or None, field=field, active=form.active.data,
                                actor=current_user)
            flash(_("Field saved."), "success")
            return redirect(url_for("admin.fields"))
        except ServiceError as err:
            form.code.errors.append(refusal(err))
    return render_template("admin/field_form.html", form=form, field=field)


policy.allow("admin.audit_log", "GET", {policy.ADMIN}, relation="staff", note="browse and filter the audit log")


@bp.route("/audit")
@roles_required("admin")
def audit_log():
    form = AuditFilterForm(request.args)
    form.action.choices = [("", _("All actions"))] + [(a, str(AUDIT_LABELS.get(a, a))) for a in audit.ACTIONS]
    problems = [] if form.validate() else [e for errs in form.errors.values() for e in errs]
    zone_name = current_app.config["PLATFORM_TIMEZONE"]
    zone = ZoneInfo(zone_name)
    f = audit.AuditFilter(action=form.action.data if form.action.data in audit.ACTIONS else "",
                          since=form.since.data if not form.since.errors else None,
                          until=form.until.data if not form.until.errors else None,
                          actor_id=_actor_id(form.actor.data or ""), zone=zone)
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = audit.search(db(), f, limit=AUDIT_PAGE + 1, offset=(number - 1) * AUDIT_PAGE)
    return render_template("admin/audit.html", form=form, rows=rows[:AUDIT_PAGE], problems=problems,
                           page=number, more=len(rows) > AUDIT_PAGE, unknown_actor=f.actor_id == -1,
                           labels=AUDIT_LABELS, zone_name=zone_name,
                           local_time=lambda stored: audit.local_time(stored, zone))


AUDIT_PAGE = 100
# every audit action in words (tests/web/test_audit_web.py checks that each of audit.ACTIONS has one)
AUDIT_LABELS = {
    "auth.login": _l("Signed in"), "auth.login_failed": _l("Sign-in failed"), "auth.logout": _l("Signed out"),
    "auth.logout_everywhere": _l("Signed out everywhere"), "auth.password_changed": _l("Password changed"),
    "auth.totp_enabled": _l("Two-step sign-in turned on"), "auth.totp_failed": _l("Two-step code refused"),
    "user.created": _l("Account created by an administrator"), "user.role_changed": _l("Role changed"),
    "user.activated": _l("Account activated"), "user.deactivated": _l("Account deactivated"),
    "taxonomy.field_created": _l("Field added to the taxonomy"),
    "taxonomy.field_changed": _l("Taxonomy field changed"), "listing.review": _l("Listing reviewed"),
    "intro.requested": _l("Introduction requested"), "intro.accepted": _l("Introduction accepted"),
    "intro.declined": _l("Introduction declined"), "intro.withdrawn": _l("Introduction withdrawn"),
    "contact.reveal": _l("Contact details shown"), "backup.created": _l("Backup made"),
    "backup.restored": _l("Backup restored"), "api.token_created": _l("API token created"),
    "api.token_revoked": _l("API token revoked"), "report.run": _l("Match report run"),
    "export.download": _l("List downloaded"), "job.retried": _l("Background job retried"),
    "auth.password_reset_requested": _l("New password asked for"),
    "auth.password_reset": _l("Password reset with an e-mailed link"),
    "auth.password_reset_failed": _l("Password reset link refused"),
    "region.created": _l("Region added"), "region.changed": _l("Region changed"),
    "contract.created": _l("Technology contract recorded"), "contract.changed": _l("Technology contract corrected"),
    "contract.imported": _l("Technology contracts imported"), "region_target.set": _l("Region target set"),
}
AUDIT_LABELS.update({"routing.rule_saved": _l("Routing rule saved"), "routing.rule_deleted": _l("Routing rule deleted"),
                    "routing.assigned": _l("Demand assigned to a broker"),
                    "demand.entered_for": _l("Demand entered for a company by a broker")})
AUDIT_LABELS.update({"panel.review_dropped": _l("Reviewed advisor taken off a panel, with their review")})
AUDIT_LABELS.update({"organisation.invite": _l("Colleague invited to the organisation"),
                     "organisation.join": _l("Invitation accepted: joined the organisation"),
                     "organisation.remove": _l("Member removed from the organisation"),
                     "organisation.role": _l("Member's organisation role changed")})


def _actor_id(text: str) -> int | None:
    """A user id from an id or an e-mail typed in the filter; -1 when nobody matches (shows nothing)."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    user = accounts.get_user_by_email(db(), text)
    return user.id if user else -1
