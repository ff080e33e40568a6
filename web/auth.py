"""Sign-in, sign-out, registration, the forgotten-password link and the language switch."""
from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, current_app, flash, make_response, redirect, render_template, request, session,
                   url_for)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import TooManyRequests

from models import User, utcnow
from services import accounts, jobs, mail, second_factor, taxonomy, usercache
from services.cache import cache_for
from services.errors import ServiceError

from . import policy, security
from .db import READ_METHODS, after_commit, db, sessionmaker_for
from .errors import refusal
from .forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm, TotpForm
from .i18n import locale_code
from .jobs import context as job_context

bp = Blueprint("auth", __name__)
policy.allow("auth.login", ("GET", "POST"), policy.ALL_ROLES, note="throttled per account and address")
policy.allow("auth.logout", "POST", policy.SIGNED_IN, relation="self")
policy.allow("auth.register", ("GET", "POST"), policy.ALL_ROLES, note="companies and universities; throttled")
policy.allow("auth.set_language", "POST", policy.ALL_ROLES)
policy.allow("auth.totp", ("GET", "POST"), policy.ALL_ROLES,
             note="second step of sign-in; only with a password-verified pending session; throttled")
policy.allow("auth.forgot_password", ("GET", "POST"), policy.ALL_ROLES,
             note="answers the same whether the e-mail is known or not; throttled per address and per e-mail")
policy.allow("auth.reset_password", ("GET", "POST"), policy.ALL_ROLES,
             note="only with an open single-use e-mailed link; ends every session of the account; throttled")
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
        if user is not None and not user.totp_secret:
            new_session(user)
        # a failed attempt answers the form again (no refusal): the unit commits its audit record too
        if user is None:
            if refused := _count_failure(account):  # the audit record of this attempt commits with the unit
                return refused
            form.password.errors.append(_("E-mail or password is wrong, or the account is deactivated."))
        elif user.totp_secret:  # the password was right; the second factor comes next
            session.clear()  # a new session: nothing from before sign-in is carried over
            session["totp_user"], session["totp_since"] = user.id, time.time()
            return redirect(url_for("auth.totp", next=safe_next(request.args.get("next"))))
        else:
            return _signed_in(user)
    return render_template("auth/login.html", form=form)


def _count_failure(account: str) -> Any:
    """Count a failed sign-in against its account; the 429 page when that filled the window. Answered, not
    raised: the failed attempt's audit record is in this request's unit and must be committed with it."""
    try:
        security.throttle().hit("login_account", account)
    except TooManyRequests as err:
        return current_app.handle_user_exception(err)
    return None


def new_session(user: User) -> None:
    """A server-side session for this browser (flushed; the view calls sign_in, the request's unit commits)."""
    accounts.start_session(db(), user, max_age_hours=current_app.config["SESSION_MAX_HOURS"])


def sign_in(user: User) -> None:
    """Put the new session into a fresh cookie session: nothing from before sign-in is carried over (undone with
    the request's unit of work if its commit fails, web/db.py), but the messages this request has for the reader
    (a notice of cleaned input, web/input_guard.py)."""
    messages = session.get("_flashes")
    session.clear()
    if messages:
        session["_flashes"] = messages
    login_user(user)


