"""Notifications: the bell and list page, settings, signed unsubscribe links, mail delivery, CLI commands.

Events create Notification rows inside the transaction that caused them (a review decision, a match run);
after that transaction commits, pending e-mails are sent through the configured backend (inline when
JOBS_MODE is inline, else by a `mail.send` job that the queue retries while the mail server is unreachable).
Texts are rendered in the recipient's language.
"""
from __future__ import annotations

import hashlib
import logging
import weakref
from typing import Any, Iterable, Optional

import click
from flask import (Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for)
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from models import Notification, User
from services import bands, challenges, jobs, listings, mail, notifications
from services.cache import cache_for
from services.errors import NotFound
from services.matching import MatchingUnavailable

from . import policy
from .db import db, sessionmaker_for, write_session
from .forms import ActionForm, FlaskForm
from .i18n import KIND_LABELS

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
log = logging.getLogger(__name__)
notify_cli = AppGroup("notify", help="Notifications: new matches, weekly digest, pending mail.")

policy.allow("notifications.index", "GET", policy.SIGNED_IN, relation="self")
policy.allow("notifications.read", "POST", policy.SIGNED_IN, relation="self")
policy.allow("notifications.read_all", "POST", policy.SIGNED_IN, relation="self")
policy.allow("notifications.settings", ("GET", "POST"), policy.SIGNED_IN, relation="self")
policy.allow("notifications.unsubscribe", ("GET", "POST"), policy.ALL_ROLES,
             note="no sign-in: the signed token names the user and topic")

TOPIC_LABELS = {"listing_approved": _l("My listing was approved"),
                "listing_returned": _l("My listing was sent back for changes (with the reason)"),
                "listing_rejected": _l("My listing was rejected (with the reason)"),
                "strong_match": _l("New matches for my published listings"),
                "intro_requested": _l("Someone asks to introduce one of my listings to a counterpart"),
                "intro_accepted": _l("An introduction I asked for was accepted by both sides"),
                "roadshow_invited": _l("I am invited to a roadshow"),
                "challenge_deadline": _l("A 揭榜挂帅 challenge in my field closes soon"),
                "digest": _l("Weekly digest")}


def init_app(app: Flask) -> None:
    """Create notifications with review decisions; mail them after commit."""
    factory = sessionmaker_for(app)
    app.extensions["mailer"] = mail.build_mailer(app.config)
    _APPS[app.extensions["db_engine"]] = app

    def before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        notifications.from_review_events(session)

    def after_commit(session: Session) -> None:
        notes = session.info.pop("notifications_new", [])
        ids = sorted({n.id for n in notes if n.id is not None and n.email_status == "pending"})
        if ids:
            queue_mail(app, ids)

    event.listen(factory, "before_flush", before_flush)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", lambda session: session.info.pop("notifications_new", None))
    app.jinja_env.globals["unread_notifications"] = _unread
    # the bell's count on every page: from the shared cache when there is one (was ~15% of a cached match page)
    app.extensions["unread_counts"] = counts = notifications.UnreadCounts(cache_for(app.config))
    counts.install(factory)
    app.cli.add_command(notify_cli)
    # one-click unsubscribe (RFC 8058) posts from the mail client: the signed token is the credential
    app.extensions["csrf"].exempt("web.notifications.unsubscribe")


# the app behind each engine, so mail.send jobs (run by a queue consumer) find their templates and mailer
_APPS: "weakref.WeakKeyDictionary[Any, Flask]" = weakref.WeakKeyDictionary()
MAIL_JOB = "mail.send"


def queue_mail(app: Flask, ids: list[int]) -> None:
    """Mail these notifications now (JOBS_MODE=inline) or through a mail.send job; a failure is logged, the
    notifications stay pending for `flask notify send`."""
    queue = app.extensions["jobs"]
    if queue.inline:
        deliver(app, ids)
        return
    try:
        with write_session(app) as s:  # its own transaction: the user's commit is already done
            job = jobs.submit_job(s, MAIL_JOB, None, {"ids": ids}, key=_mail_key(ids),
                                  reuse_done=True)
            s.commit()
            job_id = job.id
    except Exception as err:
        log.warning("mail job for notifications %s not queued (%s); `flask notify send` catches up", ids,
                    type(err).__name__)
        return
    queue.enqueue(job_id)


