"""Server-side access checks used by every view."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import abort
from flask_login import current_user, login_required


def roles_required(*roles: str) -> Callable:
    """Only signed-in users with one of these roles; others get 403 (anonymous: the sign-in page)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
