"""Errors raised by services; the web layer turns each code into a translated message."""
from __future__ import annotations


class ServiceError(Exception):
    """A refused operation, identified by a stable code (e.g. 'listing.bad_transition')."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class NotFound(ServiceError):
    """The object does not exist or the caller may not know it exists."""

    def __init__(self, code: str = "not_found", **params: object) -> None:
        super().__init__(code, **params)
