"""Sign-in, sign-out, registration and the language switch."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from services import accounts, audit, second_factor, taxonomy, usercache
from services.cache import cache_for
from services.errors import ServiceError

from . import policy, security
from .db import READ_METHODS, db, sessionmaker_for
from .errors import message_for
from .forms import LoginForm, RegisterForm, TotpForm
from .i18n import locale_code

bp = Blueprint("auth", __name__)
policy.allow("auth.login", ("GET", "POST"), policy.ALL_ROLES, note="throttled per account and address")
policy.allow("auth.logout", "POST", policy.SIGNED_IN, relation="self")
policy.allow("auth.register", ("GET", "POST"), policy.ALL_ROLES, note="companies and universities; throttled")
policy.allow("auth.set_language", "POST", policy.ALL_ROLES)
policy.allow("auth.totp", ("GET", "POST"), policy.ALL_ROLES,
             note="second step of sign-in; only with a password-verified pending session; throttled")
login_manager = LoginManager()


def init_app(app: Flask) -> None:
    """Wire Flask-Login with a loader that honours ended sessions."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    # reading requests take the user from a snapshot in the shared cache when there is one (services/usercache.py)
    app.extensions["signed_in_users"] = users = usercache.UserSnapshots(cache_for(app.config))
    users.install(sessionmaker_for(app))
    login_manager.user_loader(_load_user)


def _load_user(session_id: str):
    if request.method in READ_METHODS:
        return current_app.extensions["signed_in_users"].load(db(), session_id)
    return accounts.load_session_user(db(), session_id)


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in target):
        return None  # browsers drop tabs/newlines, so "/\t/evil.example" would become "//evil.example"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "POST":
        security.throttle().hit("login_address", security.client_ip() or "-")
    if form.validate_on_submit():
        account = accounts.normalise_email(form.email.data)
        if not security.throttle().allowed("login_account", account):
            security.throttle().refuse("login_account", account)
        user = accounts.authenticate(db(), form.email.data, form.password.data)
        db().commit()  # the audit record of a failed attempt is kept too
        if user is None:
            security.throttle().hit("login_account", account)
            form.password.errors.append(_("E-mail or password is wrong, or the account is deactivated."))
        else:
            session.clear()  # a new session: nothing from before sign-in is carried over
            if user.totp_secret:  # the password was right; the second factor comes next
                session["totp_user"], session["totp_since"] = user.id, time.time()
                return redirect(url_for("auth.totp", next=safe_next(request.args.get("next"))))
            return _signed_in(user)
    return render_template("auth/login.html", form=form)


def _signed_in(user):
    login_user(user)
    flash(_("Welcome, %(name)s.", name=user.display_name), "success")
    return redirect(safe_next(request.args.get("next")) or url_for("public.dashboard"))


TOTP_WINDOW_S = 300


@bp.route("/login/code", methods=["GET", "POST"])
def totp():
    pending, since = session.get("totp_user"), session.get("totp_since", 0)
    if not pending or time.time() - since > TOTP_WINDOW_S:
        session.pop("totp_user", None)
        flash(_("Sign in with your password first."), "info")
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        user = accounts.get_user(db(), pending)
        account = f"totp:{user.id}"
        if not security.throttle().allowed("login_account", account):
            security.throttle().refuse("login_account", account)
        ok = second_factor.verify(db(), user, form.code.data) and user.active
        db().commit()
        if ok:
            session.clear()
            return _signed_in(user)
        security.throttle().hit("login_account", account)
        form.code.errors.append(_("This code is wrong or was already used. Enter the current code."))
    return render_template("auth/totp.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit.record(db(), "auth.logout", actor=current_user, target=f"user:{current_user.id}")
    db().commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("public.home"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    _fill_choices(form)
    if request.method == "POST":
        security.throttle().hit("register_address", security.client_ip() or "-")
    if form.validate_on_submit():
        security.throttle().hit("register_account", accounts.normalise_email(form.email.data))
        try:
            user = accounts.register(db(), email=form.email.data, password=form.password.data,
                                     display_name=form.display_name.data, role=form.role.data,
                                     org_name=form.org_name.data, region=form.region.data,
                                     industry=form.industry.data or None, credit_code=form.credit_code.data)
            db().commit()
        except ServiceError as err:
            db().rollback()
            target = form.email if err.code == "account.email_taken" else form.password
            target.errors.append(message_for(err))
        else:
            session.clear()
            login_user(user)
            flash(_("Your account is ready."), "success")
            return redirect(url_for("public.dashboard"))
    return render_template("auth/register.html", form=form)


def _fill_choices(form: RegisterForm) -> None:
    lc = locale_code()
    form.region.choices = [("", _("Choose…"))] + [(r.code, r.name(lc)) for r in taxonomy.regions(db())]
    form.industry.choices = [("", _("Choose…"))] + [(f.code, f.name(lc)) for f in taxonomy.top_fields(db())]


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next")) or url_for("public.home"))
