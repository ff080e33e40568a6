"""Ranked, explained matches between demands and achievements, served from the engine's indexes.

MatchingRuntime is a small facade over parts with one job each: the vector shelf (matchmaking.vectorstore:
where each kind's store lives, faiss files or pgvector tables), IndexSync (services/index_sync: the index
follows the published listings), MatcherSet (services/matchers: the matchers served, refreshed in the
background, and the calibration), QueryVectors (services/query_vectors) and ResultCache
(services/result_cache). No part branches on the store backend: what differs lives in each shelf."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from matchmaking import calibration as _calibration
from matchmaking.documents import Listing
from matchmaking.encoders import ModelNotReady, build_encoder, resolve_setup
from matchmaking.engine import HybridMatcher, Match, highlight
from matchmaking.errors import MatchingUnavailable
from matchmaking.stores import build_shelf
from matchmaking.vectorstore import IndexCorruptError, IndexMismatchError, VectorStore
from matchmaking.versions import ModelVersions
from models import Achievement, Demand, Status

from .index_sync import KINDS, SYNC_JOB, IndexSync, submit_sync_job, sync_items
from .indexing import COUNTERPART, MODELS, Progress, SyncReport, store_dir, to_doc
from .matchers import LEXICAL_DIR, MatcherSet, calibration_path
from .query_vectors import QueryVectors
from .result_cache import ResultCache

# what web/ catches and uses of the engine, from here (web reaches matchmaking only through services)
__all__ = ["MatchingRuntime", "MatchView", "MatchingUnavailable", "ModelNotReady", "IndexMismatchError",
           "IndexCorruptError", "highlight", "calibration_path", "submit_sync_job", "sync_items", "SYNC_JOB",
           "LEXICAL_DIR", "KINDS", "SEARCH_DEPTH"]

log = logging.getLogger(__name__)
SEARCH_DEPTH = 300  # a search ranks this many listings at most (15 pages of 20): the full-text index's best
SEARCH_DENSE = 40  # and the nearest in meaning, whatever their words (those passing the filters): 2 pages
# HNSW breadth of that search. The stores' 256 keeps recall@10 at 1M listings for match pages; a search's 40 are one
# side of its candidates. At 100k on pgvector (docs/capacity.md, session 18): ef 256 found 99.6% of the exact 40 in
# 24.7 ms, ef 100 99.1% in 12.2 ms, ef 64 98.3% in 8.8 ms; the exact top ten 100% / 99.5% / 99.5%
SEARCH_EF = 100
SEARCH_MIN_SCORE = 1.0  # a result with no word of the query is shown from this calibrated score (1%)


@dataclass
class MatchView:
    """A counterpart listing with the engine's explanation of why it matches."""

    listing: Demand | Achievement
    match: Match
    set_aside: bool = False  # its latest broker feedback says "not relevant": listed last, folded on pages


