"""Translated messages for service error codes, and error pages that never show a traceback."""
from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from services.errors import ServiceError

log = logging.getLogger(__name__)


def message_for(err: ServiceError) -> str:
    """The user-facing message for a service error, in the current language."""
    p = err.params
    messages = {
        "account.email_taken": lambda: _("This e-mail is already registered. Sign in, or use another address."),
        "account.password_short": lambda: _("Use a password of at least %(n)s characters.", n=p.get("min")),
        "account.role_not_self_service": lambda: _("Only companies and universities can register here; "
                                                   "brokers are created by an administrator."),
        "account.cannot_change_self": lambda: _("You cannot change your own role or deactivate yourself."),
        "listing.unknown_field": lambda: _("Choose a field from the list."),
        "listing.no_mode": lambda: _("Choose at least one cooperation mode."),
        "listing.budget_order": lambda: _("The minimum budget must not exceed the maximum."),
        "listing.deadline_past": lambda: _("The deadline must be today or later."),
        "listing.stage_trl": lambda: _("For this maturity stage the TRL must be between %(lo)s and %(hi)s.",
                                       lo=p.get("lo"), hi=p.get("hi")),
        "listing.wrong_role": lambda: _("Your account type cannot post this kind of listing."),
        "listing.not_editable": lambda: _("This listing can no longer be edited in its current status."),
        "listing.bad_action": lambda: _("Unknown action."),
        "listing.forbidden": lambda: _("You may not do this with this listing."),
        "listing.bad_transition": lambda: _("This step is not possible in the listing's current status."),
        "listing.reason_required": lambda: _("Give a reason so the owner knows what to change."),
        "field.unknown_parent": lambda: _("Choose an existing top-level field as parent."),
        "field.code_prefix": lambda: _("A sub-field code must start with %(prefix)s", prefix=p.get("prefix")),
        "field.code_taken": lambda: _("This code is already used by another field."),
        "job.internal": lambda: _("The job stopped on an unexpected error; it has been logged. Try again, "
                                  "or ask an administrator if it keeps failing."),
        "pdf.font_missing": lambda: _("PDF export needs a Chinese font, which is not installed on the server. "
                                      "Ask the administrator to run `make setup` or set PDF_FONT."),
        "not_found": lambda: _("Not found."),
        "account.password_long": lambda: _("Use a password of at most %(n)s characters.", n=p.get("max")),
        "account.password_common": lambda: _("This password is too common or too easy to guess. "
                                             "Choose another, e.g. a phrase of several words."),
        "account.password_wrong": lambda: _("The current password is wrong."),
        "backup.not_sqlite": lambda: _("Backups here use SQLite's backup API; for PostgreSQL use pg_dump and "
                                       "pg_restore."),
        "backup.exists": lambda: _("%(path)s already exists; choose a new file name.", path=p.get("path")),
        "backup.no_folder": lambda: _("The folder %(path)s does not exist.", path=p.get("path")),
        "backup.missing": lambda: _("%(path)s does not exist.", path=p.get("path")),
        "backup.corrupt": lambda: _("%(path)s is not an intact SQLite database; nothing was restored.",
                                    path=p.get("path")),
        "backup.not_ours": lambda: _("%(path)s is not a database of this platform; nothing was restored.",
                                     path=p.get("path")),
        "backup.wrong_revision": lambda: _("%(path)s has schema %(found)s but this version needs %(expected)s; "
                                           "nothing was restored.", path=p.get("path"), found=p.get("found"),
                                           expected=p.get("expected")),
        "totp.bad_code": lambda: _("This code does not match. Check the time on your phone and enter the "
                                   "current code."),
        "intro.not_published": lambda: _("Both listings must be published before an introduction."),
        "intro.not_a_party": lambda: _("Only the owner of one of the two listings, or a broker, can ask for "
                                       "this introduction."),
        "intro.reason_required": lambda: _("Give a reason, so the other side knows why to talk."),
        "intro.reason_long": lambda: _("Keep the reason under %(n)s characters.", n=p.get("max")),
        "intro.exists": lambda: _("An introduction of these two listings is already under way."),
        "intro.cannot_answer": lambda: _("This introduction is not waiting for your answer."),
        "intro.cannot_withdraw": lambda: _("This introduction can no longer be withdrawn."),
    }
    return messages.get(err.code, lambda: _("The request could not be completed."))()


def init_app(app: Flask) -> None:
    """Register error pages for the statuses users can meet."""

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError):
        return render_template("errors/error.html", code=400,
                               message=_("The form expired or was sent from elsewhere. "
                                         "Go back, reload the page and try again.")), 400

    @app.errorhandler(400)
    def bad_request(e):
        return render_template("errors/error.html", code=400,
                               message=_("The request was not understood. Check what you entered.")), 400

    @app.errorhandler(403)
    def forbidden(e):
        return render_template("errors/error.html", code=403,
                               message=_("You do not have access to this page.")), 403

    @app.errorhandler(404)
    def not_found(e):
        return render_template("errors/error.html", code=404,
                               message=_("This page does not exist or is not visible to you.")), 404

    @app.errorhandler(405)
    def not_allowed(e):
        return render_template("errors/error.html", code=405,
                               message=_("This action is not allowed here.")), 405

    @app.errorhandler(413)
    def too_large(e):
        return render_template("errors/error.html", code=413,
                               message=_("The upload is too large.")), 413

    @app.errorhandler(500)
    def server_error(e):
        log.error("unhandled error: %s", type(getattr(e, "original_exception", e)).__name__)
        return render_template("errors/error.html", code=500,
                               message=_("Something went wrong on our side. What you saved is safe; "
                                         "please try again.")), 500