def _mail_key(ids: list[int]) -> str:
    """One mail job per set of notifications: the same set queued twice is mailed once."""
    return f"{MAIL_JOB}:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:40]


@jobs.handler(MAIL_JOB)
def _mail_job(session: Session, job: Any, progress: jobs.Progress) -> dict:
    """Mail a job's notifications; an unreachable mail server raises, so the queue retries what is left."""
    ids = list(job.params["ids"])
    progress(0, len(ids))
    sent = deliver(_APPS[session.get_bind()], ids, raise_transient=True)
    return {"sent": sent}


def _unread() -> int:
    if not getattr(current_user, "is_authenticated", False):
        return 0
    return current_app.extensions["unread_counts"].count(db(), current_user)


# ---------------------------------------------------------------- texts

def describe(note: Notification) -> str:
    """The notification's text in the current language (no contact details: params carry none)."""
    p = note.params or {}
    kind_label = KIND_LABELS.get(p.get("listing_kind", ""), "")
    texts = {
        "listing_approved": lambda: _("Your %(kind)s “%(title)s” was approved and is now published.",
                                      kind=kind_label, title=p.get("title")),
        "listing_returned": lambda: _("Your %(kind)s “%(title)s” was sent back for changes. Reason: %(reason)s",
                                      kind=kind_label, title=p.get("title"), reason=p.get("reason") or "—"),
        "listing_rejected": lambda: _("Your %(kind)s “%(title)s” was rejected. Reason: %(reason)s",
                                      kind=kind_label, title=p.get("title"), reason=p.get("reason") or "—"),
        "strong_match": lambda: _match_text(p, kind_label),
        "intro_requested": lambda: _("Introduction request: demand “%(demand)s” and achievement “%(achievement)s”. "
                                     "Open your introductions to accept or decline.",
                                     demand=p.get("demand_title"), achievement=p.get("achievement_title")),
        "intro_accepted": lambda: _("Both sides agreed to the introduction of “%(demand)s” and “%(achievement)s”; "
                                    "contact details are now visible to them.",
                                    demand=p.get("demand_title"), achievement=p.get("achievement_title")),
        "roadshow_invited": lambda: _("You are invited to the roadshow “%(title)s” on %(date)s. Register to "
                                      "take a seat.", title=p.get("title"), date=p.get("date")),
        "challenge_deadline": lambda: _("The challenge “%(title)s” in your field takes applications until "
                                        "%(date)s.", title=p.get("title"), date=p.get("deadline")),
    }
    return texts.get(note.kind, lambda: _("Notification"))()


def _match_band(p: dict) -> str:
    """The band of an announced pair; notices from before the bands carry only their score."""
    return p.get("band") or bands.band_of(float(p.get("score") or 0))


def _match_text(p: dict, kind_label: Any) -> str:
    """A new-match notice says which band the pair is in (NOTIFY_MATCH_MIN_BAND may let possible ones through)."""
    args = dict(score=p.get("score"), kind=kind_label, title=p.get("title"), other=p.get("other_title"))
    if _match_band(p) == bands.STRONG:
        return _("New strong match (score %(score)s) for your %(kind)s “%(title)s”: “%(other)s”.", **args)
    return _("New possible match (score %(score)s) for your %(kind)s “%(title)s”: “%(other)s”.", **args)


