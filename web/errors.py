"""Translated messages for service error codes, and error pages that never show a traceback.

Database errors are sorted here, for pages and the API alike: unreachable (503, Retry-After 30), busy (the
connection pool stayed empty past its timeout, a lock or statement timeout, SQLite locked: 503, Retry-After
5, nothing changed), a value the database cannot hold that slipped past validation (400), anything else
(500, logged)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.errors import ServiceError

from .api_messages import api_messages
from .programme_messages import programme_messages
from .panel_messages import panel_messages
from .db import abandon, is_busy, is_missing_schema, is_unavailable, rollback_quietly

log = logging.getLogger(__name__)
BUSY_RETRY_AFTER_S = 5


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
        "listing.manager_only": lambda: _("Only a manager of your organisation, or the member who posted it, can "
                                          "close this listing."),
        "listing.bad_transition": lambda: _("This step is not possible in the listing's current status."),
        "listing.reason_required": lambda: _("Give a reason so the owner knows what to change."),
        "field.unknown_parent": lambda: _("Choose an existing top-level field as parent."),
        "field.code_prefix": lambda: _("A sub-field code must start with %(prefix)s", prefix=p.get("prefix")),
        "field.code_taken": lambda: _("This code is already used by another field."),
        "job.internal": lambda: _("The job stopped on an unexpected error; it has been logged. Try again, "
                                  "or ask an administrator if it keeps failing."),
        "job.unavailable": lambda: _("The job could not reach a service it needs (the database, the queue or "
                                     "the mail server) after several tries. Try again later, or ask an "
                                     "administrator to retry it from the job queue page."),
        "model.adapt_failed": lambda: _("The model adaptation stopped; the serving model is unchanged. "
                                        "`flask jobs status` shows the reason."),
        "job.not_failed": lambda: _("Only a failed job can be retried; this one is queued, running or done."),
        "pdf.font_missing": lambda: _("PDF export needs a Chinese font, which is not installed on the server. "
                                      "Ask the administrator to run `make setup` or set PDF_FONT."),
        "report.bad_k": lambda: _("Ask for 1 to %(max)s counterparts per listing.", max=p.get("max")),
        "report.bad_scope": lambda: _("Choose one demand, one achievement, or a batch."),
        "report.listing_not_open": lambda: _("Listing %(id)s is not published (it may have been withdrawn or "
                                             "closed); reports cover published listings only.", id=p.get("id")),
        "report.period_order": lambda: _("The end of the period must not be before its start."),
        "report.too_large": lambda: _("This batch would hold %(pairs)s pairs (%(demands)s demands × counterparts); "
                                      "the limit is %(limit)s. Narrow it: choose a field or a region, shorten "
                                      "the period, or ask for fewer counterparts per demand.",
                                      pairs=p.get("pairs"), demands=p.get("demands"), limit=p.get("limit")),
        "feedback.bad_outcome": lambda: _("Choose an outcome: not relevant, relevant but, or introduce."),
        "feedback.reason_required": lambda: _("Say why the pair is relevant but not ready: choose a reason."),
        "feedback.note_required": lambda: _("Describe the other reason in a few words."),
        "feedback.party_introduce": lambda: _("This pair is introduced already: say whether it is relevant or not."),
        "feedback.listing_not_open": lambda: _("Feedback is not possible: \"%(title)s\" has been withdrawn or "
                                               "closed.", title=p.get("title")),
        "feedback.not_enough": lambda: _("Not enough feedback to learn from yet: it needs relevant and not "
                                         "relevant pairs before the split and some feedback after it."),
        "opportunity.bad_move": lambda: _("This step is not possible at the opportunity's current stage."),
        "opportunity.bad_amount": lambda: _("Enter the contract amount as a number from 0 to %(max)s (in 10k yuan).",
                                            max=p.get("max")),
        "opportunity.bad_contract_type": lambda: _("Choose a contract type from the list."),
        "opportunity.bad_signed_on": lambda: _("Enter the signing date; it cannot be in the future."),
        "opportunity.reason_required": lambda: _("Give a reason for closing the opportunity."),
        # roadshows (路演)
        "roadshow.forbidden": lambda: _("Only brokers and administrators can organise roadshows."),
        "roadshow.date_past": lambda: _("The roadshow date must be today or later."),
        "roadshow.no_place": lambda: _("Give a venue, an online link, or both."),
        "roadshow.bad_number": lambda: _("Enter a whole number from %(lo)s to %(hi)s.", lo=p.get("lo"), hi=p.get("hi")),
        "roadshow.no_demands": lambda: _("There are no open published demands in this field, so there is nothing to "
                                         "cover: choose another field, or add presenters by hand."),
        "roadshow.no_candidates": lambda: _("No published achievement in this field can present yet."),
        "roadshow.no_matching_demands": lambda: _("None of the %(n)s open demands of this field matches a published "
                                                  "achievement well enough; add presenters by hand.", n=p.get("demands")),
        "roadshow.presenter_unknown": lambda: _("Choose a published achievement."),
        "roadshow.presenter_exists": lambda: _("This achievement already presents at this roadshow."),
        "roadshow.presenters_full": lambda: _("All %(n)s presentation slots are taken: remove a presenter first.",
                                              n=p.get("n")),
        "roadshow.no_presenters": lambda: _("Choose the presenters first; companies are proposed from them."),
        "roadshow.not_a_company": lambda: _("Only active company accounts can be invited."),
        "roadshow.already_invited": lambda: _("%(name)s is already invited to this roadshow.", name=p.get("name")),
        "roadshow.over": lambda: _("This roadshow has already taken place."),
        "roadshow.already_registered": lambda: _("You are already registered for this roadshow."),
        "roadshow.full": lambda: _("All %(n)s seats are taken. Ask the broker to add seats.", n=p.get("seats")),
        "roadshow.register_first": lambda: _("Register for the roadshow before choosing meetings."),
        "roadshow.conflict_unknown": lambda: _("Choose an invited company and a presenter of this roadshow."),
        "roadshow.no_wishes": lambda: _("No registered company has wished a meeting yet, so there is nothing to "
                                        "schedule."),
        "roadshow.bad_intent": lambda: _("Choose interested or not interested."),
        "roadshow.already_declined": lambda: _("You have already declined this roadshow."),
        # 揭榜挂帅 challenges
        "challenge.forbidden": lambda: _("Only brokers and administrators can publish challenges."),
        "challenge.deadline_past": lambda: _("The application deadline must be today or later."),
        "challenge.bad_reward": lambda: _("Enter a reward between 0 and 1,000,000 (in 10k yuan)."),
        "challenge.criteria_empty": lambda: _("Give at least one scoring criterion."),
        "challenge.criteria_many": lambda: _("Use at most %(n)s scoring criteria.", n=p.get("n")),
        "challenge.criteria_format": lambda: _("Criterion line %(line)s: write name | perspective | weight.",
                                               line=p.get("line")),
        "challenge.criteria_perspective": lambda: _("Criterion line %(line)s: the perspective must be scientist, "
                                                    "entrepreneur or investor.", line=p.get("line")),
        "challenge.criteria_weight": lambda: _("Criterion line %(line)s: the weight must be a positive number.",
                                               line=p.get("line")),
        "challenge.announced": lambda: _("The winner has been announced; this challenge can no longer change."),
        "challenge.no_reopen": lambda: _("Applications for this challenge have closed, so its deadline cannot be "
                                         "moved. Publish a new challenge to collect new applications."),
        "challenge.wrong_role": lambda: _("Only university and institute accounts can apply."),
        "challenge.deadline_passed": lambda: _("Applications closed on %(deadline)s; this application was not "
                                               "accepted.", deadline=p.get("deadline")),
        "challenge.closed": lambda: _("This challenge no longer accepts applications."),
        "challenge.already_applied": lambda: _("You have already applied to this challenge."),
        "challenge.organisation_applied": lambda: _(
            "Your organisation has already applied to this challenge (%(name)s, %(day)s): one application per "
            "organisation. Ask your colleague to add what you would contribute.", name=p.get("name"), day=p.get("day")),
        "challenge.bad_achievement": lambda: _("Link only your own published achievements."),
        "challenge.panelist_role": lambda: _("Only active brokers and administrators can sit on the panel."),
        "challenge.already_panelist": lambda: _("This person is already on the panel."),
        "challenge.not_panelist": lambda: _("Only panel members can score applications."),
        "challenge.score_missing": lambda: _("Score every criterion."),
        "challenge.bad_score": lambda: _("Scores are whole numbers from 0 to 10."),
        "challenge.still_open": lambda: _("Applications are open until %(deadline)s; shortlist after that.",
                                          deadline=p.get("deadline")),
        "challenge.shortlist_empty": lambda: _("Tick at least one application to shortlist."),
        "challenge.not_shortlisted": lambda: _("Only a shortlisted application can win."),
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
        "backup.source_empty": lambda: _("%(path)s has no tables of this platform yet (run `flask db upgrade`); no "
                                         "backup was made.", path=p.get("path")),
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
    messages.update(api_messages(p))
    messages.update(programme_messages(p))
    messages.update(panel_messages(p))
    return messages.get(err.code, lambda: _("The request could not be completed."))()


def refusal(err: ServiceError) -> str:
    """A refused action that the view answers itself (flash and redirect, or the form again): abandon the
    request's unit of work, so nothing it wrote is kept, and return the translated message."""
    abandon()
    return message_for(err)


