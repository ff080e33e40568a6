"""Accounts and the organisations they belong to."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, event, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow


class Role(str, enum.Enum):
    """What a user is on the platform; decides what they may see and do."""

    COMPANY = "company"
    UNIVERSITY = "university"
    BROKER = "broker"
    ADMIN = "admin"
    # a member of the 科技顾问团 (scientist, entrepreneur or investor) who reviews what a broker assigns (issue 21)
    ADVISOR = "advisor"
    # a service provider of the directory: agency, pilot or proof-of-concept platform, lab, IP service, investor
    PROVIDER = "provider"


class OrgKind(str, enum.Enum):
    """Kind of organisation behind an account."""

    COMPANY = "company"
    UNIVERSITY = "university"
    AGENCY = "agency"


# A member's role inside their organisation (issue 21 part 3): managers invite and remove members and may close
# or delete the organisation's listings; members see and edit them. The one who registers an organisation is
# its manager.
ORG_MANAGER = "manager"
ORG_MEMBER = "member"
ORG_ROLES = (ORG_MANAGER, ORG_MEMBER)


class Organisation(Base):
    """A company, a university/institute, or a government-side agency."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    credit_code: Mapped[Optional[str]] = mapped_column(String(18))
    region: Mapped[Optional[str]] = mapped_column(String(32))
    # the node `region` names (any level, migration 0011), kept in step on save (models/taxonomy.py)
    region_id: Mapped[Optional[int]] = mapped_column(ForeignKey("regions.id"), index=True)
    industry: Mapped[Optional[str]] = mapped_column(String(64))
    # what a registration typed is a claim: a new organisation is unverified until staff confirm it (names may
    # repeat; typing an existing name never joins that organisation)
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    users: Mapped[list["User"]] = relationship(back_populates="organisation")


def _sync_org_region(mapper, connection, target) -> None:
    from .taxonomy import sync_region_id
    sync_region_id(mapper, connection, target)


event.listen(Organisation, "before_insert", _sync_org_region)
event.listen(Organisation, "before_update", _sync_org_region)


class User(Base):
    """A person who signs in. Implements what Flask-Login expects without importing it."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), index=True)
    organisation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    # manager | member of organisation (None without one); set to manager on insert when left empty (migration 0015)
    org_role: Mapped[Optional[str]] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[Optional[str]] = mapped_column(String(8))
    # Bumped to end every session of this user (logout everywhere, deactivation, password change).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    # base32 TOTP secret once the user enrolled a second factor (None: password only)
    totp_secret: Mapped[Optional[str]] = mapped_column(String(64))
    # last accepted TOTP time step, so one code cannot be used twice
    totp_last_step: Mapped[Optional[int]] = mapped_column(Integer)

    organisation: Mapped[Optional[Organisation]] = relationship(back_populates="users")

    # The token of the server-side session (models.credentials.UserSession) this instance was signed in or
    # loaded with, set by services/accounts.py; a plain attribute, not a column.
    session_key = None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """Session id 'user:version:token': bumping the version signs the user out everywhere, removing the
        token's UserSession row signs out that one browser (no token: a session that is never accepted)."""
        return f"{self.id}:{self.session_version}:{self.session_key or ''}"

    def has_role(self, *roles: "Role | str") -> bool:
        """True if the user has any of the given roles."""
        return self.role in {r.value if isinstance(r, Role) else r for r in roles}


def _default_org_role(_mapper, _connection, target: User) -> None:
    """Whoever is created inside an organisation without a role named (registration, staff, seeding) manages it;
    an invitation names the role itself."""
    if target.org_role is None and (target.organisation_id is not None or target.organisation is not None):
        target.org_role = ORG_MANAGER


event.listen(User, "before_insert", _default_org_role)


class OrganisationInvitation(Base):
    """A manager's invitation to join the organisation: only a hash of the link's token is kept; it is used once,
    before expires_at, by the e-mail address it names (services/organisations.py)."""

    __tablename__ = "organisation_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    org_role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    invited_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    accepted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    organisation: Mapped[Organisation] = relationship()
    invited_by: Mapped[Optional[User]] = relationship(foreign_keys=[invited_by_id])