def link_for(note: Notification) -> Optional[str]:
    """Where the notification leads (the listing, or its matches)."""
    p = note.params or {}
    if note.kind == "strong_match":
        return url_for("matches.for_listing", kind=p["listing_kind"], listing_id=p["listing_id"])
    if note.kind in ("intro_requested", "intro_accepted"):
        return url_for("introductions.inbox")
    if note.kind == "roadshow_invited":
        return url_for("roadshows.detail", roadshow_id=p["roadshow_id"])
    if note.kind == "challenge_deadline":
        return url_for("challenges.detail", challenge_id=p["challenge_id"])
    if p.get("listing_kind") in listings.KINDS:
        return url_for("public.detail", kind=p["listing_kind"], listing_id=p["listing_id"])
    return None


def unsubscribe_token(user_id: int, topic: str) -> str:
    """A signed, non-expiring token naming a user and the topic to stop mailing."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe").dumps({"u": user_id, "t": topic})


def _read_token(token: str) -> tuple[int, str]:
    try:
        data = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe").loads(token)
        return int(data["u"]), str(data["t"])
    except (BadSignature, KeyError, TypeError, ValueError):
        abort(404)


# ---------------------------------------------------------------- delivery

def deliver(app: Flask, ids: Iterable[int], *, raise_transient: bool = False) -> int:
    """Mail these pending notifications, each in its recipient's language; returns how many were sent.
    raise_transient: after trying all, raise the first transient failure (mail server down) for a retry."""
    sent, transient = 0, None
    base = app.config["PUBLIC_BASE_URL"]
    with sessionmaker_for(app)() as session, app.test_request_context("/", base_url=base):
        for note_id in ids:
            note = session.get(Notification, note_id)
            if note is None or note.email_status not in ("pending", "failed"):
                continue
            user = session.get(User, note.user_id)
            topic = notifications.KIND_TOPIC[note.kind]
            try:
                with force_locale(_locale(app, user)):
                    subject = _("[TechMatch] %(text)s", text=_subject(note))
                    link = _absolute(base, link_for(note))
                    unsub = _absolute(base, url_for("notifications.unsubscribe",
                                                    token=unsubscribe_token(user.id, topic)))
                    body = render_template("mail/notification.txt", user=user, text=describe(note), link=link,
                                           unsubscribe=unsub, topic=TOPIC_LABELS[topic])
                app.extensions["mailer"].send(mail.compose(app.config["MAIL_FROM"], user.email, subject, body,
                                                           unsub))
                note.email_status = "sent"
                sent += 1
            except Exception as err:  # a mail server outage must not lose the in-app notification
                log.warning("mail for notification %s failed: %s", note_id, type(err).__name__)
                note.email_status = "failed"
                if transient is None and jobs.is_transient(err):
                    transient = err
            session.commit()
    if raise_transient and transient is not None:
        raise transient
    return sent


def _locale(app: Flask, user: User) -> str:
    return user.locale if user.locale in app.config["LANGUAGES"] else app.config["BABEL_DEFAULT_LOCALE"]


def _absolute(base: str, path: Optional[str]) -> str:
    return base.rstrip("/") + path if path else base


def _subject(note: Notification) -> str:
    return {"listing_approved": _("Your listing was approved"),
            "listing_returned": _("Your listing was sent back for changes"),
            "listing_rejected": _("Your listing was rejected"),
            "strong_match": (_("A new strong match for your listing") if _match_band(note.params or {}) == bands.STRONG
                             else _("A new possible match for your listing")),
            "intro_requested": _("An introduction request is waiting for you"),
            "intro_accepted": _("Your introduction was accepted"),
            "roadshow_invited": _("Invitation to a roadshow"),
            "challenge_deadline": _("A challenge in your field closes soon")}.get(note.kind, _("Notification"))


def send_digest(app: Flask) -> int:
    """Mail each user who wants it a summary of the last week's notifications; returns mails sent."""
    base, sent = app.config["PUBLIC_BASE_URL"], 0
    with sessionmaker_for(app)() as session, app.test_request_context("/", base_url=base):
        for user_id, notes in notifications.digest_batches(session).items():
            user = session.get(User, user_id)
            if user is None or not user.active:
                continue
            with force_locale(_locale(app, user)):
                unsub = _absolute(base, url_for("notifications.unsubscribe",
                                                token=unsubscribe_token(user.id, "digest")))
                items = [(describe(n), _absolute(base, link_for(n))) for n in notes]
                body = render_template("mail/digest.txt", user=user, items=items, unsubscribe=unsub,
                                       home=_absolute(base, url_for("notifications.index")))
                subject = _("[TechMatch] Your weekly digest: %(n)s updates", n=len(notes))
            app.extensions["mailer"].send(mail.compose(app.config["MAIL_FROM"], user.email, subject, body, unsub))
            notifications.mark_digested(session, notes)
            session.commit()
            sent += 1
    return sent


