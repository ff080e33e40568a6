"""Request-wide protections: audit context, session timeouts and cookie flags, security headers, throttling."""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from flask import Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_login import current_user, logout_user, user_logged_in
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from services import audit, second_factor

from .db import is_retryable, is_unavailable

log = logging.getLogger(__name__)
THROTTLES = {"login_address": "LOGIN_LIMIT_ADDRESS", "login_account": "LOGIN_LIMIT_ACCOUNT",
             "register_address": "REGISTER_LIMIT_ADDRESS", "register_account": "REGISTER_LIMIT_ACCOUNT",
             "search_address": "SEARCH_LIMIT_ADDRESS",
             "reset_address": "RESET_LIMIT_ADDRESS", "reset_account": "RESET_LIMIT_ACCOUNT"}
CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
       "img-src 'self' data:")
# Responses that carry contact details or account data are never kept by a browser or proxy cache: these
# blueprints' pages, every download (Content-Disposition: attachment), and any response whose view called
# no_store() (a listing page or API answer that shows contacts).
NO_STORE_BLUEPRINTS = frozenset({"account", "admin", "introductions", "exports"})


def client_ip() -> str | None:
    """The client's address: the socket's peer, or with TRUSTED_PROXIES=n the address the n-th proxy from the
    app saw (Werkzeug's ProxyFix, installed by init_app; a client cannot forge it past a trusted proxy)."""
    return request.remote_addr


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when configured, and always when the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (bool(request) and request.is_secure)


class Throttle:
    """Fixed-window counters from Flask-Limiter's storage (memory, or Redis shared by every process).

    When the shared store does not answer, counting goes on in this process's memory (a limit then holds
    per worker: it never fails open, and never answers 500) and the store is tried again after
    RATELIMIT_FALLBACK_SECONDS."""

    def __init__(self, app: Flask) -> None:
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", _storage_options(app.config["RATELIMIT_STORAGE_URI"]))
        self.flask_limiter = Limiter(key_func=client_ip, app=app, default_limits=[], headers_enabled=False)
        self.config = app.config
        self.fallback = FixedWindowRateLimiter(MemoryStorage())
        self._down_until = 0.0

    def _call(self, method: str, *args: Any) -> Any:
        """One call on the shared limiter, or on the in-process fallback while the store is down."""
        if time.monotonic() >= self._down_until:
            try:
                return getattr(self.flask_limiter.limiter, method)(*args)
            except StorageError as err:
                wait = float(self.config.get("RATELIMIT_FALLBACK_SECONDS", 5))
                self._down_until = time.monotonic() + wait
                log.warning("rate-limit store unavailable (%s); counting in this process for %.0f s",
                            type(err.storage_error).__name__, wait)
        return getattr(self.fallback, method)(*args)

    def rule(self, name: str) -> Any:
        """The configured limit for a throttle (read per call, so a changed setting applies at once)."""
        return parse(self.config[THROTTLES[name]])

    @property
    def enabled(self) -> bool:
        return bool(self.flask_limiter.enabled)

    def allowed(self, name: str, key: str) -> bool:
        """True if one more hit fits in the window (does not count)."""
        return not self.enabled or self._call("test", self.rule(name), name, key)

    def hit(self, name: str, key: str) -> None:
        """Count one hit; TooManyRequests (429 with Retry-After) when the window is full."""
        if self.enabled and not self._call("hit", self.rule(name), name, key):
            self.refuse(name, key)

    def refuse(self, name: str, key: str) -> None:
        """Answer 429 with the seconds until the window resets."""
        stats = self._call("get_window_stats", self.rule(name), name, key)
        raise TooManyRequests(retry_after=max(int(stats.reset_time - time.time()) + 1, 1))


def _storage_options(uri: str) -> dict:
    """Storage errors are wrapped (limits.errors.StorageError) so the fallback can catch them; Redis calls
    give up after half a second rather than holding a sign-in for the client's default timeout."""
    options: dict = {"wrap_exceptions": True}
    if uri.startswith(("redis://", "rediss://", "redis+")):
        options.update(socket_timeout=0.5, socket_connect_timeout=0.5)
    return options


def throttle() -> Throttle:
    """This app's throttle."""
    return current_app.extensions["throttle"]


