"""The API's plumbing: flask-smorest on the existing app, bearer-token auth, policy, JSON errors, docs.

Requests under /api/ are authenticated only by `Authorization: Bearer <token>`; the session cookie is
ignored there, which is why the API blueprints are CSRF-exempt. The route policy (web/policy.py) is
checked here first so that an API caller gets a JSON 401/403 instead of the sign-in page.
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any, Iterable, Optional

from babel import Locale
from flask import Flask, abort, current_app, g, jsonify, request, send_from_directory
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from flask_smorest import Api
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from services import tokens

from .. import policy
from ..db import commit_before_view, db
from .schemas import ApiErrorSchema

PREFIX = "/api/"
DOC_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "api_assets.asset"}
policy.allow("api-docs.openapi_json", "GET", policy.ALL_ROLES, note="the OpenAPI document")
policy.allow("api-docs.openapi_swagger_ui", "GET", policy.ALL_ROLES, note="interactive docs (offline assets)")
policy.allow("api_assets.asset", "GET", policy.ALL_ROLES, note="Swagger UI files from swagger-ui-bundle")


class PlatformApi(Api):
    """flask-smorest's Api with our error object, and without taking over the HTML pages' error handlers."""

    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self) -> None:
        # errors are JSON only under /api/: see init_app
        return None


def init_app(app: Flask, blueprints: Iterable[Any]) -> None:
    """Configure and attach the API to the app, with these smorest blueprints (made by api_blueprint)."""
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    app.config.setdefault("API_TITLE", "TechMatch API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    # Swagger UI served from the swagger-ui-bundle package: the docs work offline, no CDN
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/v1/docs/assets/")
    api = PlatformApi(app, spec_kwargs={"info": {"description": _API_DESCRIPTION}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "personal API token (account page)"})
    assets = Blueprint("api_assets", __name__)
    assets.add_url_rule("/api/v1/docs/assets/<path:filename>", "asset",
                        lambda filename: send_from_directory(swagger_ui_path, filename))
    app.register_blueprint(assets)
    csrf = app.extensions["csrf"]
    for bp in blueprints:
        api.register_blueprint(bp)
        csrf.exempt(bp)
    app.extensions["api"] = api
    # web/errors.py answers JSON under /api/ through these (it does not import this module: this one imports it)
    app.extensions["api_errors"] = SimpleNamespace(is_api_request=is_api_request, error_response=error_response,
                                                   set_locale=_set_locale)
    from . import docs
    docs.init_app(app)  # Swagger UI without inline script (the CSP would block it)
    if app.before_request_funcs.get(None, [])[:len(FIRST_HOOKS)] != list(FIRST_HOOKS):
        raise RuntimeError("call web.api.core.init_hooks(app) first in create_app: the API's token must decide "
                           "who the caller is before any other hook runs")
    _json_errors_for_api_paths(app)


def init_hooks(app: Flask) -> None:
    """Register the API's before-request steps; create_app calls this before anything else registers a hook,
    and Flask runs hooks in the order they were registered. So under /api/ the bearer token decides who the
    caller is (never the session cookie) before the session timeouts, the route policy and the input guard
    read current_user, and a write's JSON body is checked before any view reads it."""
    for step in FIRST_HOOKS:
        app.before_request(step)


_API_DESCRIPTION = ("Demands (技术需求), achievements (科技成果), matches, match reports (撮合报告), feedback on "
                    "pairs, roadshows (路演) and background jobs (a batch report answers 202 with a job to poll). "
                    "Authenticate with `Authorization: Bearer <token>`; create tokens on your account page. "
                    "Errors are `{code, message, errors}`; messages follow Accept-Language (zh-CN or en).")


def is_api_request() -> bool:
    """True for requests under /api/."""
    return request.path.startswith(PREFIX)


def _authenticate() -> None:
    if not is_api_request():
        return None
    user = _token_user()
    g._login_user = user if user is not None else AnonymousUserMixin()
    _set_locale(user)
    if request.endpoint in DOC_ENDPOINTS or request.endpoint is None:
        return None  # docs are public; unknown URLs fall through to a JSON 404/405
    rule = policy.rule_for(request.endpoint, request.method)
    role = policy.role_of(g._login_user)
    if rule is None:
        abort(404)  # an API route without a policy entry is not served
    if role not in rule.roles:
        abort(401 if role == policy.ANONYMOUS else 403)
    return None


# --- JSON bodies: one parse rule for every endpoint that reads one ------------------------------------------