# ---------------------------------------------------------------- pages

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
    db().commit()
    return redirect(url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
def read_all():
    if not ActionForm().validate_on_submit():
        abort(400)
    notifications.mark_read(db(), current_user)
    db().commit()
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
        db().commit()
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
        db().commit()
        return render_template("notifications/unsubscribed.html", topic=TOPIC_LABELS[topic], done=True)
    return render_template("notifications/unsubscribed.html", topic=TOPIC_LABELS[topic], done=False)


# ---------------------------------------------------------------- CLI

@notify_cli.command("matches", help="Announce new matches of published listings, each pair once: pairs in the band "
                                    "NOTIFY_MATCH_MIN_BAND (possible / strong) or better.")
@click.option("--min-band", type=click.Choice([bands.POSSIBLE, bands.STRONG]), default=None,
              help="Weakest band announced (default: NOTIFY_MATCH_MIN_BAND).")
@click.option("--min-score", type=float, default=None, hidden=True)  # before the bands: accepted, ignored, warned
def notify_matches(min_band: Optional[str], min_score: Optional[float]) -> None:
    app = current_app._get_current_object()
    if min_score is not None:  # an old cron line keeps working; the operator is told what it now does
        click.echo("--min-score 已不再使用，请改用 --min-band possible|strong。\n"
                   "--min-score is no longer used (ignored); use --min-band possible|strong.", err=True)
    band = min_band or app.config["NOTIFY_MATCH_MIN_BAND"]
    runtime = app.extensions["matching"]
    with sessionmaker_for(app)() as session:
        def find(item: Any) -> list[tuple[Any, float]]:
            return [(v.listing, v.match.score) for v in runtime.find_matches(session, item, k=10)]

        items = listings.published(session, "demand") + listings.published(session, "achievement")
        try:
            n = notifications.announce_matches(session, items, find, band)
        except MatchingUnavailable as err:
            raise click.ClickException(f"matching unavailable ({type(err).__name__}): run `flask index rebuild`")
        session.commit()
    click.echo(f"{n} new matches announced (band {band} or better)")


@notify_cli.command("deadlines", help="Remind universities of 揭榜挂帅 challenges in their field that close soon.")
@click.option("--days", type=int, default=7, show_default=True,
              help="Remind of challenges closing within this many days / 截止前天数 (0-365).")
def notify_deadlines(days: int) -> None:
    if not 0 <= days <= 365:
        raise click.BadParameter("0-365 / 天数须在 0 到 365 之间", param_hint="--days")
    app = current_app._get_current_object()
    with sessionmaker_for(app)() as session:
        n = challenges.remind_deadlines(session, days)
        session.commit()
    click.echo(f"{n} deadline reminders created (challenges closing within {days} days)")


@notify_cli.command("digest", help="Mail the weekly digest to everyone who wants it.")
def notify_digest() -> None:
    click.echo(f"{send_digest(current_app._get_current_object())} digests sent")


@notify_cli.command("send", help="Send e-mails still pending (after a crash or a mail server outage).")
def notify_send() -> None:
    app = current_app._get_current_object()
    with sessionmaker_for(app)() as session:
        ids = notifications.pending_email_ids(session)
    click.echo(f"{deliver(app, ids)} of {len(ids)} pending e-mails sent")
