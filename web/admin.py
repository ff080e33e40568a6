"""Administration: users and roles, deactivation, the field taxonomy."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import accounts, audit, taxonomy
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import db
from .errors import message_for
from .forms import ActionForm, AuditFilterForm, CreateUserForm, FieldForm, UserAdminForm
from .i18n import locale_code

bp = Blueprint("admin", __name__, url_prefix="/admin")
for _endpoint, _methods in (("admin.users", "GET"), ("admin.create_user", "POST"), ("admin.change_role", "POST"),
                            ("admin.set_active", "POST"), ("admin.fields", "GET"),
                            ("admin.edit_field", ("GET", "POST"))):
    policy.allow(_endpoint, _methods, {policy.ADMIN}, relation="staff")


@bp.route("/users")
@roles_required("admin")
def users():
    role = request.args.get("role", "")
    rows = accounts.list_users(db(), role=role if role in ("company", "university", "broker", "admin") else None,
                               q=request.args.get("q", "")[:100])
    return render_template("admin/users.html", rows=rows, role_form=UserAdminForm(), action_form=ActionForm(),
                           create_form=CreateUserForm(), role=role)


@bp.route("/users/new", methods=["POST"])
@roles_required("admin")
def create_user():
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            accounts.create_user(db(), email=form.email.data, password=form.password.data,
                                 display_name=form.display_name.data, role=form.role.data)
            db().commit()
            flash(_("Account created."), "success")
            return redirect(url_for("admin.users"))
        except ServiceError as err:
            db().rollback()
            form.email.errors.append(message_for(err))
    return render_template("admin/users.html", rows=accounts.list_users(db()), role_form=UserAdminForm(),
                           action_form=ActionForm(), create_form=form, role=""), 422


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
        db().commit()
        flash(done, "success")
    except NotFound:
        abort(404)
    except ServiceError as err:
        db().rollback()
        flash(message_for(err), "danger")
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
                                parent_code=form.parent_code.data or None, field=field, active=form.active.data)
            db().commit()
            flash(_("Field saved."), "success")
            return redirect(url_for("admin.fields"))
        except ServiceError as err:
            db().rollback()
            form.code.errors.append(message_for(err))
    return render_template("admin/field_form.html", form=form, field=field)


policy.allow("admin.audit_log", "GET", {policy.ADMIN}, relation="staff", note="browse and filter the audit log")


@bp.route("/audit")
@roles_required("admin")
def audit_log():
    form = AuditFilterForm(request.args)
    form.action.choices = [("", _("All actions"))] + [(a, a) for a in audit.ACTIONS]
    problems = [] if form.validate() else [e for errs in form.errors.values() for e in errs]
    f = audit.AuditFilter(action=form.action.data if form.action.data in audit.ACTIONS else "",
                          since=form.since.data if not form.since.errors else None,
                          until=form.until.data if not form.until.errors else None,
                          actor_id=_actor_id(form.actor.data or ""))
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = audit.search(db(), f, limit=AUDIT_PAGE + 1, offset=(number - 1) * AUDIT_PAGE)
    return render_template("admin/audit.html", form=form, rows=rows[:AUDIT_PAGE], problems=problems,
                           page=number, more=len(rows) > AUDIT_PAGE, unknown_actor=f.actor_id == -1)


AUDIT_PAGE = 100


def _actor_id(text: str) -> int | None:
    """A user id from an id or an e-mail typed in the filter; -1 when nobody matches (shows nothing)."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    user = accounts.get_user_by_email(db(), text)
    return user.id if user else -1