class MatchingRuntime:
    """Per-process holder of the encoder and the parts above; rebuilt from the database at will."""

    def __init__(self, config: Mapping[str, Any], factory: sessionmaker) -> None:
        self.configured_model = config["EMBEDDING_MODEL"]
        self.query_backend = config.get("EMBEDDING_QUERY_BACKEND") or "auto"
        self.setup = (config.get("EMBEDDING_BACKEND") or "auto", config.get("EMBEDDING_QUANTIZE", "auto"))
        # the configured model, or the adaptation of it that `flask model adapt|use|rollback` made serve
        self.versions = ModelVersions(Path(config.get("INSTANCE_DIR") or "instance") / "models")
        self._model_seen = (time.monotonic(), self.versions.stamp())
        self._use_model(self.versions.serving(self.configured_model))
        self.index_root = Path(config["INDEX_DIR"])
        # one torch thread per web process: two gave a long p95 tail under load (docs/benchmarks.md)
        self.threads = int(config.get("ENCODER_THREADS", 1)) or None
        self.parallel = max(1, int(config.get("ENCODER_PARALLEL", 1)))
        self.factory = factory
        self._lock = threading.RLock()  # the stores and matchers of this process
        encoder = lambda: self.encoder  # noqa: E731 - loaded on first use
        self.shelf = build_shelf(config.get("VECTOR_STORE", "faiss"), directory=self.index_dir,
                                 model=lambda: (self.encoder.model_key, self.encoder.dim),
                                 database_url=str(config["DATABASE_URL"]))
        self.results = ResultCache(config)
        self.pages = self.results.pages
        self.indexing = IndexSync(config, factory, encoder=encoder, shelf=self.shelf, lock=self._lock,
                                  pages=self.pages, model_ident=lambda: self.model_ident)
        self.pages.install(factory)
        self.matchers = MatcherSet(config, factory, encoder=encoder, shelf=self.shelf, lock=self._lock,
                                   directory=self.index_dir, model_folder=lambda: self.model_path)
        self.vectors = QueryVectors(encoder, self.results.cache)

    @property
    def cache(self) -> Any:
        """The shared cache of results and query vectors (CACHE_URL)."""
        return self.results.cache

    @cache.setter
    def cache(self, cache: Any) -> None:  # one store for both: results and query vectors
        self.results.cache = self.vectors.cache = cache

    def _use_model(self, path: str) -> None:
        self.model_path = path
        # "auto" resolved once per model, on this CPU (encoders.resolve_setup): bf16 torch, else int8 ONNX passages
        self.backend, self.quantize = resolve_setup(path, *self.setup)
        # the serving model (path and quantisation): part of an index.sync job's key and of cached pages' keys
        self.model_ident = f"{Path(path).expanduser()}|{self.backend}|{self.quantize or 'fp32'}"

    def follow_model(self, force: bool = False) -> None:
        """Serve the model version another process switched to (`flask model use|rollback`, an adaptation
        activated): looked at most once a second (force: now); the stores and matchers of the old model are let go."""
        seen_at, stamp = self._model_seen
        now = time.monotonic()
        if now - seen_at < 1.0 and not force:
            return
        current = self.versions.stamp()
        self._model_seen = (now, current)
        if current == stamp:
            return
        path = self.versions.serving(self.configured_model)
        if path != self.model_path:
            log.info("model version switched: %s -> %s", self.model_path, path)
            with self._lock:
                self._use_model(path)
                self.matchers.forget()
                self.shelf.close()

    @property
    def encoder(self) -> Any:
        """The serving model's encoder (loaded once per process and model)."""
        self.follow_model()
        return build_encoder(self.model_path, quantize=self.quantize, threads=self.threads, backend=self.backend,
                             parallel=self.parallel, query_backend=self.query_backend)

    def index_dir(self, kind: str) -> Path:
        """This kind's index folder under the configured model (faiss files, the lexical snapshot)."""
        return store_dir(self.index_root, self.encoder.model_key, kind)

    # -- the index (services/index_sync) ---------------------------------------------------------
    @property
    def worker(self) -> Any:
        return self.indexing.worker

    @property
    def inline(self) -> bool:
        return self.indexing.inline

    def use_queue(self, queue: Any, write_factory: Callable[[], Session]) -> None:
        """Send index updates after commit as index.sync jobs through this queue (JOBS_MODE=queue)."""
        self.indexing.use_queue(queue, write_factory)

    def on_commit(self, changed: set[tuple[str, int]]) -> None:
        self.indexing.on_commit(changed)

    def sync(self, session: Session, kinds: Optional[list[str]] = None,
             progress: Optional[Progress] = None) -> SyncReport:
        """Encode what is missing or stale and make each index hold exactly the published listings."""
        return self.indexing.sync(session, kinds, progress)

    def rebuild(self, session: Session, progress: Optional[Progress] = None) -> SyncReport:
        """Throw the index away and build it again from stored vectors (encoding only what is missing)."""
        return self.indexing.rebuild(session, progress)

    def check(self, session: Session) -> SyncReport:
        """Compare the index with the database without changing anything."""
        return self.indexing.check(session)

    def store(self, kind: str) -> VectorStore:
        """This kind's store, reloaded when another process saved a newer one."""
        with self._lock:
            return self.shelf.current(kind)[1]

    def stamp(self, kind: str) -> int:
        """The index's current stamp for this kind (0: none yet): a page cached on it follows every index write."""
        with self._lock:
            return self.shelf.stamp(kind)

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        """stamp() of each kind (pgvector: in one query)."""
        with self._lock:
            return self.shelf.stamps(kinds)

    # -- matchers (services/matchers) ------------------------------------------------------------
    def matcher(self, kind: str, session: Session) -> HybridMatcher:
        """A matcher over the published listings of a kind (see MatcherSet.matcher)."""
        return self.matchers.matcher(kind, session)

    def serving(self, kind: str) -> int:
        """The stamp of the matcher this process serves this kind from (0: none built yet)."""
        return self.matchers.serving(kind)

    def wait_for_refresh(self, kind: str, timeout: Optional[float] = None) -> None:
        """Wait for this kind's background rebuild, if one runs (tests, CLI)."""
        self.matchers.wait_for_refresh(kind, timeout)

    def forget(self) -> None:
        """Let go of this process's stores and matchers: the next request loads and builds them as a new
        process would (tests; after a restore)."""
        with self._lock:
            self.matchers.forget()
            self.shelf.close()

    @property
    def calibration(self) -> _calibration.Calibration:
        """The score calibration; a refit file (`flask matches calibrate`) is picked up within a second."""
        return self.matchers.calibration

    @property
    def calibration_ident(self) -> str:
        """What the shown scores depend on besides the index and model: part of every cache key."""
        return self.matchers.calibration_ident

    @property
    def calibration_path(self) -> Path:
        return self.matchers.calibration_path

    # -- query vectors and caches ----------------------------------------------------------------
    def query_vectors(self, doc: Any) -> tuple[Any, Any]:
        """(text, title) query embeddings of a listing's engine view, from the caches when there: what
        HybridMatcher.rank takes as query_vec and title_vec."""
        return self.vectors.of(doc)

    def remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A derived figure (a roadshow's coverage) memoised in this process, keyed by everything it depends on,
        the index stamps and the calibration included by the caller."""
        return self.results.remember(key, compute)

    def _cache_key(self, what: str, other: str, item: Demand | Achievement, k: int,
                   shared: bool = True) -> Optional[str]:
        """The result cache's key for this answer, on the stamp of the matcher that answers (None: uncached)."""
        return self.results.key(what, other, item, k, stamp=self.matchers.serving(other),
                                model_key=self.encoder.model_key, calibration=self.calibration_ident,
                                shared=shared)

    def find_matches(self, session: Session, item: Demand | Achievement, k: int = 10) -> list[MatchView]:
        """Ranked counterparts of a listing: published, not from the listing's own organisation.

        The matcher holds only published listings (as of its index stamp), so the hard filter is the few
        counterparts of the listing's own owner or organisation, not a set of every allowed id; results,
        cached or fresh, are re-checked against the database (published, not the own side) every time."""
        other = COUNTERPART[item.kind]
        if not _any_published(session, other):
            return []
        matcher = self.matcher(other, session)
        key = self._cache_key("match", other, item, k)
        cached = self.cache.get(key) if key else None
        if cached is not None:
            matches = [Match(**m) for m in cached]
        else:
            doc = to_doc(item)
            matches = matcher.match(doc, k=k, query_vec=self.vectors.text(doc), title_vec=self.vectors.title(doc),
                                    excluded_ids=_own_side_ids(session, other, item))
            if key:
                self.cache.set(key, [asdict(m) for m in matches])
        return _recheck(session, other, matches, item)

    def score_pairs(self, session: Session, item: Demand | Achievement, ids: list[int]) -> list[MatchView]:
        """Given published counterparts of a listing, scored and explained exactly as its match page ranks them
        (the judged evaluation); ids not published or not indexed are left out."""
        other = COUNTERPART[item.kind]
        if not ids or not _any_published(session, other):
            return []
        doc = to_doc(item)
        matches = self.matcher(other, session).score_pairs(doc, ids, query_vec=self.vectors.text(doc),
                                                           title_vec=self.vectors.title(doc))
        return _recheck(session, other, matches)

    def pair_features(self, session: Session, item: Demand | Achievement, ids: list[int]) -> tuple[list[int], dict,
                                                                                                   np.ndarray]:
        """The calibration's features of given counterparts (ids found, text features, structured score)."""
        other = COUNTERPART[item.kind]
        if not ids or not _any_published(session, other):
            return [], {}, np.zeros(0)
        doc = to_doc(item)
        return self.matcher(other, session).features(doc, ids, query_vec=self.vectors.text(doc),
                                                     title_vec=self.vectors.title(doc))

    def search_text(self, session: Session, kind: str, text: str, lexical_ids: Optional[Sequence[int]],
                    admit: Callable[[list[int]], set[int]],
                    passing: Callable[[], Optional[set[int]]] = lambda: None) -> list[tuple[int, float]]:
        """Published listings of a kind ranked for free text by the hybrid engine, as (id, calibrated score), best
        first: those holding a word of the query, and those close in meaning (score >= SEARCH_MIN_SCORE).
        lexical_ids: what the database's full-text index found among the listings passing the page's filters, in
        any order (past SEARCH_DEPTH of them, the engine keeps its BM25's best, then the newest);
        admit(ids): those of ids that pass the filters (the dense side's nearest, checked in one query).
        lexical_ids None (a query of words most listings hold, which the index would have to rank by the
        thousand): the engine picks its own candidates among passing() (None: every listing)."""
        text = text.strip()
        if not text or not _any_published(session, kind):
            return []
        matcher = self.matcher(kind, session)
        qvec = self.vectors.search(text)
        query = Listing(0, COUNTERPART[kind], "", text)  # no title: "text"
        if lexical_ids is None:
            ranked, _terms = matcher.rank(query, k=SEARCH_DEPTH, allowed_ids=passing(), query_vec=qvec)
        else:
            if len(lexical_ids) > SEARCH_DEPTH:  # the engine's BM25 best, then the newest of the rest (a prefix
                terms = matcher.lexical.query_terms(query.embed_text())  # match the engine scores 0), every page alike
                best = [i for i, _ in matcher.lexical.search_terms(terms, SEARCH_DEPTH, set(lexical_ids))]
                lexical_ids = list(dict.fromkeys(best + sorted(lexical_ids, reverse=True)))[:SEARCH_DEPTH]
            allowed = set(lexical_ids) | admit(matcher.nearest(kind, qvec, SEARCH_DENSE, SEARCH_EF))
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
