"""Keeps the vector index consistent with the database: vectors stored per (listing, model, text hash),
the faiss index derived from them, updated after commit and repairable with `flask index`."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from matchmaking.documents import Listing as Doc
from models import Achievement, Demand, ListingVector, Status, utcnow

from . import regions
from .commits import CommitWatcher

log = logging.getLogger(__name__)
MODELS = {"demand": Demand, "achievement": Achievement}
# which kind a listing of each kind is matched against
COUNTERPART = {"demand": "achievement", "achievement": "demand"}


def to_doc(item: Demand | Achievement) -> Doc:
    """The engine's view of a listing: no contact details ever."""
    common = dict(id=item.id, kind=item.kind, title=item.title, body=item.body,
                  keywords=tuple(item.keyword_list), field=item.field.code if item.field else None,
                  region=item.region, modes=frozenset(item.modes), region_path=regions.path_of(item))
    if item.kind == "demand":
        return Doc(**common, trl=item.min_trl, budget_min=item.budget_min, budget_max=item.budget_max)
    return Doc(**common, trl=item.trl, price=item.price, negotiable=bool(item.negotiable))


def doc_fingerprint(item: Demand | Achievement) -> str:
    """SHA-256 of the listing's full engine view, the same in every process (a set's repr follows the process's
    string hashing, so the modes are sorted): for cache keys shared by workers."""
    fields = dataclasses.asdict(to_doc(item))
    fields["modes"] = sorted(fields["modes"])
    return hashlib.sha256(repr(sorted(fields.items())).encode("utf-8")).hexdigest()


def text_sha256(doc: Doc) -> str:
    """Hash of exactly the text that gets embedded."""
    return hashlib.sha256(doc.embed_text().encode("utf-8")).hexdigest()


def store_dir(index_root: str | Path, model_key: str, kind: str) -> Path:
    """Folder of one kind's index under one model; models never share a folder."""
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in model_key)
    return Path(index_root) / safe / kind


@dataclass
class SyncReport:
    """What a sync or check found and did, per kind."""

    encoded: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        """True when the index holds exactly the published listings with fresh vectors."""
        return not any(sum(d.values()) for d in (self.missing, self.extra, self.stale))


def published_docs(session: Session, kind: str) -> dict[int, Doc]:
    """Engine documents of every published listing of a kind."""
    model = MODELS[kind]
    # the field is loaded with the rows (one more query), not one query per listing when to_doc reads it
    stmt = select(model).where(model.status == Status.PUBLISHED.value).options(selectinload(model.field))
    return {i.id: to_doc(i) for i in session.scalars(stmt)}


def stored_vectors(session: Session, kind: str, model_key: str) -> dict[int, tuple[str, np.ndarray]]:
    """entity id -> (text hash, vector) of a kind under a model."""
    rows = session.execute(select(ListingVector.entity_id, ListingVector.text_sha256, ListingVector.vector)
                           .where(ListingVector.entity_type == kind, ListingVector.model_key == model_key))
    return {eid: (sha, np.frombuffer(blob, dtype=np.float32)) for eid, sha, blob in rows}


# listings encoded per call of the encoder when a sync reports progress (each call batches and parallelises inside)
ENCODE_CHUNK = 64
Progress = Callable[[str, int, int], None]  # (kind, encoded so far, to encode)


def refresh_vectors(session: Session, encoder: Any, kind: str, docs: dict[int, Doc],
                    have: dict[int, tuple[str, np.ndarray]],
                    progress: Optional[Progress] = None) -> tuple[dict[int, np.ndarray], set[int]]:
    """Encode docs whose stored vector is missing or stale and store them; every doc's vector, and the new ones.
    ``progress`` (kind, done, total) is called after each chunk of ENCODE_CHUNK listings."""
    todo = [d for d in docs.values() if d.id not in have or have[d.id][0] != text_sha256(d)]
    vectors = {i: v for i, (_, v) in have.items() if i in docs}
    step = ENCODE_CHUNK if progress else max(1, len(todo))
    if progress and todo:
        progress(kind, 0, len(todo))
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        for doc, vec in zip(chunk, encoder.encode_passages([d.embed_text() for d in chunk])):
            _upsert_vector(session, kind, doc, encoder.model_key, np.asarray(vec, dtype=np.float32))
            vectors[doc.id] = np.asarray(vec, dtype=np.float32)
        session.flush()
        if progress:
            progress(kind, start + len(chunk), len(todo))
    return vectors, {d.id for d in todo}


def _upsert_vector(session: Session, kind: str, doc: Doc, model_key: str, vec: np.ndarray) -> None:
    """One statement, so two writers of the same listing (a request's after-commit sync and `flask index sync`,
    or the background thread and the seed) do not both insert: the later one overwrites."""
    values = dict(entity_type=kind, entity_id=doc.id, model_key=model_key, text_sha256=text_sha256(doc),
                  dim=int(vec.shape[0]), vector=vec.tobytes(), updated_at=utcnow())
    # the two databases the platform runs on, each with its own INSERT .. ON CONFLICT
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
    stmt = insert(ListingVector).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["entity_type", "entity_id", "model_key"],
        set_={c: stmt.excluded[c] for c in ("text_sha256", "dim", "vector", "updated_at")}))


def delete_vectors(session: Session, kind: str, ids: Iterable[int]) -> None:
    """Forget vectors of deleted listings."""
    session.execute(delete(ListingVector).where(ListingVector.entity_type == kind,
                                                ListingVector.entity_id.in_(list(ids))))


class ChangeTracker(CommitWatcher):
    """Collects listings changed in a transaction and hands them over only after a successful commit."""

    def __init__(self, on_commit: Callable[[set[tuple[str, int]]], None]) -> None:
        super().__init__("listings_changed", _listing_key, on_commit,
                         "index update after commit failed; `flask index sync` will catch up")


def _listing_key(obj: Any) -> tuple[tuple[str, int], ...]:
    return ((obj.kind, obj.id),) if isinstance(obj, (Demand, Achievement)) and obj.id is not None else ()


class BackgroundWorker:
    """One daemon thread that runs index jobs in order, so requests never wait for encoding."""

    def __init__(self, job: Callable[[set[tuple[str, int]]], None]) -> None:
        self._job = job
        self._queue: "queue.Queue[set[tuple[str, int]]]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def submit(self, changed: set[tuple[str, int]]) -> None:
        """Queue a job; starts the thread on first use."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="index-worker", daemon=True)
                self._thread.start()
        self._queue.put(changed)

    def _run(self) -> None:
        while True:
            changed = self._queue.get()
            try:
                self._job(changed)
            except Exception:
                log.exception("background index job failed; `flask index sync` will catch up")
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued job is done (CLI, tests)."""
        self._queue.join()