def init_app(app: Flask) -> None:
    """Register the hooks; the policy check runs after these."""
    app.session_interface = _SessionInterface()
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0, x_port=0, x_prefix=0)
    app.extensions["throttle"] = Throttle(app)
    app.before_request(_audit_context)
    app.before_request(_session_timeouts)
    app.before_request(_second_factor_required)
    app.after_request(_headers)
    user_logged_in.connect(_session_started, app)

    @app.errorhandler(429)
    def too_many(e: TooManyRequests):
        retry = int(getattr(e, "retry_after", 60) or 60)
        resp = current_app.make_response((render_template(
            "errors/error.html", code=429, message=_("Too many attempts. Wait %(n)s seconds and try again.",
                                                     n=retry)), 429))
        resp.headers["Retry-After"] = str(retry)
        return resp

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_busy(e: OperationalError):
        """A database still locked after the busy timeout, or one that cannot be reached, is a temporary
        condition: 503 with Retry-After, not 500."""
        if is_unavailable(e):
            return _unavailable()
        if not is_busy(e):
            log.error("database error: %s", type(getattr(e, "orig", e)).__name__)
            return render_template("errors/error.html", code=500, message=_(
                "Something went wrong on our side. What you saved is safe; please try again.")), 500
        log.warning("database busy past its timeout on %s %s", request.method, request.endpoint)
        resp = current_app.make_response((render_template("errors/error.html", code=503, message=_(
            "The service is very busy right now and nothing was changed. Please try again in a few seconds.")),
            503))
        resp.headers["Retry-After"] = "5"
        return resp

    for kind in _psycopg_errors():  # pgvector readers talk to PostgreSQL through psycopg directly
        app.register_error_handler(kind, lambda e: _unavailable() if is_unavailable(e) else _raise(e))


def _psycopg_errors() -> tuple:
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError)


def _raise(e: BaseException) -> Any:
    raise e


def _unavailable(message: Optional[str] = None) -> Any:
    """503 page (JSON under /api/) while the database cannot be reached (or says why else it cannot serve);
    nothing was changed."""
    log.warning("database unavailable on %s %s", request.method, request.endpoint)
    # the page is drawn as for a visitor: loading the signed-in user would need the database again
    g._login_user = current_app.login_manager.anonymous_user()
    message = message or _("The database cannot be reached right now and nothing was changed. "
                           "Please try again in a minute.")
    api = current_app.extensions.get("api_errors")  # the API's JSON answers (web/api/core.py registers them)
    if api is not None and api.is_api_request():
        resp = api.error_response(503, "database_unavailable", message)
    else:
        resp = current_app.make_response((render_template("errors/error.html", code=503, message=message), 503))
    resp.headers["Retry-After"] = "30"
    return resp


def is_busy(err: BaseException) -> bool:
    """True for SQLite's 'database is locked' / 'database is busy' errors and for PostgreSQL's
    serialization failures and deadlocks that were still there after the retries (web/db.py)."""
    if is_retryable(err):
        return True
    text = str(getattr(err, "orig", err)).lower()
    return "database is locked" in text or "database is busy" in text


def _audit_context() -> None:
    audit.set_request_ip(client_ip())


def _session_started(_app: Any, **_kw: Any) -> None:
    now = time.time()
    session["auth_at"] = session["seen_at"] = now
    session.permanent = True


SEEN_RESOLUTION_S = 30  # the idle timeout counts from the last request, to within this many seconds


def _session_timeouts() -> None:
    """End a signed-in session that was idle too long or is older than the absolute limit."""
    if "_user_id" not in session:
        return
    now, cfg = time.time(), current_app.config
    started, seen = session.get("auth_at"), session.get("seen_at")
    if started is None or seen is None or now - seen > cfg["SESSION_IDLE_MINUTES"] * 60 \
            or now - started > cfg["SESSION_MAX_HOURS"] * 3600:
        logout_user()
        session.clear()
        flash(_("Your session has ended. Please sign in again."), "info")
        return
    if now - seen >= SEEN_RESOLUTION_S:  # an unchanged session is not signed and sent again on every response
        session["seen_at"] = now


TOTP_FREE = frozenset({"account.totp", "auth.logout", "static", "auth.set_language"})


def _second_factor_required() -> Any:
    """Roles listed in TOTP_REQUIRED_ROLES must enrol a second factor before anything else."""
    roles = {r.strip() for r in current_app.config.get("TOTP_REQUIRED_ROLES", "").split(",") if r.strip()}
    if not roles or request.endpoint in TOTP_FREE or not current_user.is_authenticated:
        return None
    if second_factor.required(current_user, roles):
        flash(_("Your role requires two-step sign-in. Set it up to continue."), "warning")
        return redirect(url_for("account.totp"))
    return None


def no_store() -> None:
    """Mark this request's response as carrying contact details: sent with Cache-Control: no-store."""
    g.no_store = True


def _must_not_store(resp: Any) -> bool:
    return bool(g.get("no_store")) or request.blueprint in NO_STORE_BLUEPRINTS \
        or resp.headers.get("Content-Disposition", "").startswith("attachment")


def _headers(resp: Any) -> Any:
    """Security headers on every response."""
    h = resp.headers
    if _must_not_store(resp):
        h["Cache-Control"] = "no-store"
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure and current_app.config["HSTS_SECONDS"]:
        h.setdefault("Strict-Transport-Security", f"max-age={current_app.config['HSTS_SECONDS']}; includeSubDomains")
    return resp
