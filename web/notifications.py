"""Notifications pages: the bell and list page, marking read, per-topic settings, signed unsubscribe links.

What a notification says: web/notification_texts.py; its mail and the digest: web/notification_mail.py;
`flask notify`: web/notify_cli.py; how events create notifications: services/notifications.py.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from models import User
from services import notifications
from services.cache import cache_for
from services.errors import NotFound

from . import policy
from .db import db, sessionmaker_for
from .forms import ActionForm, FlaskForm
from .notification_texts import TOPIC_LABELS, describe, link_for, read_unsubscribe_token

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

policy.allow("notifications.index", "GET", policy.SIGNED_IN, relation="self")
policy.allow("notifications.read", "POST", policy.SIGNED_IN, relation="self")
policy.allow("notifications.read_all", "POST", policy.SIGNED_IN, relation="self")
policy.allow("notifications.settings", ("GET", "POST"), policy.SIGNED_IN, relation="self")
policy.allow("notifications.unsubscribe", ("GET", "POST"), policy.ALL_ROLES,
             note="no sign-in: the signed token names the user and topic")


def init_app(app: Flask) -> None:
    """The bell's unread count on every page; one-click unsubscribe without a CSRF token."""
    app.jinja_env.globals["unread_notifications"] = _unread
    # the bell's count on every page: from the shared cache when there is one (was ~15% of a cached match page)
    app.extensions["unread_counts"] = counts = notifications.UnreadCounts(cache_for(app.config))
    counts.install(sessionmaker_for(app))
    # one-click unsubscribe (RFC 8058) posts from the mail client: the signed token is the credential
    app.extensions["csrf"].exempt("web.notifications.unsubscribe")


def _unread() -> int:
    if not getattr(current_user, "is_authenticated", False):
        return 0
    return current_app.extensions["unread_counts"].count(db(), current_user)


def _read_token(token: str) -> tuple[int, str]:
    found = read_unsubscribe_token(token)
    if found is None:
        abort(404)
    return found


class SettingsForm(FlaskForm):
    """Checkboxes are read from request.form by topic; the form carries CSRF."""


@bp.route("/")
def index():
    return render_template("notifications/list.html", rows=notifications.visible(db(), current_user),
                           describe=describe, link_for=link_for, form=ActionForm())


@bp.route("/<int(max=2147483647):notification_id>/read", methods=["POST"])
def read(notification_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        notifications.mark_read(db(), current_user, notification_id)
    except NotFound:
        abort(404)
    return redirect(url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
def read_all():
    if not ActionForm().validate_on_submit():
        abort(400)
    notifications.mark_read(db(), current_user)
    flash(_("All notifications marked as read."), "success")
    return redirect(url_for("notifications.index"))


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    form = SettingsForm()
    if form.validate_on_submit():
        for topic in notifications.TOPICS:
            notifications.save_preference(db(), current_user.id, topic,
                                          in_app=topic != "digest" and f"{topic}-in_app" in request.form,
                                          email=f"{topic}-email" in request.form)
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("notifications.settings"))
    return render_template("notifications/settings.html", form=form, labels=TOPIC_LABELS,
                           prefs=notifications.preferences(db(), current_user))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    user_id, topic = _read_token(token)
    user = db().get(User, user_id)
    if user is None or topic not in notifications.TOPICS:
        abort(404)
    if request.method == "POST":  # one click from the mail client (RFC 8058) or the button below
        in_app, _email = notifications.preference(db(), user_id, topic)
        notifications.save_preference(db(), user_id, topic, in_app=in_app, email=False)
        return render_template("notifications/unsubscribed.html", topic=TOPIC_LABELS[topic], done=True)
    return render_template("notifications/unsubscribed.html", topic=TOPIC_LABELS[topic], done=False)
