"""What a transaction changed, handed over only after its commit (a rollback forgets it)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Hashable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class CommitWatcher:
    """collect(obj) names what a flushed new, changed or deleted object touches (nothing: an empty iterable);
    after a successful commit, on_commit gets all of it once. Changes no flush sees (a bulk UPDATE, rows of
    another store) are added with note()."""

    def __init__(self, key: str, collect: Callable[[Any], Iterable[Hashable]],
                 on_commit: Callable[[set], None], failure: str = "after-commit work failed") -> None:
        self.key, self.collect, self.on_commit, self.failure = key, collect, on_commit, failure

    def install(self, factory: sessionmaker) -> None:
        """Listen on every session the factory makes."""
        event.listen(factory, "after_flush", self._after_flush)
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_rollback", self._after_rollback)

    def note(self, session: Session, *items: Hashable) -> None:
        session.info.setdefault(self.key, set()).update(items)

    def _after_flush(self, session: Session, _ctx: Any) -> None:
        changed = session.info.setdefault(self.key, set())
        for obj in (*session.new, *session.dirty, *session.deleted):
            changed.update(self.collect(obj))

    def _after_commit(self, session: Session) -> None:
        changed = session.info.pop(self.key, set())
        if changed:
            try:
                self.on_commit(changed)
            except Exception:  # the save is committed; whatever follows it is caught up later
                log.exception(self.failure)

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(self.key, None)
