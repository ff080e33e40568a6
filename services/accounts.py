"""Registration, sign-in and user administration."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Organisation, OrgKind, Role, User, utcnow

from . import audit
from .errors import NotFound, ServiceError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased (loaded once)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_password_rules(password: str, email: str = "") -> None:
    """Length and a common-password list, no composition rules (NIST SP 800-63B); ServiceError if refused."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError("account.password_short", min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError("account.password_long", max=MAX_PASSWORD_LENGTH)
    lowered = password.strip().lower()
    local = normalise_email(email).split("@")[0] if email else ""
    if lowered in common_passwords() or (email and lowered in (normalise_email(email), local)):
        raise ServiceError("account.password_common")


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
    """Create an account; refuses a taken e-mail or a short password."""
    role = Role(role)
    if get_user_by_email(session, email):
        raise ServiceError("account.email_taken")
    check_password_rules(password, email)
    user = User(email=normalise_email(email), password_hash=hash_password(password),
                display_name=display_name.strip(), role=role.value, organisation=organisation, active=True,
                session_version=1)
    session.add(user)
    session.flush()
    return user


def register(session: Session, *, email: str, password: str, display_name: str, role: Role | str,
             org_name: str, region: Optional[str], industry: Optional[str] = None,
             credit_code: Optional[str] = None) -> User:
    """Self-registration of a company or university user together with their organisation."""
    role = Role(role)
    if role not in (Role.COMPANY, Role.UNIVERSITY):
        raise ServiceError("account.role_not_self_service")
    kind = OrgKind.COMPANY if role is Role.COMPANY else OrgKind.UNIVERSITY
    org = find_or_create_organisation(session, org_name, kind, region=region, industry=industry,
                                      credit_code=credit_code)
    return create_user(session, email=email, password=password, display_name=display_name, role=role,
                       organisation=org)


def find_or_create_organisation(session: Session, name: str, kind: OrgKind, *, region: Optional[str] = None,
                                industry: Optional[str] = None, credit_code: Optional[str] = None) -> Organisation:
    """The organisation with this name and kind, created if new."""
    name = name.strip()
    org = session.scalar(select(Organisation).where(Organisation.name == name, Organisation.kind == kind.value))
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


def end_sessions(session: Session, user: User) -> User:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    user.session_version += 1
    audit.record(session, "auth.logout_everywhere", actor=user, target=f"user:{user.id}")
    return user


def change_password(session: Session, user: User, current: str, new: str) -> User:
    """Change the password after checking the current one; ends every other session."""
    if not check_password(user, current):
        raise ServiceError("account.password_wrong")
    check_password_rules(new, user.email)
    user.password_hash = hash_password(new)
    user.session_version += 1
    audit.record(session, "auth.password_changed", actor=user, target=f"user:{user.id}")
    return user


def load_session_user(session: Session, session_id: str) -> Optional[User]:
    """The user for a Flask-Login id 'user:version', or None if the session was ended."""
    try:
        user_id, version = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    user = session.get(User, user_id)
    if user is None or user.session_version != version or not user.active:
        return None
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
    user.session_version += 1
    audit.record(session, "user.role_changed", actor=actor, target=f"user:{user.id}",
                 detail={"from": before, "to": user.role})
    return user


def set_active(session: Session, user: User, active: bool, *, actor: User) -> User:
    """Activate or deactivate an account; deactivation ends every session of the user."""
    if user.id == actor.id and not active:
        raise ServiceError("account.cannot_change_self")
    user.active = active
    user.session_version += 1
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
