"""Personal API tokens: created once in clear, stored hashed, looked up by prefix, revoked by their owner.

A token is "tm_<prefix>_<secret>" with 128+ bits of randomness in the secret, so a plain SHA-256 is the
right hash (no password stretching needed) and lookups stay constant-time per request.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import ApiToken, User, utcnow

from . import audit
from .errors import NotFound, ServiceError

MAX_ACTIVE = 20
# last_used_at is written at most this often, so reads through the API do not all become writes
TOUCH_EVERY = timedelta(minutes=5)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for the user; returns the row and the clear token (shown once, never stored)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise ServiceError("token.bad_name")
    active = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))) or 0
    if active >= MAX_ACTIVE:
        raise ServiceError("token.too_many", max=MAX_ACTIVE)
    prefix = secrets.token_hex(6)
    clear = f"tm_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user_id=user.id, name=name, prefix=prefix, token_hash=_hash(clear))
    session.add(token)
    session.flush()
    audit.record(session, "api.token_created", actor=user, target=f"api_token:{token.id}",
                 detail={"name": name, "prefix": prefix})  # the prefix identifies it; the secret is never kept
    return token, clear


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included, marked)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens; NotFound for anyone else's."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "api.token_revoked", actor=user, target=f"api_token:{token.id}",
                     detail={"prefix": token.prefix})
    return token


def authenticate(session: Session, clear: str) -> Optional[User]:
    """The active user behind a clear token, or None (unknown, revoked, malformed, inactive user)."""
    parts = (clear or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "tm" or not parts[1] or len(parts[1]) > 16:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == parts[1]))
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, _hash(clear)):
        return None
    user = token.user
    if user is None or not user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return user