def init_app(app: Flask) -> None:
    """Register error pages for the statuses users can meet."""

    @app.errorhandler(ServiceError)
    def service_error(e: ServiceError):
        """A refusal no view caught: the unit of work has rolled back; the message says what to do next
        (JSON under /api/, 404 for NotFound)."""
        from services.errors import NotFound

        status = 404 if isinstance(e, NotFound) else 422
        api = _api()
        if api is not None:
            return api.error_response(status, e.code, message_for(e))
        return render_template("errors/error.html", code=status, message=message_for(e)), status

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
        limit = round((app.config.get("MAX_CONTENT_LENGTH") or 0) / 1024 / 1024, 1)
        return render_template("errors/error.html", code=413,
                               message=_("The upload is too large: at most %(mb)s MB. Split the file into "
                                         "smaller parts and upload them one by one.", mb=limit)), 413

    # after web/security.py's handlers for OperationalError/InterfaceError, which these supersede
    for kind in (StatementError, OperationalError, InterfaceError, PoolTimeout, *_psycopg_errors()):
        app.register_error_handler(kind, database_error)
    app.register_error_handler(OverflowError, input_error)
    app.register_error_handler(UnicodeEncodeError, input_error)

    @app.errorhandler(500)
    def server_error(e):
        log.error("unhandled error: %s", type(getattr(e, "original_exception", e)).__name__)
        return render_template("errors/error.html", code=500,
                               message=_("Something went wrong on our side. What you saved is safe; "
                                         "please try again.")), 500


