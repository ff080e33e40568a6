"""Optional TOTP second factor (RFC 6238, 30 s steps): enrolment, verification without replays."""
from __future__ import annotations

import time
from typing import Iterable, Optional

import pyotp
from sqlalchemy.orm import Session

from models import User

from . import audit
from .errors import ServiceError

ISSUER = "TechMatch"


def new_secret() -> str:
    """A fresh base32 secret for enrolment."""
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app imports."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, after: Optional[int], now: Optional[float] = None) -> Optional[int]:
    """The time step (now +-1) whose code matches and that was not used before, else None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or time.time()) // totp.interval)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def enable(session: Session, user: User, secret: str, code: str) -> User:
    """Turn the second factor on once the user proved their app shows the right code."""
    step = _matching_step(secret, code, None)
    if step is None:
        raise ServiceError("totp.bad_code")
    user.totp_secret, user.totp_last_step = secret, step
    audit.record(session, "auth.totp_enabled", actor=user, target=f"user:{user.id}")
    return user


def verify(session: Session, user: User, code: str) -> bool:
    """True if the code is valid now and not a replay; failures are audited."""
    step = _matching_step(user.totp_secret or "", code, user.totp_last_step) if user.totp_secret else None
    if step is None:
        audit.record(session, "auth.totp_failed", actor=user, target=f"user:{user.id}")
        return False
    user.totp_last_step = step
    return True


def required(user: User, roles: Iterable[str]) -> bool:
    """True if the user's role must use a second factor and none is enrolled yet."""
    return user.role in set(roles) and not user.totp_secret
