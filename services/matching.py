"""Ranked, explained matches between demands and achievements, served from the engine's indexes."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from matchmaking import calibration as _calibration
from matchmaking.encoders import build_encoder, resolve_setup
from matchmaking.documents import Listing
from matchmaking.engine import HybridMatcher, Match
from matchmaking.errors import MatchingUnavailable  # noqa: F401 - re-exported: web catches it from here
from matchmaking.lexical import LexicalIndex, SnapshotError
from matchmaking.pgvector_store import table_name
from matchmaking.vectorstore import MANIFEST_FILE, FaissStore, build_vector_store
from models import Achievement, Demand, Job, JobStatus, Status

from . import jobs
from .cache import NoCache, cache_for
from .pagecache import PageCache
from .indexing import (MODELS, BackgroundWorker, ChangeTracker, SyncReport, doc_fingerprint, published_docs,
                       Progress, refresh_vectors, stored_vectors, store_dir, text_sha256 as _sha, to_doc)

log = logging.getLogger(__name__)
KINDS = ("demand", "achievement")
SYNC_JOB = "index.sync"
QVEC_LRU = 20_000  # query vectors kept per process: 384 float32 = 1.5 KB each, so ~30 MB at most
QVEC_TTL = 30 * 24 * 3600  # in the shared cache: a vector of (model, exact text) never goes stale
LEXICAL_DIR = "lexical"  # the lexical snapshot, inside each kind's index folder
SEARCH_DEPTH = 300  # a search ranks this many listings at most (15 pages of 20): the full-text index's best
SEARCH_DENSE = 40  # and the nearest in meaning, whatever their words (those passing the filters): 2 pages; pgvector
# at 100k took 36 ms for 100 (ef_search follows k), the largest part of a search page
MEMO_SIZE = 256  # remember() entries per process
SEARCH_LRU = 2_000  # search query vectors kept per process (1.5 KB each)
SEARCH_MIN_SCORE = 1.0  # a result with no word of the query is shown from this calibrated score (1%)
REFRESH_RETRY_S = 30.0   # after a failed background rebuild, the previous matcher serves this long untried
# the runtime behind each engine, so index.sync jobs run by a queue consumer find theirs
_RUNTIMES: "weakref.WeakKeyDictionary[Any, MatchingRuntime]" = weakref.WeakKeyDictionary()


@dataclass
class MatchView:
    """A counterpart listing with the engine's explanation of why it matches."""

    listing: Demand | Achievement
    match: Match
    set_aside: bool = False  # its latest broker feedback says "not relevant": listed last, folded on pages


