"""Notification mail: each notification's e-mail and the weekly digest, rendered in the recipient's language with
the app's templates and links, and sent through the mailer of the app's job context.

Events create Notification rows inside the transaction that caused them (services/notifications.install_hooks);
after that transaction commits, pending e-mails are sent inline (JOBS_MODE=inline) or by a `mail.send` job that
the queue retries while the mail server is unreachable. `flask notify send` catches up on what is left pending.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Iterable, Optional

from flask import Flask, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from models import Notification, User
from services import jobs, mail, notifications

from .db import separate_unit, sessionmaker_for
from .jobs import context as job_context
from .notification_texts import (
    TOPIC_LABELS,
    describe,
    link_for,
    subject,
    unsubscribe_token,
)

log = logging.getLogger(__name__)
MAIL_JOB = "mail.send"


def init_app(app: Flask) -> None:
    """The app's mailer in its job context; notifications created with review decisions, mailed after commit."""
    job_context(app).provide(mailer=mail.build_mailer(app.config))
    notifications.install_hooks(sessionmaker_for(app), lambda ids: queue_mail(app, ids))


def queue_mail(app: Flask, ids: list[int]) -> None:
    """Mail these notifications now (JOBS_MODE=inline) or through a mail.send job; a failure is logged, the
    notifications stay pending for `flask notify send`."""
    queue = app.extensions["jobs"]
    if queue.inline:
        deliver(app, ids)
        return
    try:
        with separate_unit(app) as s:  # its own transaction: the user's commit is already done
            job = jobs.submit_job(s, MAIL_JOB, None, {"ids": ids}, key=_mail_key(ids),
                                  reuse_done=True)
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
def _mail_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Mail a job's notifications; an unreachable mail server raises, so the queue retries what is left."""
    ids = list(job.params["ids"])
    progress(0, len(ids))
    sent = deliver(ctx.need("app"), ids, raise_transient=True)
    return {"sent": sent}


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
                    title = _("[TechMatch] %(text)s", text=subject(note))
                    link = _absolute(base, link_for(note))
                    unsub = _absolute(base, url_for("notifications.unsubscribe",
                                                    token=unsubscribe_token(user.id, topic)))
                    body = render_template("mail/notification.txt", user=user, text=describe(note), link=link,
                                           unsubscribe=unsub, topic=TOPIC_LABELS[topic])
                _mailer(app).send(mail.compose(app.config["MAIL_FROM"], user.email, title, body, unsub))
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
                title = _("[TechMatch] Your weekly digest: %(n)s updates", n=len(notes))
            _mailer(app).send(mail.compose(app.config["MAIL_FROM"], user.email, title, body, unsub))
            notifications.mark_digested(session, notes)
            session.commit()
            sent += 1
    return sent


def _mailer(app: Flask) -> mail.Mailer:
    return job_context(app).need("mailer")


def _locale(app: Flask, user: User) -> str:
    return user.locale if user.locale in app.config["LANGUAGES"] else app.config["BABEL_DEFAULT_LOCALE"]


def _absolute(base: str, path: Optional[str]) -> str:
    return base.rstrip("/") + path if path else base