def _psycopg_errors() -> tuple:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in requirements.txt
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError, psycopg.DataError)


# SQLSTATE class 22 "data exception": a value out of range, not valid for its type, or not storable text
DATA_EXCEPTION = "22"


def _unstorable(err: BaseException) -> bool:
    """True when the database refused a value itself (too large, NUL or a lone surrogate, malformed)."""
    orig = getattr(err, "orig", err) if isinstance(err, StatementError) else err
    if isinstance(orig, (OverflowError, UnicodeEncodeError)):
        return True  # SQLite: "Python int too large to convert to SQLite INTEGER"; a surrogate in UTF-8
    return str(getattr(orig, "sqlstate", "") or "").startswith(DATA_EXCEPTION)


def database_error(e: Exception) -> Any:
    """503 for an unreachable or busy database, 400 for a value it cannot hold; anything else goes on to
    the 500 page (re-raised, so that tests see the traceback)."""
    from .security import _unavailable

    if is_unavailable(e):
        return _unavailable()
    if is_missing_schema(e):
        log.error("the database does not have this version's tables: run `flask db upgrade` (%s)", e)
        return _unavailable(_("The platform is being set up or upgraded and nothing was changed. "
                              "Please try again in a few minutes."))
    if is_busy(e):
        return busy()
    if _unstorable(e):
        return input_error(e)
    raise e


def _api() -> Any:
    """The API's JSON error answers (error_response, set_locale), which web/api/core.py registers on the app,
    when this is an API request; None for pages. (This module does not import the API: the API imports it.)"""
    api = current_app.extensions.get("api_errors")
    return api if api is not None and api.is_api_request() else None


def busy() -> Any:
    """503 with Retry-After: the database is too busy right now; nothing was changed."""
    log.warning("database busy on %s %s", request.method, request.endpoint)
    rollback_quietly()
    # the page is drawn as for a visitor: the signed-in user's menu would need a connection again
    g._login_user = current_app.login_manager.anonymous_user()
    api = _api()
    if api is not None:
        api.set_locale(None)  # Accept-Language (the token's user may not have been loaded)
    message = _("The service is very busy right now and nothing was changed. Please try again in a few seconds.")
    if api is not None:
        resp = api.error_response(503, "database_busy", message)
    else:
        resp = current_app.make_response((render_template("errors/error.html", code=503, message=message), 503))
    resp.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return resp


def input_error(e: Exception) -> Any:
    """400 for a value that reached arithmetic or the database unchecked (a number or date out of range, text
    that is not text): the user's input, not the server, is at fault; logged so the check can be added."""
    if isinstance(e, UnicodeEncodeError) and "surrogate" not in str(e):
        raise e
    orig = getattr(e, "orig", e)
    log.warning("unchecked input reached %s on %s %s", type(orig).__name__, request.method, request.endpoint)
    rollback_quietly()
    message = _("A value you sent is out of range or cannot be stored (a number too large, a date too far "
                "off, or a character that is not text). Check what you entered and try again.")
    api = _api()
    if api is not None:
        return api.error_response(400, "bad_value", message)
    return render_template("errors/error.html", code=400, message=message), 400