def _signed_in(user: User):
    sign_in(user)
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
        if ok:
            new_session(user)
            return _signed_in(user)
        if refused := _count_failure(account):
            return refused
        form.code.errors.append(_("This code is wrong or was already used. Enter the current code."))
    return render_template("auth/totp.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # this browser's server-side session is removed: a copy of its cookie is refused from now on
    accounts.end_session(db(), current_user._get_current_object())
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
            # always a new, unverified organisation: typing an existing one's name does not join it
            user = _registrar(form.role.data)(db(), email=form.email.data, password=form.password.data,
                                     display_name=form.display_name.data, role=form.role.data,
                                     org_name=form.org_name.data, region=form.region.data,
                                     industry=form.industry.data or None, credit_code=form.credit_code.data)
            new_session(user)
        except ServiceError as err:
            target = form.email if err.code == "account.email_taken" else form.password
            target.errors.append(refusal(err))
        else:
            sign_in(user)
            flash(_("Your account is ready."), "success")
            if user.role == "provider":  # the service directory (issue 21 part 2): list your services first
                return redirect(url_for("directory.new"))
            return redirect(url_for("public.dashboard"))
    return render_template("auth/register.html", form=form)


# ---------------------------------------------------------------- forgotten password (docs/security.md)

RESET_MAIL_JOB = "mail.password_reset"


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if request.method == "POST":
        security.throttle().hit("reset_address", security.client_ip() or "-")
    if form.validate_on_submit():
        # counted per typed address, known or not, so the limit says nothing about which accounts exist
        security.throttle().hit("reset_account", accounts.normalise_email(form.email.data))
        ttl = current_app.config["PASSWORD_RESET_TTL_MINUTES"]
        reset = accounts.request_password_reset(db(), form.email.data, ttl_minutes=ttl)
        # the link is made and mailed by a job after this commit: the answer takes as long for an unknown address
        job = jobs.submit_job(db(), RESET_MAIL_JOB, None, {"reset_id": reset.id}) if reset is not None else None
        if job is not None:
            queue, job_id = current_app.extensions["jobs"], job.id
            after_commit(lambda: queue.enqueue(job_id))
        flash(_("If an account uses this e-mail address, a link to choose a new password is on its way. It works "
                "once, within %(n)s minutes. Nothing arrived? Check the spam folder.", n=_minutes(ttl)), "info")
        return redirect(url_for("auth.forgot_password"))
    return render_template("auth/forgot_password.html", form=form), 422 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    if request.method == "POST":
        security.throttle().hit("reset_address", security.client_ip() or "-")
    reset = accounts.find_password_reset(db(), token)
    if reset is None:
        return _link_refused(token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(db(), reset, form.password.data)
        except ServiceError as err:
            if err.code == "account.reset_used":  # the claiming UPDATE matched nothing: nothing written
                return _link_refused(token)  # the refused use is audited, and the unit keeps that record
            form.password.errors.append(refusal(err))
        else:
            logout_user()  # every session of the account has ended; this browser signs in afresh
            session.clear()
            flash(_("Your password was changed and every session of your account was signed out. Sign in with "
                    "the new password."), "success")
            return redirect(url_for("auth.login"))
    resp = make_response(render_template("auth/reset_password.html", form=form), 422 if form.errors else 200)
    # the link's token is in this page's address: not kept by caches, not sent on as a Referer
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _link_refused(token: str):
    """The same answer whatever is wrong with the link; a refused POST is audited."""
    if request.method == "POST":
        accounts.refuse_reset_link(db(), token)
    flash(_("This link is not valid: it was already used, has expired or was copied incompletely. Ask for a "
            "new one."), "warning")
    return redirect(url_for("auth.forgot_password"))


def _minutes(ttl: float) -> int:
    return max(1, math.ceil(ttl))


@jobs.handler(RESET_MAIL_JOB)
def _reset_mail_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Make the link of a password reset and mail it; an unreachable mail server raises, so the queue retries
    (each try makes a new link; only the last one mailed works)."""
    return {"sent": send_reset_mail(ctx.need("app"), session, int(job.params["reset_id"]))}


def send_reset_mail(app: Flask, session: Session, reset_id: int) -> int:
    """Mail the link of an open reset in the user's language (1), or nothing when it is no longer open (0)."""
    issued = accounts.issue_reset_token(session, reset_id)
    if issued is None:
        return 0
    reset, token = issued
    session.commit()  # the link's hash is stored before the link leaves
    user, base = reset.user, app.config["PUBLIC_BASE_URL"].rstrip("/")
    left = (reset.expires_at - utcnow()).total_seconds() / 60
    with app.test_request_context("/", base_url=base), force_locale(_locale(app, user)):
        subject = _("[TechMatch] Choose a new password")
        body = render_template("mail/password_reset.txt", user=user, minutes=_minutes(left),
                               link=base + url_for("auth.reset_password", token=token))
    job_context(app).need("mailer").send(mail.compose(app.config["MAIL_FROM"], user.email, subject, body))
    return 1


def _locale(app: Flask, user: User) -> str:
    return user.locale if user.locale in app.config["LANGUAGES"] else app.config["BABEL_DEFAULT_LOCALE"]


def _registrar(role: str) -> Any:
    """Who registers the account: providers of the service directory (issue 21 part 2) come with their own
    organisation kind (services.directory); companies and universities as before."""
    from services import directory
    return directory.register_provider if role == "provider" else accounts.register


def _fill_choices(form: RegisterForm) -> None:
    if "provider" not in dict(form.role.choices):  # the service directory (issue 21 part 2)
        form.role.choices = list(form.role.choices) + [
            ("provider", _("Service provider (agency, platform, lab, IP service, investor, expert)"))]
    lc = locale_code()
    form.region.choices = [("", _("Choose…"))] + [(r.code, r.name(lc)) for r in taxonomy.regions(db())]
    form.industry.choices = [("", _("Choose…"))] + [(f.code, f.name(lc)) for f in taxonomy.top_fields(db())]


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next")) or url_for("public.home"))