MAX_JSON_DEPTH = 32  # the API's bodies nest 3 levels; a deep document only costs stack (RecursionError)
WRITE_METHODS = ("POST", "PUT", "PATCH")
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than it has brackets: no need to scan
    depth = deepest = 0
    for token in _JSON_TOKENS.finditer(raw):
        t = token.group()
        if t in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif t in (b"]", b"}"):
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_problem(raw: bytes) -> Optional[str]:
    """Why raw is not a JSON document this platform reads (None if it is one): nested deeper than
    MAX_JSON_DEPTH, not UTF-8, not JSON, or holding NaN/Infinity (which Python's parser would accept)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        return _("The JSON body nests arrays and objects more than %(n)s levels deep; no request here needs "
                 "that many.", n=MAX_JSON_DEPTH)
    try:
        json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return _("The body is not valid JSON: check the quotes, commas and brackets (numbers must be finite).")
    return None


def _takes_json(endpoint: Optional[str], method: str) -> bool:
    """Whether the view of this endpoint and method reads a JSON body (flask-smorest @bp.arguments)."""
    view = current_app.view_functions.get(endpoint or "")
    view = getattr(getattr(view, "view_class", None), method.lower(), view)
    params = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "json" for p in params)


def _check_json_body() -> Any:
    """An API write whose endpoint reads JSON gets a JSON document, or a clear 400/415: never an empty change.

    Without this, webargs reads a body of another type (a form, plain text) or no body as no fields at all:
    a PATCH answered 200 having changed nothing, a POST listed every field as missing."""
    if not is_api_request() or request.method not in WRITE_METHODS or not _takes_json(request.endpoint,
                                                                                      request.method):
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return error_response(400, "body_required", _(
            "Send the fields as a JSON object in the request body, with Content-Type: application/json."))
    if not request.is_json:
        return error_response(415, "unsupported_media_type", _(
            "Send the body as JSON, with Content-Type: application/json (this was %(type)s).",
            type=(request.mimetype or "no Content-Type")[:60]))
    problem = json_problem(raw)
    if problem is not None:
        return error_response(400, "bad_json", problem)
    return None


# the API's before-request steps, in the order they run, ahead of every other hook (init_hooks)
FIRST_HOOKS = (_authenticate, _check_json_body)


def _token_user() -> Optional[Any]:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _sep, value = header.partition(" ")
    user = tokens.authenticate(db(), value.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        abort(401)  # a wrong token is an error even on public endpoints, never silently anonymous
    commit_before_view()  # last_used_at: kept whatever becomes of the request
    return user


def _set_locale(user: Optional[Any]) -> None:
    """Accept-Language first, then the user's saved language, then the default."""
    languages = current_app.config["LANGUAGES"]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    choice = {"zh-CN": "zh_Hans_CN", "zh": "zh_Hans_CN", "en": "en"}.get(best or "")
    if choice is None and user is not None and getattr(user, "locale", None) in languages:
        choice = user.locale
    choice = choice or current_app.config["BABEL_DEFAULT_LOCALE"]
    from flask_babel import _get_current_context  # noqa: PLC2701  (Flask-Babel keeps the locale here)
    _get_current_context().babel_locale = Locale.parse(choice)


def error_messages() -> dict[str, str]:
    """Default messages per HTTP status, in the current language."""
    return {
        "bad_request": _("The request was not understood. Check what you sent."),
        "unauthorized": _("Send a valid API token: Authorization: Bearer <token>. Create one on your account page."),
        "forbidden": _("Your account may not do this."),
        "not_found": _("Not found."),
        "method_not_allowed": _("This method is not allowed here."),
        "conflict": _("This step is not possible in the listing's current status."),
        "too_large": _("The request body is too large."),
        "validation_error": _("Some values are missing or not valid; see errors."),
        "rate_limited": _("Too many requests. Wait a moment and try again."),
        "server_error": _("Something went wrong on our side. Please try again."),
        "unavailable": _("The service is temporarily unavailable. Please try again later."),
    }


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                422: "validation_error", 429: "rate_limited", 503: "unavailable"}


def error_response(status: int, code: Optional[str] = None, message: Optional[str] = None,
                   errors: Optional[dict] = None, headers: Optional[dict] = None):
    """A JSON error object with its status."""
    code = code or STATUS_CODES.get(status, "server_error")
    body: dict[str, Any] = {"code": code, "message": message or error_messages().get(code) or
                            error_messages()["server_error"]}
    if errors:
        body["errors"] = errors
    resp = jsonify(body)
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _http_error(e: HTTPException):
    status = e.code or 500
    if status >= 500 and status != 503:
        current_app.logger.error("API error %s: %s", status, type(getattr(e, "original_exception", e)).__name__)
        return error_response(500, "server_error")
    data = getattr(e, "data", None) or {}
    errors = flatten_errors(data.get("messages") or data.get("errors") or {})
    return error_response(status, data.get("code"), data.get("message"), errors or None, data.get("headers"))


