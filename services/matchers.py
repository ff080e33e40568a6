"""The matchers a process serves from, one per listing kind, each built over the published listings as of an
index stamp; rebuilt in the background while the previous one keeps serving; and the score calibration they
apply (a refit file is picked up within a second)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from sqlalchemy.orm import Session, sessionmaker

from matchmaking import calibration as _calibration
from matchmaking.engine import HybridMatcher
from matchmaking.lexical import LexicalIndex, SnapshotError
from matchmaking.vectorstore import VectorShelf
from matchmaking.versions import CALIBRATION as VERSION_CALIBRATION

from .indexing import published_docs

log = logging.getLogger("services.matching")  # operators grep one logger for the matching runtime
LEXICAL_DIR = "lexical"  # the lexical snapshot, inside each kind's index folder
REFRESH_RETRY_S = 30.0   # after a failed background rebuild, the previous matcher serves this long untried


class MatcherSet:
    """encoder() (loaded on first use) and shelf are the runtime's; lock is the runtime's lock over the stores
    and matchers of this process (index writes hold it too); directory(kind) is the kind's index folder, where
    the lexical snapshot is kept whatever the vector store."""

    def __init__(self, config: Mapping[str, Any], factory: sessionmaker, *, encoder: Callable[[], Any],
                 shelf: VectorShelf, lock: threading.RLock, directory: Callable[[str], Path],
                 model_folder: Optional[Callable[[], str]] = None) -> None:
        refresh = config.get("MATCHER_REFRESH", "background")
        if refresh not in ("background", "inline"):
            raise ValueError(f"MATCHER_REFRESH must be background or inline, not {refresh!r}")
        self.refresh_background = refresh == "background"
        self.factory, self.encoder, self.shelf, self._lock, self.directory = factory, encoder, shelf, lock, directory
        self._refresh_lock = threading.Lock()
        self._refreshers: dict[str, threading.Thread] = {}
        self._refresh_retry_at: dict[str, float] = {}
        self._matchers: dict[str, tuple[int, HybridMatcher]] = {}
        self._config = config
        self._model_folder = model_folder or (lambda: None)  # the serving model's folder: its own refit first
        self.calibration_path = calibration_path(config, self._model_folder())
        self._calibration = load_calibration(self.calibration_path)
        self._calibration_seen = (time.monotonic(), _mtime(self.calibration_path))

    def forget(self) -> None:
        """Drop this process's matchers and retry delays (the next request builds them as a new process would)."""
        with self._lock:
            self._matchers.clear()
            self._refresh_retry_at.clear()

    def serving(self, kind: str) -> int:
        """The stamp of the matcher this process serves this kind from (0: none built yet)."""
        return self._matchers.get(kind, (0,))[0]

    def matcher(self, kind: str, session: Session) -> HybridMatcher:
        """A matcher over the published listings of a kind. When the index changed it is rebuilt now (the first
        one, or MATCHER_REFRESH=inline) or in a background thread while the previous one keeps serving."""
        with self._lock:
            cached = self._matchers.get(kind)
            if cached and cached[0] == self.shelf.stamp(kind):  # faiss: the manifest's mtime; no index load
                return cached[1]
            if cached is None or not self.refresh_background:
                self._matchers[kind] = self._build(kind, session, cached)
                return self._matchers[kind][1]
        self._refresh_later(kind)
        return cached[1]

    def _build(self, kind: str, session: Session,
               previous: Optional[tuple[int, HybridMatcher]]) -> tuple[int, HybridMatcher]:
        """(stamp, matcher) over the listings published and in the store now; its lexical index starts from
        the previous matcher's, else from the snapshot on disk, so only new or changed texts are tokenised."""
        with self._lock:
            stamp, store = self.shelf.current(kind)
        in_store = set(store.ids().tolist())  # one query, not one per listing (pgvector)
        docs = {i: d for i, d in published_docs(session, kind).items() if i in in_store}
        ids = sorted(docs)
        lexical = self._lexical(kind, ids, [docs[i].embed_text() for i in ids],
                                previous[1].lexical if previous else None)
        calib = self.calibration
        encoder = self.encoder()
        if calib.model and calib.model != _calibration.model_name(encoder.model_key):
            log.warning("the score calibration %s was fit with %s, not %s: scores and bands are not calibrated for "
                        "this model; refit with `flask matches calibrate`", calib.source, calib.model,
                        encoder.model_key)
        return stamp, HybridMatcher(encoder, store, lexical, docs, calibration=calib)

    def _lexical(self, kind: str, ids: list[int], texts: list[str], previous: Optional[LexicalIndex]) -> LexicalIndex:
        """The lexical index over these texts; the snapshot (a cache: deleting it is safe) is read when this
        process has no index yet and written when it was missing or out of date."""
        folder = self.directory(kind) / LEXICAL_DIR
        snapshot = None
        if previous is None:
            try:
                previous = snapshot = LexicalIndex.load(folder)
            except SnapshotError as exc:
                log.info("no usable lexical snapshot for %s (%s): tokenising every listing", kind, exc)
        index = LexicalIndex.build(ids, texts, previous=previous)
        if previous is None or (snapshot is not None and index is not snapshot):
            try:
                index.save(folder)
            except OSError:
                log.warning("could not save the lexical snapshot in %s", folder, exc_info=True)
        return index

    def _refresh_later(self, kind: str) -> None:
        """Start this kind's rebuild thread unless one runs (it rebuilds again if the stamp moved meanwhile)."""
        with self._refresh_lock:
            thread = self._refreshers.get(kind)
            if thread is not None and thread.is_alive():
                return
            if time.monotonic() < self._refresh_retry_at.get(kind, 0.0):
                return  # the last rebuild failed: do not retry on every request
            thread = threading.Thread(target=self._refresh, args=(kind,), name=f"matcher-{kind}", daemon=True)
            self._refreshers[kind] = thread
            thread.start()

    def _refresh(self, kind: str) -> None:
        """Build matchers until one has the index's current stamp; the previous one serves meanwhile."""
        try:
            while True:
                with self._lock:
                    current = self._matchers.get(kind)
                    if current is not None and current[0] == self.shelf.stamp(kind):
                        return
                with self.factory() as session:
                    built = self._build(kind, session, current)
                with self._lock:
                    built[1].calibration = self._calibration  # a refit may have landed during the build
                    self._matchers[kind] = built
        except Exception:
            self._refresh_retry_at[kind] = time.monotonic() + REFRESH_RETRY_S
            log.exception("rebuilding the %s matcher failed; the previous one keeps serving", kind)

    def wait_for_refresh(self, kind: str, timeout: Optional[float] = None) -> None:
        """Wait for this kind's background rebuild, if one runs (tests, CLI)."""
        thread = self._refreshers.get(kind)
        if thread is not None:
            thread.join(timeout)

    @property
    def calibration(self) -> _calibration.Calibration:
        """The score calibration; a refit file (`flask matches calibrate`) is picked up within a second."""
        seen_at, mtime = self._calibration_seen
        now = time.monotonic()
        if now - seen_at >= 1.0:
            path = calibration_path(self._config, self._model_folder())  # a refit appears or goes, the model changes
            current = _mtime(path)
            if current != mtime or path != self.calibration_path:
                try:
                    self._calibration, self.calibration_path = _calibration.load(path), path
                except _calibration.CalibrationError:
                    log.exception("the new calibration file is unusable; the previous one keeps serving")
                with self._lock:
                    for _stamp, m in self._matchers.values():
                        m.calibration = self._calibration
            self._calibration_seen = (now, current)
        return self._calibration

    @property
    def calibration_ident(self) -> str:
        """What the shown scores depend on besides the index and model: part of every cache key."""
        return f"{self.calibration.source}@{self._calibration_seen[1]}"


def calibration_path(config: Mapping[str, Any], model_folder: Optional[str] = None) -> Path:
    """CALIBRATION_FILE when set; else the serving model version's own refit (an adapted model's, written by
    `flask model adapt --calibrate`) when there; else the instance's refit (`flask matches calibrate`) when
    there; else the calibration shipped with the engine."""
    if config.get("CALIBRATION_FILE"):
        return Path(config["CALIBRATION_FILE"])
    own = Path(model_folder) / VERSION_CALIBRATION if model_folder else None
    if own is not None and own.is_file():
        return own
    refit = Path(config.get("INSTANCE_DIR") or "instance") / "calibration.json"
    return refit if refit.exists() else _calibration.SHIPPED


def load_calibration(path: Path) -> _calibration.Calibration:
    """The calibration at path; an unusable file is logged and the shipped one serves (the platform, and
    `flask matches calibrate` that replaces the file, still start)."""
    try:
        return _calibration.load(path)
    except _calibration.CalibrationError:
        log.exception("the calibration file %s is unusable; the shipped calibration serves", path)
        return _calibration.load()


def _mtime(path: Path) -> Optional[int]:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
