"""The signed-in user for reading requests without a query (docs/capacity.md).

Every request of a signed-in user loads the user's row (Flask-Login's user loader): on a match page served from
the page cache that query, with its BEGIN and ROLLBACK, was the only database work left. With a shared store
(CACHE_URL=redis://...), reading requests (GET, HEAD) take the row's columns that decide access from a snapshot
keyed by a per-user **generation**:

- every commit that touches the user (a role change, deactivation, signing out everywhere, a password change:
  all bump `session_version` or the columns themselves) bumps the generation after it commits, from whichever
  process makes it (web, worker, CLI: all share CACHE_URL), so the next request of every process reads the
  row again;
- the snapshot is stored with the generation read before the row, and used only while that generation is
  current: a row read before such a commit is never used after it (generation and snapshot come in one round
  trip);
- a bump lost to a Redis outage is owed: until the process can make it, it takes no snapshot at all; other
  processes may use the old one for at most SNAPSHOT_TTL seconds;
- write requests (POST and the rest) always read the row.

A snapshot belongs to one server-side session (the key names the session's token hash, models.credentials
.UserSession): it is stored only after the database confirmed that session, and signing out (the session's row
is deleted) bumps the user's generation like any other change, so a cached snapshot never revives an ended
session. A session without a snapshot is always looked up in the database.

Secrets (password hash, TOTP), the e-mail address and timestamps are never stored: they are loaded from the
database on first access, like any attribute the snapshot lacks. Without a shared store every request reads the
row, as before.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from models import User, UserSession

from .accounts import load_session_user, parse_session_id, session_digest
from .cache import versioned_get, versioned_set
from .commits import CommitWatcher

log = logging.getLogger(__name__)
# what the access checks and every page's header read; nothing secret, no contact detail
SNAPSHOT = ("display_name", "role", "organisation_id", "org_role", "active", "locale", "session_version")
SNAPSHOT_TTL = 60  # seconds a snapshot may outlive a change whose bump was lost (Redis unreachable)


class UserSnapshots:
    """Users for Flask-Login's loader: from a snapshot in the shared cache, else from the database."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.owed: set[int] = set()
        self._lock = threading.Lock()
        self._warned = False
        self.watcher = CommitWatcher("signed_in_users", _users_touched, self.bump)

    @staticmethod
    def generation_key(user_id: int) -> str:
        return f"techmatch:user:gen:{user_id}"

    @property
    def shared(self) -> bool:
        return bool(getattr(self.cache, "shared", False))

    def install(self, factory: sessionmaker) -> None:
        """Bump a user's generation after each commit of a session from this factory that touched the user."""
        self.watcher.install(factory)

    def bump(self, user_ids: set) -> bool:
        """Move these users' generations (and any this process still owes) on; False if some bump was lost
        (it is owed, and made on this process's next load or bump)."""
        if not self.shared:
            return False
        with self._lock:  # threads of one process: no owed bump is overwritten by another thread's outcome
            todo, self.owed = set(user_ids) | self.owed, set()
        lost = {i for i in todo if self.cache.incr(self.generation_key(i)) is None}
        with self._lock:
            self.owed |= lost
            if lost and not self._warned:  # once per outage, not on every request that tries to pay
                self._warned = True
                log.warning("could not bump %d signed-in user snapshot(s): this process reads every user from the "
                            "database until it can; other processes may lag for up to %s s", len(lost), SNAPSHOT_TTL)
            elif not self.owed:
                self._warned = False
        return not lost

    def load(self, session: Session, session_id: str) -> Optional[User]:
        """The user for a Flask-Login id 'user:version:token', or None if the session was ended (as
        accounts.load_session_user)."""
        parsed = parse_session_id(session_id)
        if parsed is None:
            return None
        user_id, version, token = parsed
        if self.owed:
            self.bump(set())
        if not self.shared or self.owed:
            return load_session_user(session, session_id)
        key = f"techmatch:user:v2:{user_id}:{session_digest(token)[:32]}"  # this session's snapshot
        gen, snap = versioned_get(self.cache, self.generation_key(user_id), key)  # one round trip
        if gen is None:
            return load_session_user(session, session_id)
        if not isinstance(snap, dict) or set(snap) != set(SNAPSHOT):
            user = load_session_user(session, session_id)
            if user is not None:
                versioned_set(self.cache, key, gen, {name: getattr(user, name) for name in SNAPSHOT}, SNAPSHOT_TTL)
            return user
        if snap["session_version"] != version or not snap["active"]:
            return None
        user = _attach(session, user_id, snap)
        user.session_key = token
        return user


def _users_touched(obj: object) -> tuple:
    """The user whose snapshots a flushed object makes stale: a changed user, a session started or ended."""
    if isinstance(obj, User) and obj.id:
        return (obj.id,)
    if isinstance(obj, UserSession) and obj.user_id:
        return (obj.user_id,)
    return ()


def _attach(session: Session, user_id: int, snap: dict) -> User:
    """A persistent User in the session built from the snapshot, without a query; the columns it lacks are
    loaded on first access, relationships lazily as usual."""
    known = session.identity_map.get(identity_key(User, user_id))
    if known is not None:
        return known
    user = User.__mapper__.class_manager.new_instance()
    set_committed_value(user, "id", user_id)
    for name, value in snap.items():
        set_committed_value(user, name, value)
    make_transient_to_detached(user)
    session.add(user)
    return user
