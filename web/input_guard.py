"""Refuse text that no database can store: a NUL character (\\0) anywhere in a request's query string, form,
file names, path or JSON body is answered 400 with a clear message (PostgreSQL rejects NUL in text
columns and parameters, so such input would otherwise end in a 500; SQLite stored it silently)."""
from __future__ import annotations

from typing import Any, Iterable, Optional

from flask import Flask, render_template, request
from flask_babel import gettext as _

from .api.core import error_response, is_api_request

NUL = "\x00"


def contains_nul(value: Any) -> bool:
    """True when a string, or any key or value of nested dicts and lists, holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_nul(v) for v in value)
    return False


def _request_texts() -> Iterable[Any]:
    yield request.path
    yield list(request.args.lists())
    yield request.view_args or {}
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    yield list(request.form.lists())
    yield [f.filename or "" for f in request.files.values()]
    if request.is_json:
        yield request.get_json(silent=True)


def _refuse_nul() -> Optional[Any]:
    if not any(contains_nul(part) for part in _request_texts()):
        return None
    message = _("What you sent contains a NUL character (\\0), which no text may contain. "
                "Remove it and try again.")
    if is_api_request():
        return error_response(400, "nul_character", message)
    return render_template("errors/error.html", code=400, message=message), 400


def init_app(app: Flask) -> None:
    """Check every request before its view (and before the route policy's database look-ups)."""
    app.before_request(_refuse_nul)
