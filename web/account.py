"""The signed-in user's own account: password change, signing out everywhere, second factor, API tokens."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from services import accounts, second_factor, tokens
from services.errors import NotFound, ServiceError

from . import policy
from .auth import new_session, sign_in
from .db import db
from .errors import refusal
from .forms import ActionForm, FlaskForm, PasswordChangeForm, TotpForm

bp = Blueprint("account", __name__, url_prefix="/account")
policy.allow("account.security", "GET", policy.SIGNED_IN, relation="self")
policy.allow("account.password", "POST", policy.SIGNED_IN, relation="self",
             note="needs the current password; ends every other session")
policy.allow("account.logout_everywhere", "POST", policy.SIGNED_IN, relation="self")


@bp.route("/security")
def security():
    return render_template("account/security.html", form=PasswordChangeForm(), action_form=ActionForm())


@bp.route("/password", methods=["POST"])
def password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            user = accounts.change_password(db(), current_user._get_current_object(), form.current.data,
                                           form.password.data)
            new_session(user)  # every session ended; this browser gets a new one, the others are out
        except ServiceError as err:
            (form.current if err.code == "account.password_wrong" else form.password).errors.append(refusal(err))
        else:
            sign_in(user)
            flash(_("Password changed. Every other session has been signed out."), "success")
            return redirect(url_for("account.security"))
    return render_template("account/security.html", form=form, action_form=ActionForm()), 422


@bp.route("/logout-everywhere", methods=["POST"])
def logout_everywhere():
    if not ActionForm().validate_on_submit():
        abort(400)
    accounts.end_sessions(db(), current_user)
    logout_user()
    session.clear()
    flash(_("You have been signed out on every device."), "info")
    return redirect(url_for("auth.login"))


policy.allow("account.totp", ("GET", "POST"), policy.SIGNED_IN, relation="self",
             note="enrol a TOTP second factor (required for TOTP_REQUIRED_ROLES)")


@bp.route("/two-factor", methods=["GET", "POST"])
def totp():
    user = current_user._get_current_object()
    if user.totp_secret:
        return render_template("account/totp.html", enrolled=True)
    secret = session.get("totp_enrol") or second_factor.new_secret()
    session["totp_enrol"] = secret  # kept until the user confirms a code from their app
    form = TotpForm()
    if form.validate_on_submit():
        try:
            second_factor.enable(db(), user, secret, form.code.data)
        except ServiceError as err:
            form.code.errors.append(refusal(err))
        else:
            session.pop("totp_enrol", None)
            flash(_("Two-step sign-in is on. From now on you also enter a code from your app."), "success")
            return redirect(url_for("account.security"))
    return render_template("account/totp.html", enrolled=False, form=form, secret=secret,
                           uri=second_factor.provisioning_uri(user, secret)), 422 if form.is_submitted() else 200


# Personal API tokens (docs/api.md)
policy.allow("account.tokens", ("GET", "POST"), policy.SIGNED_IN, relation="self", note="one's own tokens")
policy.allow("account.revoke_token", "POST", policy.SIGNED_IN, relation="self", note="one's own tokens")


class TokenForm(FlaskForm):
    name = StringField(_l("Token name (what it is for)"), validators=[
        DataRequired(message=_l("This field is required.")),
        Length(max=80, message=_l("Keep this under %(max)d characters.", max=80))])


def tokens_page():
    form, clear = TokenForm(), None
    if form.validate_on_submit():
        try:
            _token, clear = tokens.create_token(db(), current_user, form.name.data)
            form.name.data = ""
        except ServiceError as err:
            flash(refusal(err), "danger")
    # the clear token is rendered once in this response, never flashed (the session cookie is not secret)
    return render_template("account/tokens.html", form=form, clear=clear, action_form=ActionForm(),
                           rows=tokens.tokens_of(db(), current_user)), 422 if form.errors else 200


bp.add_url_rule("/tokens", "tokens", tokens_page, methods=["GET", "POST"])


@bp.route("/tokens/<int(max=2147483647):token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        tokens.revoke_token(db(), current_user, token_id)
    except NotFound:
        abort(404)
    flash(_("The token was revoked; programs using it can no longer sign in."), "success")
    return redirect(url_for("account.tokens"))