LOCATIONS = ("json", "query", "path", "form", "headers", "files", "cookies")


def flatten_errors(messages: Any, path: str = "") -> dict[str, list[str]]:
    """webargs' {location: {field: [msgs] | {index: ...}}} as {"field.index": [msgs]}."""
    out: dict[str, list[str]] = {}

    def merge(part: dict[str, list[str]]) -> None:
        for key, value in part.items():
            out.setdefault(key, []).extend(value)

    if isinstance(messages, dict):
        for key, value in messages.items():
            sub = "" if (not path and key in LOCATIONS) else (f"{path}.{key}" if path else str(key))
            merge(flatten_errors(value, sub))
    elif isinstance(messages, (list, tuple)) and not all(isinstance(m, str) for m in messages):
        for i, m in enumerate(messages):
            merge(flatten_errors(m, f"{path}.{i}" if path else str(i)))
    elif isinstance(messages, (list, tuple)):
        merge({path or "_schema": [translate_field_message(m) for m in messages]})
    elif isinstance(messages, str):
        merge({path or "_schema": [translate_field_message(messages)]})
    return out


def translate_field_message(text: str) -> str:
    """Marshmallow's usual messages in the caller's language (others pass through)."""
    known = {
        "Missing data for required field.": _("This field is required."),
        "Unknown field.": _("Unknown field."),
        "Not a valid integer.": _("Not a whole number."),
        "Not a valid number.": _("Not a number."),
        "Not a valid string.": _("Not a text value."),
        "Not a valid boolean.": _("Not true or false."),
        "Not a valid date.": _("Not a date (YYYY-MM-DD)."),
        "Not a valid email address.": _("Enter a valid e-mail address, like name@example.com."),
        "Field may not be null.": _("This field may not be null."),
        "Not a valid list.": _("Not a list."),
        "Invalid input type.": _("Wrong type of value."),
        "String does not match expected pattern.": _("The format is not valid."),
        "Number too large.": _("The value is out of range."),
        "Special numeric values (nan or infinity) are not permitted.": _("Not a number."),
        "The end date (until) is before the start date (since).": _(
            "The end date (until) is before the start date (since): swap them or move one."),
    }
    if text in known:
        return known[text]
    if text.startswith("Must be one of"):
        return _("Not one of the allowed values.")
    if text.startswith(("Length must be", "Shorter than", "Longer than")):
        return _("The length is not allowed.")
    if text.startswith("Must be greater than or equal to") or text.startswith("Must be less than"):
        return _("The value is out of range.")
    return text


class _StrictQueryParser(FlaskParser):
    """webargs drops query parameters a schema does not name; the API refuses them (422, "Unknown field."), so a
    misspelt filter (`?feild=...`) is an error the caller sees, not a silently unfiltered list, and the OpenAPI
    document's parameter list is the whole truth."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE, "querystring": RAISE}


def api_blueprint(bp: Any) -> Any:
    """An API blueprint: JSON errors for everything raised in its views, unknown query parameters refused;
    create_app hands it to init_app. Call it before the blueprint's routes are declared."""
    bp.ARGUMENTS_PARSER = _StrictQueryParser()
    bp.register_error_handler(HTTPException, _http_error)
    return bp


def _json_errors_for_api_paths(app: Flask) -> None:
    """Before-request aborts and routing errors under /api/ answer JSON; other paths keep the HTML pages."""
    for status in (400, 401, 403, 404, 405, 413, 429, 500):
        original = _handler_for(app, status)

        def handler(e: HTTPException, _original=original, _status=status):
            if is_api_request():
                return _http_error(e)
            if _original is not None:
                return _original(e)
            return e

        app.register_error_handler(status, handler)


def _handler_for(app: Flask, status: int):
    specs = app.error_handler_spec.get(None, {}).get(status, {})
    return next(iter(specs.values()), None)


def abort_for_service_error(err: Any, table: dict[str, tuple[int, Optional[str]]]) -> None:
    """Answer a refused service call: table maps its code to (HTTP status, the field it concerns); a code
    not in the table is a 422 without a field, NotFound a plain 404."""
    from flask_smorest import abort as smorest_abort

    from services.errors import NotFound

    from ..errors import message_for

    if isinstance(err, NotFound):
        smorest_abort(404, code="not_found")
    status, field = table.get(err.code, (422, None))
    message = message_for(err)
    smorest_abort(status, code=err.code, message=message, errors={field: [message]} if field else None)
