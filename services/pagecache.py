"""Rendered match pages, kept in the shared cache until anything they show changes (docs/capacity.md).

A match page's results (ranking, explanations, each counterpart's organisation, field and region, brokers' latest
feedback, possible duplicates) cost ~10 queries and most of the page's template time. They are the same for
every viewer with the same role, language and address, so they are rendered once and kept, with the listing's
title, owner and status (what the page's heading and its access check need: a page served from here reads
nothing from the database), keyed by:

- a **version** counter in the shared cache, bumped after every commit that touches what the page shows
  (listings, organisations, fields, regions, pair feedback) and after every index write (sync, rebuild), by
  whichever process makes it (web, job worker or CLI: all must share CACHE_URL);
- the counterpart index's stamp and, for reviewers, the same kind's (possible duplicates): index writes reach
  every page even from a process that lacks the shared cache;
- the listing, k, language, the viewer's side (reviewer or owner), the learned re-ranking in use, and the address.

Only a store every process shares (CACHE_URL=redis://...) carries the version: with "memory", a commit in
another process (a job worker, a CLI import) would not reach this one, so nothing is cached; likewise while
Redis does not answer. A page rendered while an older matcher still serves (a background rebuild) is not
stored. Per-viewer parts (the CSRF token) are never stored: the fragment carries a placeholder filled in at
serve time. A bump lost to a Redis outage is owed: the process makes it before it reads the version again, so
its own pages are never stale; another process's pages lag until then, at most CACHE_TTL seconds.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Optional

from sqlalchemy.orm import sessionmaker

from models import Achievement, Demand, Field, Introduction, Organisation, PairFeedback, Region

from .cache import Cache, versioned_get, versioned_set
from .commits import CommitWatcher

log = logging.getLogger(__name__)
VERSION_KEY = "techmatch:pages:version"
# stands for the viewer's CSRF token in a stored fragment (no request carries NUL: web/input_guard.py)
CSRF_SLOT = "\x00csrf\x00"
# Introduction: an accepted one reveals a confidential demand's company on the counterpart's page (issue 21)
WATCHED = (Demand, Achievement, Organisation, Field, Region, PairFeedback, Introduction)
Slot = tuple[str, int]  # (key, version): where a page is stored, as of which version


class PageCache:
    """Fragments of rendered pages in a shared cache, invalidated by a version counter."""

    def __init__(self, cache: Cache, ttl: int) -> None:
        self.cache, self.ttl = cache, ttl
        self._started = 0  # bumps started by this process
        self._debt = 0  # the latest lost bump not yet covered by a later one (0: none owed)
        self._lock = threading.Lock()
        # after each commit of a session from the factory that touched a watched row (or noted an index write)
        self.watcher = CommitWatcher("pages_changed", lambda obj: ("rows",) if isinstance(obj, WATCHED) else (),
                                     lambda _changed: self.bump())

    def install(self, factory: sessionmaker) -> None:
        """Bump the version after each commit of a session from this factory that touched a watched row."""
        self.watcher.install(factory)

    def bump(self) -> bool:
        """Every stored page is out of date (they are stored with the version, and expire on their own). False if
        the store did not answer: the bump is owed, and this process caches no page until it has made it."""
        with self._lock:
            self._started += 1
            mine = self._started
        done = self.cache.incr(VERSION_KEY) is not None or not self.shared
        with self._lock:
            if done and mine > self._debt:
                # this bump started after the lost one had ended, so after that one's commit: it covers it
                self._debt = 0
            elif not done:
                if not self._debt:  # once per outage
                    log.warning("could not bump the page version: this process caches no page until it can; "
                                "other processes' cached match pages may lag for up to %s s", self.ttl)
                self._debt = max(self._debt, mine)
        return done

    @property
    def _owed(self) -> bool:
        return self._debt > 0

    @property
    def shared(self) -> bool:
        """Whether pages may be cached at all (a store every process shares)."""
        return bool(getattr(self.cache, "shared", False))

    def lookup(self, *parts: Any) -> tuple[Optional[Slot], Optional[dict]]:
        """(slot, page) for a page whose content depends on parts, in one round trip: page is the stored one if
        it is current, slot where a page rendered now is stored (None: store nothing, the version is unknown)."""
        if not self.shared:
            return None, None
        if self._owed:  # a bump this process lost while the store was down: made before anything is read
            self.bump()
        if self._owed:
            return None, None
        key = "techmatch:page:v3:" + hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:40]
        version, page = versioned_get(self.cache, VERSION_KEY, key)
        if version is None:
            return None, None
        return (key, version), page if isinstance(page, dict) else None

    def store(self, slot: Optional[Slot], page: dict) -> None:
        """Store a page rendered after lookup() gave this slot."""
        if slot:
            versioned_set(self.cache, slot[0], slot[1], page, self.ttl)
