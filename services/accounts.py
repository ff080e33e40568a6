"""Registration, sign-in and user administration."""
from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from models import Organisation, OrgKind, PasswordReset, Role, User, UserSession, utcnow

from . import audit
from .errors import NotFound, ServiceError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
# zxcvbn's score 3 ("safely unguessable": more than ~10^8 guesses by its estimate) is the floor its authors
# recommend for accounts worth protecting: it refuses what a cracker tries first (repeats like "bbbbbbbbbb",
# patterns like "a1a1a1a1a1", keyboard walks, dates, dictionary words with digits, the user's own name or
# e-mail) while passphrases of three or four ordinary words pass; 4 would refuse many memorable ones.
MIN_STRENGTH = 3
STRENGTH_INPUT = 72  # zxcvbn refuses longer input; a longer password is judged on its start (errs towards refusing)
_strength_lock = threading.Lock()  # zxcvbn keeps the user's own words in a module global during a call


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased (loaded once)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_strength(password: str, context: Iterable[str] = ()) -> int:
    """zxcvbn's score (0-4) of a password; context: the user's own words (e-mail, name), which count as guessable."""
    words = [w for w in context if w]
    with _strength_lock:
        return int(zxcvbn(password[:STRENGTH_INPUT], user_inputs=words)["score"])


def check_password_rules(password: str, email: str = "", *, context: Iterable[str] = ()) -> None:
    """Length, a common-password list and a strength estimate (zxcvbn, score >= MIN_STRENGTH), no composition
    rules (NIST SP 800-63B); ServiceError if refused. Every password a person sets goes through here."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError("account.password_short", min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError("account.password_long", max=MAX_PASSWORD_LENGTH)
    lowered = password.strip().lower()
    local = normalise_email(email).split("@")[0] if email else ""
    if lowered in common_passwords() or (email and lowered in (normalise_email(email), local)):
        raise ServiceError("account.password_common")
    if password_strength(password, (normalise_email(email), local, *context)) < MIN_STRENGTH:
        raise ServiceError("account.password_common", reason="weak")  # same advice: too easy to guess


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    """True if the password matches the user's hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed e-mail used as the login name."""
    return email.strip().lower()


def get_user_by_email(session: Session, email: str) -> Optional[User]:
    """The user with this e-mail, if any."""
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(session: Session, *, email: str, password: str, display_name: str, role: Role | str,
                organisation: Optional[Organisation] = None) -> User:
    """Create an account; refuses a taken e-mail or a password check_password_rules refuses."""
    role = Role(role)
    if get_user_by_email(session, email):
        raise ServiceError("account.email_taken")
    check_password_rules(password, email, context=(display_name, organisation.name if organisation else ""))
    user = User(email=normalise_email(email), password_hash=hash_password(password),
                display_name=display_name.strip(), role=role.value, organisation=organisation, active=True,
                session_version=1)
    session.add(user)
    session.flush()
    return user


def register(session: Session, *, email: str, password: str, display_name: str, role: Role | str,
             org_name: str, region: Optional[str], industry: Optional[str] = None,
             credit_code: Optional[str] = None) -> User:
    """Self-registration of a company or university user together with a new, unverified organisation.

    The organisation's name is what the person typed, a claim nobody checked: it never joins an existing
    organisation of that name (whose listings, credit code and data stay out of reach), names may repeat."""
    role = Role(role)
    if role not in (Role.COMPANY, Role.UNIVERSITY):
        raise ServiceError("account.role_not_self_service")
    kind = OrgKind.COMPANY if role is Role.COMPANY else OrgKind.UNIVERSITY
    org = Organisation(name=org_name.strip(), kind=kind.value, region=region, industry=industry,
                       credit_code=(credit_code or None), verified=False)
    return create_user(session, email=email, password=password, display_name=display_name, role=role,
                       organisation=org)


def find_or_create_organisation(session: Session, name: str, kind: OrgKind, *, region: Optional[str] = None,
                                industry: Optional[str] = None, credit_code: Optional[str] = None) -> Organisation:
    """The (first) organisation with this name and kind, created if new: for seeding and operators' scripts,
    never for what a visitor typed (see register)."""
    name = name.strip()
    org = session.scalar(select(Organisation).where(Organisation.name == name, Organisation.kind == kind.value)
                         .order_by(Organisation.id).limit(1))
    if org is None:
        org = Organisation(name=name, kind=kind.value, region=region, industry=industry,
                           credit_code=(credit_code or None))
        session.add(org)
        session.flush()
    return org