class MatchingRuntime:
    """Per-process holder of the encoder, the stores and the matchers; rebuilt from the database at will."""

    def __init__(self, config: Mapping[str, Any], factory: sessionmaker) -> None:
        self.model_path = config["EMBEDDING_MODEL"]
        self.query_backend = config.get("EMBEDDING_QUERY_BACKEND") or "auto"
        # "auto" resolved once, on this CPU (encoders.resolve_setup): bf16 torch, else int8 ONNX passages
        self.backend, self.quantize = resolve_setup(self.model_path, config.get("EMBEDDING_BACKEND") or "auto",
                                                    config.get("EMBEDDING_QUANTIZE", "auto"))
        self.index_root = Path(config["INDEX_DIR"])
        # one torch thread per web process: two gave a long p95 tail under load (docs/benchmarks.md)
        self.threads = int(config.get("ENCODER_THREADS", 1)) or None
        self.parallel = max(1, int(config.get("ENCODER_PARALLEL", 1)))
        self.inline = config.get("INDEX_SYNC") == "inline"
        refresh = config.get("MATCHER_REFRESH", "background")
        if refresh not in ("background", "inline"):
            raise ValueError(f"MATCHER_REFRESH must be background or inline, not {refresh!r}")
        self.refresh_background = refresh == "background"
        self._refresh_lock = threading.Lock()
        self._refreshers: dict[str, threading.Thread] = {}
        self._refresh_retry_at: dict[str, float] = {}
        self.factory = factory
        self.pgvector = config.get("VECTOR_STORE", "faiss") == "pgvector"
        if self.pgvector and not str(config["DATABASE_URL"]).startswith("postgresql"):
            raise ValueError("VECTOR_STORE=pgvector needs a PostgreSQL DATABASE_URL")
        # the readers' own connection (psycopg conninfo: the SQLAlchemy URL without its driver name)
        self.conninfo = str(config["DATABASE_URL"]).replace("postgresql+psycopg://", "postgresql://")
        self._lock = threading.RLock()  # the stores and matchers of this process
        self._sync_lock = threading.RLock()  # index writes (sync, rebuild): one at a time
        self._stores: dict[str, tuple[int, FaissStore]] = {}
        self._matchers: dict[str, tuple[int, HybridMatcher]] = {}
        self.cache = cache_for(config)
        # rendered match results (web/matches.py), keyed by a version that commits and index writes bump
        self.pages = PageCache(self.cache, int(config.get("CACHE_TTL", 600)))
        self._config = config
        self.calibration_path = calibration_path(config)
        self._calibration = _load_calibration(self.calibration_path)
        self._calibration_seen = (time.monotonic(), _mtime(self.calibration_path))
        self._qvecs: "OrderedDict[str, np.ndarray]" = OrderedDict()  # query vectors by (model, text hash)
        self._qvec_lock = threading.Lock()
        self._search_vecs: "OrderedDict[str, np.ndarray]" = OrderedDict()  # search queries' vectors (LRU)
        self._memo: "OrderedDict[tuple, Any]" = OrderedDict()  # remember()
        self.worker = BackgroundWorker(self._job)
        # the configured model (path and quantisation): part of an index.sync job's key
        self.model_ident = f"{Path(self.model_path).expanduser()}|{self.backend}|{self.quantize or 'fp32'}"
        self._queue: Optional[Any] = None
        self._write_factory: Optional[Callable[[], Session]] = None
        if factory.kw.get("bind") is not None:
            _RUNTIMES[factory.kw["bind"]] = self
        ChangeTracker(self.on_commit).install(factory)
        self.pages.install(factory)
        if self.pgvector:
            event.listen(factory, "before_commit", self._before_commit)

    @property
    def encoder(self) -> Any:
        """The configured encoder (loaded once per process)."""
        return build_encoder(self.model_path, quantize=self.quantize, threads=self.threads, backend=self.backend,
                             parallel=self.parallel, query_backend=self.query_backend)

    def use_queue(self, queue: Any, write_factory: Callable[[], Session]) -> None:
        """Send index updates after commit as index.sync jobs through this queue (JOBS_MODE=queue)."""
        self._queue, self._write_factory = queue, write_factory

    def on_commit(self, changed: set[tuple[str, int]]) -> None:
        """After a commit that touched listings: update the index now (inline), as a job, or in the worker."""
        if self.inline:
            self._job(changed)
        elif self._queue is not None:
            self._submit_sync(changed)
        else:
            self.worker.submit(changed)

    def _submit_sync(self, changed: set[tuple[str, int]]) -> None:
        with self._write_factory() as session:  # its own transaction: the user's save is committed already
            job = submit_sync_job(session, changed, self.model_ident)
            session.commit()
            job_id, queued = job.id, job.status == JobStatus.QUEUED.value
        if queued:
            self._queue.enqueue(job_id)

    def _before_commit(self, session: Session) -> None:
        """pgvector: index the changed listings in their own transaction (database and index commit together)."""
        session.flush()
        kinds = sorted({kind for kind, _ in session.info.get("listings_changed", ())})
        if not kinds:
            return
        try:
            self.sync(session, kinds=kinds)
        except Exception:  # never lose the user's save: the after-commit sync and `flask index sync` catch up
            log.exception("indexing in the listing's transaction failed; the after-commit sync will retry")

    def _job(self, changed: set[tuple[str, int]]) -> None:
        with self.factory() as session:
            self.sync(session, kinds=sorted({kind for kind, _ in changed}))
            session.commit()

    def _dir(self, kind: str) -> Path:
        return store_dir(self.index_root, self.encoder.model_key, kind)

    def _stamp(self, kind: str) -> int:
        if self.pgvector:
            return self.store(kind).stamp()
        manifest = self._dir(kind) / MANIFEST_FILE
        return manifest.stat().st_mtime_ns if manifest.exists() else 0

    def store(self, kind: str) -> FaissStore:
        """This kind's store, reloaded when another process saved a newer one."""
        with self._lock:
            if self.pgvector:
                return self._pg_store(kind)
            stamp = self._stamp(kind)
            cached = self._stores.get(kind)
            if cached and cached[0] == stamp:
                return cached[1]
            enc = self.encoder
            store = (FaissStore.load(self._dir(kind), model_key=enc.model_key, dim=enc.dim) if stamp
                     else build_vector_store("faiss", dim=enc.dim, model_key=enc.model_key))
            self._stores[kind] = (stamp, store)
            return store

    def _pg_store(self, kind: str, session: Optional[Session] = None) -> Any:
        """pgvector: the readers' store (own connection), or one writing in the session's transaction."""
        enc = self.encoder
        kw = dict(dim=enc.dim, model_key=enc.model_key, name=table_name(kind, enc.model_key))
        if session is not None:
            return build_vector_store("pgvector", connection=session.connection().connection.driver_connection, **kw)
        cached = self._stores.get(kind)
        if cached is not None and cached[1].connection_lost():  # the server restarted: open a new one
            cached[1].close()
            cached = None
        if cached is None:
            cached = self._stores[kind] = (0, build_vector_store("pgvector", conninfo=self.conninfo, **kw))
        return cached[1]

    def _writer(self, kind: str, session: Session) -> Any:
        return self._pg_store(kind, session) if self.pgvector else self.store(kind)

    def _save(self, kind: str, store: FaissStore) -> None:
        if self.pgvector:
            return  # rows are durable when the session commits
        store.save(self._dir(kind))
        self._stores[kind] = (self._stamp(kind), store)

    def sync(self, session: Session, kinds: Optional[list[str]] = None,
             progress: Optional[Progress] = None) -> SyncReport:
        """Encode what is missing or stale and make each index hold exactly the published listings."""
        with self._sync_lock:  # syncs one after another, so a later one's view of the database is applied last
            return self._sync(session, kinds, progress)

    def _sync(self, session: Session, kinds: Optional[list[str]], progress: Optional[Progress] = None) -> SyncReport:
        report = SyncReport()
        for kind in kinds or KINDS:
            # encoding (seconds for an import) runs outside self._lock: match pages of this process read the
            # stores and matchers under it, and the embedded job consumer runs index.sync in web processes
            docs = published_docs(session, kind)
            have = stored_vectors(session, kind, self.encoder.model_key)
            vectors, fresh = refresh_vectors(session, self.encoder, kind, docs, have, progress)
            with self._lock:
                store = self._writer(kind, session)
                in_store = set(store.ids().tolist())
                extra = in_store - set(docs)
                changed = sorted(i for i in docs if i not in in_store or i in fresh)
                if extra:
                    store.remove(sorted(extra))
                if changed:
                    store.upsert(changed, [vectors[i] for i in changed])
                if extra or changed or not self._stamp(kind):
                    self._save(kind, store)
                report.encoded[kind] = len(fresh)
                report.added[kind], report.removed[kind] = len(changed), len(extra)
        if any(report.added.values()) or any(report.removed.values()):
            self._index_changed(session)  # outside self._lock: a Redis that does not answer holds no page up
        return report

    def _index_changed(self, session: Session) -> None:
        """Cached match pages follow the index: faiss files are written now, pgvector rows when the session
        commits (so the bump waits for that commit; before it, a page would be stored under the new version)."""
        if self.pgvector:
            self.pages.watcher.note(session, "index")
        else:
            self.pages.bump()

    def rebuild(self, session: Session, progress: Optional[Progress] = None) -> SyncReport:
        """Throw the index away and build it again from stored vectors (encoding only what is missing)."""
        with self._sync_lock, self._lock:
            enc = self.encoder
            report = SyncReport()
            for kind in KINDS:
                docs = published_docs(session, kind)
                have = stored_vectors(session, kind, enc.model_key)
                vectors, fresh = refresh_vectors(session, enc, kind, docs, have, progress)
                if self.pgvector:
                    self._writer(kind, session).drop()
                store = self._writer(kind, session) if self.pgvector else \
                    build_vector_store("faiss", dim=enc.dim, model_key=enc.model_key)
                if docs:
                    ids = sorted(docs)
                    store.upsert(ids, [vectors[i] for i in ids])
                self._save(kind, store)
                report.added[kind], report.encoded[kind] = len(docs), len(fresh)
        # always: a rebuilt pgvector table counts its stamp from the start again, so old stamps come back
        self._index_changed(session)
        return report

    def check(self, session: Session) -> SyncReport:
        """Compare the index with the database without changing anything."""
        report = SyncReport()
        for kind in KINDS:
            docs = published_docs(session, kind)
            have = stored_vectors(session, kind, self.encoder.model_key)
            in_store = set(self.store(kind).ids().tolist())
            report.missing[kind] = len(set(docs) - in_store)
            report.extra[kind] = len(in_store - set(docs))
            report.stale[kind] = sum(1 for i, d in docs.items() if i not in have or have[i][0] != _sha(d))
        return report

    def stamp(self, kind: str) -> int:
        """The index's current stamp for this kind (0: none yet): a page cached on it follows every index write."""
        with self._lock:
            return self._stamp(kind)

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        """stamp() of each kind; pgvector: in one query."""
        with self._lock:
            if not self.pgvector:
                return [self._stamp(kind) for kind in kinds]
            stores = [self.store(kind) for kind in kinds]
            found = stores[0].stamps([store.name for store in stores])
            return [found[store.name] for store in stores]

    def serving(self, kind: str) -> int:
        """The stamp of the matcher this process serves this kind from (0: none built yet)."""
        return self._matchers.get(kind, (0,))[0]

    def matcher(self, kind: str, session: Session) -> HybridMatcher:
        """A matcher over the published listings of a kind. When the index changed it is rebuilt now (the first
        one, or MATCHER_REFRESH=inline) or in a background thread while the previous one keeps serving."""
        with self._lock:
            cached = self._matchers.get(kind)
            if cached and cached[0] == self._stamp(kind):  # faiss: the manifest's mtime; no index load here
                return cached[1]
            if cached is None or not self.refresh_background:
                self._matchers[kind] = self._build_matcher(kind, session, cached)
                return self._matchers[kind][1]
        self._refresh_later(kind)
        return cached[1]

    def _build_matcher(self, kind: str, session: Session,
                       previous: Optional[tuple[int, HybridMatcher]]) -> tuple[int, HybridMatcher]:
        """(stamp, matcher) over the listings published and in the store now; its lexical index starts from
        the previous matcher's, else from the snapshot on disk, so only new or changed texts are tokenised."""
        with self._lock:
            store = self.store(kind)
            stamp = self._stamp(kind) if self.pgvector else self._stores[kind][0]
        in_store = set(store.ids().tolist())  # one query, not one per listing (pgvector)
        docs = {i: d for i, d in published_docs(session, kind).items() if i in in_store}
        ids = sorted(docs)
        lexical = self._lexical(kind, ids, [docs[i].embed_text() for i in ids],
                                previous[1].lexical if previous else None)
        calib = self.calibration
        if calib.model and calib.model != _calibration.model_name(self.encoder.model_key):
            log.warning("the score calibration %s was fit with %s, not %s: scores and bands are not calibrated for "
                        "this model; refit with `flask matches calibrate`", calib.source, calib.model,
                        self.encoder.model_key)
        return stamp, HybridMatcher(self.encoder, store, lexical, docs, calibration=calib)

    @property
    def calibration(self) -> _calibration.Calibration:
        """The score calibration; a refit file (`flask matches calibrate`) is picked up within a second."""
        seen_at, mtime = self._calibration_seen
        now = time.monotonic()
        if now - seen_at >= 1.0:
            path = calibration_path(self._config)  # a first refit appears, or a refit is removed
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

    def _lexical(self, kind: str, ids: list[int], texts: list[str], previous: Optional[LexicalIndex]) -> LexicalIndex:
        """The lexical index over these texts; the snapshot (a cache: deleting it is safe) is read when this
        process has no index yet and written when it was missing or out of date."""
        folder = self._dir(kind) / LEXICAL_DIR
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
                    if current is not None and current[0] == self._stamp(kind):
                        return
                with self.factory() as session:
                    built = self._build_matcher(kind, session, current)
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

    def find_matches(self, session: Session, item: Demand | Achievement, k: int = 10) -> list[MatchView]:
        """Ranked counterparts of a listing: published, not from the listing's own organisation.

        The matcher holds only published listings (as of its index stamp), so the hard filter is the few
        counterparts of the listing's own owner or organisation, not a set of every allowed id; results,
        cached or fresh, are re-checked against the database (published, not the own side) every time."""
        other = "achievement" if item.kind == "demand" else "demand"
        if not _any_published(session, other):
            return []
        matcher = self.matcher(other, session)
        key = self._cache_key("match", other, item, k)
        cached = self.cache.get(key) if key else None
        if cached is not None:
            matches = [Match(**m) for m in cached]
        else:
            doc = to_doc(item)
            matches = matcher.match(doc, k=k, query_vec=self._query_vec(doc), title_vec=self._title_vec(doc),
                                    excluded_ids=_own_side_ids(session, other, item))
            if key:
                self.cache.set(key, [asdict(m) for m in matches])
        return _recheck(session, other, matches, item)

    def score_pairs(self, session: Session, item: Demand | Achievement, ids: list[int]) -> list[MatchView]:
        """Given published counterparts of a listing, scored and explained exactly as its match page ranks them
        (the judged evaluation); ids not published or not indexed are left out."""
        other = "achievement" if item.kind == "demand" else "demand"
        if not ids or not _any_published(session, other):
            return []
        doc = to_doc(item)
        matches = self.matcher(other, session).score_pairs(doc, ids, query_vec=self._query_vec(doc),
                                                           title_vec=self._title_vec(doc))
        return _recheck(session, other, matches)

    def pair_features(self, session: Session, item: Demand | Achievement, ids: list[int]) -> tuple[list[int], dict,
                                                                                                   np.ndarray]:
        """The calibration's features of given counterparts (ids found, text features, structured score)."""
        other = "achievement" if item.kind == "demand" else "demand"
        if not ids or not _any_published(session, other):
            return [], {}, np.zeros(0)
        doc = to_doc(item)
        return self.matcher(other, session).features(doc, ids, query_vec=self._query_vec(doc),
                                                     title_vec=self._title_vec(doc))

    def search_text(self, session: Session, kind: str, text: str, lexical_ids: Optional[Sequence[int]],
                    admit: Callable[[list[int]], set[int]],
                    passing: Callable[[], Optional[set[int]]] = lambda: None) -> list[tuple[int, float]]:
        """Published listings of a kind ranked for free text by the hybrid engine, as (id, calibrated score), best
        first: those holding a word of the query, and those close in meaning (score >= SEARCH_MIN_SCORE).
        lexical_ids: what the database's full-text index found among the listings passing the page's filters;
        admit(ids): those of ids that pass the filters (the dense side's nearest, checked in one query).
        lexical_ids None (a query of words most listings hold, which the index would have to rank by the
        thousand): the engine picks its own candidates among passing() (None: every listing)."""
        text = text.strip()
        if not text or not _any_published(session, kind):
            return []
        matcher = self.matcher(kind, session)
        qvec = self._search_vec(text)
        query = Listing(0, "demand" if kind == "achievement" else "achievement", "", text)  # no title: "text"
        if lexical_ids is None:
            ranked, _terms = matcher.rank(query, k=SEARCH_DEPTH, allowed_ids=passing(), query_vec=qvec)
        else:
            allowed = set(lexical_ids) | admit(matcher.nearest(kind, qvec, SEARCH_DENSE))
            if not allowed:
                return []
            ranked, _terms = matcher.rank(query, k=len(allowed), allowed_ids=allowed, query_vec=qvec)
        return [(r.id, r.score) for r in ranked if r.lexical > 0 or r.score >= SEARCH_MIN_SCORE]

    def word_shares(self, session: Session, kind: str, words: Sequence[str]) -> Optional[list[float]]:
        """The share of published listings of a kind holding each word, from its matcher (the one the search ranks
        with right after: asking it first keeps the first search of a process the same as every later one)."""
        if not words or not _any_published(session, kind):
            return None
        return self.matcher(kind, session).lexical.doc_shares(words)

    def _search_vec(self, text: str) -> Any:
        """A search query's embedding: kept in a small LRU of its own, never in the shared cache, so anonymous
        queries neither fill the cache for a month nor push out the listings' vectors."""
        key = hashlib.sha256(text.encode()).hexdigest()
        with self._qvec_lock:
            vec = self._search_vecs.get(key)
            if vec is not None:
                self._search_vecs.move_to_end(key)
                return vec
        vec = self.encoder.encode_queries([text])[0]
        with self._qvec_lock:
            self._search_vecs[key] = vec
            while len(self._search_vecs) > SEARCH_LRU:
                self._search_vecs.popitem(last=False)
        return vec

    def remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A derived figure (a roadshow's coverage) memoised in this process, keyed by everything it depends on,
        the index stamps and the calibration included by the caller; the oldest of MEMO_SIZE entries go first."""
        with self._qvec_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._qvec_lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def query_vectors(self, doc: Any) -> tuple[Any, Any]:
        """(text, title) query embeddings of a listing's engine view, from the caches when there: what
        HybridMatcher.rank takes as query_vec and title_vec."""
        return self._query_vec(doc), self._title_vec(doc)

    def _title_vec(self, doc: Any) -> Any:
        """The listing title's query embedding (the calibration compares it with each counterpart)."""
        title = doc.title.strip()
        return self._encode_query(title, f"title:{hashlib.sha256(title.encode()).hexdigest()}") if title else None

    def _query_vec(self, doc: Any) -> Any:
        """The listing's query embedding (see _encode_query)."""
        return self._encode_query(doc.embed_text(), _sha(doc))

    def _encode_query(self, text: str, digest: str) -> Any:
        """A query embedding. Encoding is most of an uncached match page's time (~30-250 ms on one CPU thread),
        and a vector depends only on (model, exact text): kept in this process (LRU) and in the shared cache,
        so a text is encoded once per process at most, once per cluster with CACHE_URL=redis."""
        enc = self.encoder
        key = f"techmatch:qvec:v1:{enc.model_key}:{digest}"
        with self._qvec_lock:
            vec = self._qvecs.get(key)
            if vec is not None:
                self._qvecs.move_to_end(key)
                return vec
        hit = self.cache.get(key)
        if hit is not None:
            vec = np.asarray(hit, dtype=np.float32)
        else:
            vec = enc.encode_queries([text])[0]
            self.cache.set(key, [float(x) for x in vec], ttl=QVEC_TTL)  # keyed by content: never stale
        with self._qvec_lock:
            self._qvecs[key] = vec
            while len(self._qvecs) > QVEC_LRU:
                self._qvecs.popitem(last=False)
        return vec

    def _cache_key(self, what: str, other: str, item: Demand | Achievement, k: int,
                   shared: bool = True) -> Optional[str]:
        """Everything a result depends on: the listing's full engine view (text and structured fields), its
        owner and organisation, the model, the counterpart index's stamp and k; None when not cacheable
        (shared=False: a key for this process's memo, which needs no shared store)."""
        stamp = self._matchers.get(other, (0,))[0]
        if not stamp or (shared and isinstance(self.cache, NoCache)):
            return None
        doc = doc_fingerprint(item)[:32]
        calib = hashlib.sha256(self.calibration_ident.encode()).hexdigest()[:12]
        return (f"techmatch:{what}:v2:{item.kind}:{item.id}:{doc}:{item.owner_id}:{item.organisation_id}:"
                f"{self.encoder.model_key}:{calib}:{other}@{stamp}:{k}")

    def similar(self, session: Session, item: Demand | Achievement, k: int = 5) -> list[MatchView]:
        """Published listings of the same kind that look like this one (possible duplicates)."""
        # the engine drops the listing itself after retrieval; _recheck drops anything unpublished since
        if not _any_published(session, item.kind, but=item.id):
            return []
        matcher = self.matcher(item.kind, session)
        key = self._cache_key("similar", item.kind, item, k) if item.id is not None else None

        def compute() -> list[Match]:
            cached = self.cache.get(key) if key else None
            if cached is not None:
                return [Match(**m) for m in cached]
            found = matcher.similar(to_doc(item), k=k)
            if key:
                self.cache.set(key, [asdict(m) for m in found])
            return found

        # once per listing change and index change in this process, not once per view: the key names the
        # listing's fingerprint and the index stamp (a new near-duplicate changes the stamp)
        memo = self._cache_key("similar", item.kind, item, k, shared=False) if item.id is not None else None
        matches = self.remember(("similar", memo), compute) if memo else compute()
        return _recheck(session, item.kind, [m for m in matches if m.id != item.id])


def calibration_path(config: Mapping[str, Any]) -> Path:
    """CALIBRATION_FILE when set; else the instance's refit (`flask matches calibrate`) when there; else the
    calibration shipped with the engine."""
    if config.get("CALIBRATION_FILE"):
        return Path(config["CALIBRATION_FILE"])
    refit = Path(config.get("INSTANCE_DIR") or "instance") / "calibration.json"
    return refit if refit.exists() else _calibration.SHIPPED


def _load_calibration(path: Path) -> _calibration.Calibration:
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


def sync_items(session: Session, changed: set[tuple[str, int]]) -> list[tuple[str, int, str]]:
    """(kind, id, text hash of a published listing, or "-" for one that must leave the index), sorted."""
    items = []
    for kind in sorted({k for k, _ in changed}):
        ids = sorted(i for k, i in changed if k == kind)
        model = MODELS[kind]
        rows = {r.id: r for r in session.scalars(select(model).where(model.id.in_(ids)))}
        for i in ids:
            row = rows.get(i)
            published = row is not None and row.status == Status.PUBLISHED.value
            items.append((kind, i, _sha(to_doc(row)) if published else "-"))
    return items


def submit_sync_job(session: Session, changed: set[tuple[str, int]], model_ident: str) -> Job:
    """An index.sync job keyed by (listings, their text hashes, model). While such a job is queued or running,
    or is done and no index.sync job came after it, the same key returns it: a repeat is a no-op."""
    items = sync_items(session, changed)
    digest = hashlib.sha256(repr((model_ident, items)).encode()).hexdigest()
    key = f"{SYNC_JOB}:{digest}"
    holder = session.scalar(select(Job).where(Job.key == key))
    if holder is not None and holder.status == JobStatus.DONE.value:
        latest = session.scalar(select(func.max(Job.id)).where(Job.kind == SYNC_JOB))
        if holder.id != latest:  # the index changed since: the same state must be synced again
            holder.key = None
            session.flush()
    return jobs.submit_job(session, SYNC_JOB, None, {"kinds": sorted({k for k, _, _ in items}),
                                                     "listings": len(items)}, key=key, reuse_done=True)


@jobs.handler(SYNC_JOB)
def _sync_job(session: Session, job: Job, progress: jobs.Progress) -> dict:
    """Bring the index up to date for these kinds: encode what is stale, add and remove what changed."""
    progress(0, 1)
    report = _RUNTIMES[session.get_bind()].sync(session, kinds=list(job.params["kinds"]))
    return {"encoded": report.encoded, "added": report.added, "removed": report.removed}


def _any_published(session: Session, kind: str, but: Optional[int] = None) -> bool:
    """One row is enough: no matcher is built over an empty set."""
    model = MODELS[kind]
    stmt = select(model.id).where(model.status == Status.PUBLISHED.value)
    if but is not None:
        stmt = stmt.where(model.id != but)
    return session.scalar(stmt.limit(1)) is not None


def _own_side_ids(session: Session, kind: str, item: Demand | Achievement) -> set[int]:
    """Counterparts never suggested: those of the listing's own owner or organisation."""
    model = MODELS[kind]
    own = model.owner_id == item.owner_id
    if item.organisation_id is not None:
        own = or_(own, model.organisation_id == item.organisation_id)
    return set(session.scalars(select(model.id).where(own)))


def _recheck(session: Session, kind: str, matches: list[Match],
             item: Optional[Demand | Achievement] = None) -> list[MatchView]:
    """Results are re-read from the database so nothing unpublished since indexing (or, for a listing's
    matches, from its own owner or organisation) is shown."""
    model = MODELS[kind]
    # the pages show each result's organisation and field: joined into the one query, not two per result
    stmt = select(model).where(model.id.in_([m.id for m in matches]), model.status == Status.PUBLISHED.value) \
        .options(joinedload(model.organisation), joinedload(model.field))  # one round trip
    if item is not None:
        stmt = stmt.where(model.owner_id != item.owner_id)
        if item.organisation_id is not None:
            stmt = stmt.where(or_(model.organisation_id.is_(None), model.organisation_id != item.organisation_id))
    rows = {r.id: r for r in session.scalars(stmt)}
    return [MatchView(rows[m.id], m) for m in matches if m.id in rows]
