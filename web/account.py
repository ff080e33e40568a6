"""The account page: personal API tokens (created, shown once, revoked) and notification settings."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from services import tokens
from services.errors import NotFound, ServiceError

from . import policy
from .db import db
from .errors import message_for
from .forms import ActionForm

bp = Blueprint("account", __name__, url_prefix="/account")
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
            db().commit()
            form.name.data = ""
        except ServiceError as err:
            db().rollback()
            flash(message_for(err), "danger")
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
        db().commit()
    except NotFound:
        abort(404)
    flash(_("The token was revoked; programs using it can no longer sign in."), "success")
    return redirect(url_for("account.tokens"))