def authenticate(session: Session, email: str, password: str) -> Optional[User]:
    """The active user with these credentials, else None (same cost either way); both outcomes audited."""
    user = get_user_by_email(session, email)
    if user is None:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        audit.record(session, "auth.login_failed", target=audit.email_ref(email), detail={"reason": "unknown"})
        return None
    correct = check_password(user, password)
    if not correct or not user.active:
        reason = "password" if not correct else "inactive"
        audit.record(session, "auth.login_failed", actor=user, target=f"user:{user.id}", detail={"reason": reason})
        return None
    user.last_login_at = utcnow()
    audit.record(session, "auth.login", actor=user, target=f"user:{user.id}")
    return user


# ---------------------------------------------------------------- server-side sessions

MAX_LIVE_SESSIONS = 20  # per user; signing in once more ends the oldest
SESSION_TOKEN_MAX = 100  # longer tokens in a cookie are refused unread


def session_digest(token: str) -> str:
    """SHA-256 (hex) of a session or reset token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user: User, *, max_age_hours: float) -> str:
    """A new server-side session for one browser signing in; returns its token (the cookie carries it through
    user.get_id(), the database only its hash). Expired sessions of the user, and the oldest beyond
    MAX_LIVE_SESSIONS, are removed."""
    cutoff = utcnow() - timedelta(hours=max_age_hours)
    mine = UserSession.user_id == user.id
    session.execute(delete(UserSession).where(mine, UserSession.created_at < cutoff),
                    execution_options={"synchronize_session": False})
    newest = select(UserSession.id).where(mine).order_by(UserSession.id.desc()).limit(MAX_LIVE_SESSIONS - 1)
    session.execute(delete(UserSession).where(mine, UserSession.id.not_in(newest.scalar_subquery())),
                    execution_options={"synchronize_session": False})
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, token_hash=session_digest(token)))
    session.flush()
    user.session_key = token
    return token


def end_session(session: Session, user: User) -> User:
    """Sign this browser out: its session (user.session_key) is removed, so its cookie, or a copy of it, is
    refused from now on; the user's other sessions go on."""
    if user.session_key:
        row = session.scalar(select(UserSession).where(UserSession.user_id == user.id,
                                                       UserSession.token_hash == session_digest(user.session_key)))
        if row is not None:
            session.delete(row)  # an ORM delete: the user's snapshots (services/usercache.py) are dropped
    audit.record(session, "auth.logout", actor=user, target=f"user:{user.id}")
    return user


def _end_all_sessions(session: Session, user: User) -> None:
    """Every session of the user ends: the version in every cookie is old, and the rows are gone."""
    user.session_version += 1
    session.execute(delete(UserSession).where(UserSession.user_id == user.id),
                    execution_options={"synchronize_session": False})


def end_sessions(session: Session, user: User) -> User:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    _end_all_sessions(session, user)
    audit.record(session, "auth.logout_everywhere", actor=user, target=f"user:{user.id}")
    return user


def change_password(session: Session, user: User, current: str, new: str) -> User:
    """Change the password after checking the current one; ends every session (the caller starts a new one
    for the browser that asked)."""
    if not check_password(user, current):
        raise ServiceError("account.password_wrong")
    check_password_rules(new, user.email, context=(user.display_name,))
    user.password_hash = hash_password(new)
    _end_all_sessions(session, user)
    audit.record(session, "auth.password_changed", actor=user, target=f"user:{user.id}")
    return user


def parse_session_id(session_id: str) -> Optional[tuple[int, int, str]]:
    """(user id, session version, token) from a Flask-Login id 'user:version:token', or None if malformed."""
    parts = session_id.split(":", 2)
    if len(parts) != 3 or not parts[2] or len(parts[2]) > SESSION_TOKEN_MAX:
        return None
    try:
        return int(parts[0]), int(parts[1]), parts[2]
    except ValueError:
        return None


def load_session_user(session: Session, session_id: str) -> Optional[User]:
    """The user for a Flask-Login id 'user:version:token', or None if that session was ended (signed out, signed
    out everywhere, password changed or reset, role changed, deactivated) or never existed; one query."""
    parsed = parse_session_id(session_id)
    if parsed is None:
        return None
    user_id, version, token = parsed
    user = session.scalar(select(User).join(UserSession, UserSession.user_id == User.id)
                          .where(User.id == user_id, UserSession.token_hash == session_digest(token)))
    if user is None or user.session_version != version or not user.active:
        return None
    user.session_key = token
    return user


# ---------------------------------------------------------------- forgotten password

def request_password_reset(session: Session, email: str, *, ttl_minutes: float) -> Optional[PasswordReset]:
    """A reset for the active account with this e-mail (None if there is none: the caller answers the same);
    its link is made when the mail is sent (issue_reset_token). Audited either way."""
    user = get_user_by_email(session, email)
    known = user is not None and user.active
    audit.record(session, "auth.password_reset_requested", actor=user if known else None,
                 target=f"user:{user.id}" if known else audit.email_ref(email), detail={"known": known})
    if not known:
        return None
    now = utcnow()
    reset = PasswordReset(user=user, created_at=now, expires_at=now + timedelta(minutes=ttl_minutes))
    session.add(reset)
    session.flush()
    return reset


def issue_reset_token(session: Session, reset_id: int) -> Optional[tuple[PasswordReset, str]]:
    """A fresh token for a reset still open (its hash replaces any earlier one), or None when it was used,
    expired or the account was deactivated meanwhile."""
    reset = session.get(PasswordReset, reset_id)
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow() or not reset.user.active:
        return None
    token = secrets.token_urlsafe(32)
    reset.token_hash = session_digest(token)
    session.flush()
    return reset, token


def find_password_reset(session: Session, token: str) -> Optional[PasswordReset]:
    """The open reset this link's token names, or None (unknown, used, expired, account deactivated)."""
    if not token or len(token) > SESSION_TOKEN_MAX:
        return None
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == session_digest(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow() or not reset.user.active:
        return None
    return reset


def refuse_reset_link(session: Session, token: str) -> None:
    """Record a refused reset link (the caller shows the same message whatever the reason)."""
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == session_digest(token or "")))
    reason = "unknown" if reset is None else "used" if reset.used_at is not None else \
        "expired" if reset.expires_at <= utcnow() else "inactive"
    audit.record(session, "auth.password_reset_failed", target=f"user:{reset.user_id}" if reset else None,
                 detail={"reason": reason})


def reset_password(session: Session, reset: PasswordReset, new: str) -> User:
    """Set a new password through an open reset: the link, and every other open link of the user, is used up,
    and every session of the user ends (whoever held one is signed out). ServiceError 'account.reset_used'
    when the same link was used meanwhile (two tabs, a double click)."""
    user = reset.user
    check_password_rules(new, user.email, context=(user.display_name,))  # a refused password keeps the link open
    now = utcnow()
    # a conditional UPDATE: of two concurrent uses of one link (PostgreSQL re-checks the WHERE under the row
    # lock), exactly one claims it
    claimed = session.execute(update(PasswordReset).where(PasswordReset.id == reset.id,
                                                          PasswordReset.used_at.is_(None)).values(used_at=now),
                              execution_options={"synchronize_session": False}).rowcount
    if claimed != 1:
        raise ServiceError("account.reset_used")
    session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                    .values(used_at=now), execution_options={"synchronize_session": False})
    reset.used_at = now
    user.password_hash = hash_password(new)
    _end_all_sessions(session, user)
    audit.record(session, "auth.password_reset", actor=user, target=f"user:{user.id}")
    return user


def get_user(session: Session, user_id: int) -> User:
    """A user by id or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def set_role(session: Session, user: User, role: Role | str, *, actor: User) -> User:
    """Change a user's role; ends their sessions so the new rights apply at once."""
    if user.id == actor.id:
        raise ServiceError("account.cannot_change_self")
    before = user.role
    user.role = Role(role).value
    _end_all_sessions(session, user)
    audit.record(session, "user.role_changed", actor=actor, target=f"user:{user.id}",
                 detail={"from": before, "to": user.role})
    return user


def set_active(session: Session, user: User, active: bool, *, actor: User) -> User:
    """Activate or deactivate an account; deactivation ends every session of the user."""
    if user.id == actor.id and not active:
        raise ServiceError("account.cannot_change_self")
    user.active = active
    _end_all_sessions(session, user)
    audit.record(session, "user.activated" if active else "user.deactivated", actor=actor, target=f"user:{user.id}")
    return user


def list_users(session: Session, *, role: Optional[str] = None, q: str = "") -> list[User]:
    """Users for the admin page, filtered by role and a text in e-mail or name."""
    stmt = select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    if q:
        text = q.strip()  # % and _ are literal; case-insensitive on SQLite and PostgreSQL alike
        stmt = stmt.where(User.email.icontains(text, autoescape=True) | User.display_name.icontains(text, autoescape=True))
    return list(session.scalars(stmt))
