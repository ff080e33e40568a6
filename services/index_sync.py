"""Keeping the vector index equal to the published listings: after each commit that touched listings (now, as
an index.sync job, or in this process's background worker), in the listing's own transaction where the store
writes in it (pgvector), and on demand (`flask index sync / rebuild / check`)."""
from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Callable, Mapping, Optional

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from matchmaking.vectorstore import VectorShelf
from models import Job, JobStatus, Status

from . import jobs
from .indexing import (MODELS, BackgroundWorker, ChangeTracker, Progress, SyncReport, published_docs,
                       refresh_vectors, stored_vectors, text_sha256, to_doc)
from .pagecache import PageCache

log = logging.getLogger("services.matching")
KINDS = tuple(MODELS)  # the listing kinds with an index each
SYNC_JOB = "index.sync"


class IndexSync:
    """encoder() and shelf are the runtime's; lock is the runtime's lock over stores and matchers (encoding,
    seconds for an import, runs outside it); pages are bumped when the index changed."""

    def __init__(self, config: Mapping[str, Any], factory: sessionmaker, *, encoder: Callable[[], Any],
                 shelf: VectorShelf, lock: threading.RLock, pages: PageCache,
                 model_ident: Callable[[], str]) -> None:
        self.factory, self.encoder, self.shelf, self._lock, self.pages = factory, encoder, shelf, lock, pages
        self.model_ident = model_ident
        self.inline = config.get("INDEX_SYNC") == "inline"
        self._sync_lock = threading.RLock()  # index writes (sync, rebuild): one at a time
        self.worker = BackgroundWorker(self._job)
        self._queue: Optional[Any] = None
        self._write_factory: Optional[Callable[[], Session]] = None
        ChangeTracker(self.on_commit).install(factory)
        if shelf.in_transaction:  # the store writes in the listing's transaction: index before that commit
            event.listen(factory, "before_commit", self._before_commit)

    def use_queue(self, queue: Any, write_factory: Callable[[], Session]) -> None:
        """Send index updates after commit as index.sync jobs through this queue (JOBS_MODE=queue)."""
        self._queue, self._write_factory = queue, write_factory

    def on_commit(self, changed: set[tuple[str, int]]) -> None:
        """After a commit that touched listings: update the index now (inline), as a job, or in the worker."""
        if self.inline:
            self._job(changed)
        elif self._queue is not None:
            self._submit(changed)
        else:
            self.worker.submit(changed)

    def _submit(self, changed: set[tuple[str, int]]) -> None:
        with self._write_factory() as session:  # its own transaction: the user's save is committed already
            job = submit_sync_job(session, changed, self.model_ident())
            session.commit()
            job_id, queued = job.id, job.status == JobStatus.QUEUED.value
        if queued:
            self._queue.enqueue(job_id)

    def _before_commit(self, session: Session) -> None:
        """Index the changed listings in their own transaction (database and index commit together)."""
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

    def sync(self, session: Session, kinds: Optional[list[str]] = None,
             progress: Optional[Progress] = None) -> SyncReport:
        """Encode what is missing or stale and make each index hold exactly the published listings."""
        with self._sync_lock:  # syncs one after another, so a later one's view of the database is applied last
            return self._sync(session, kinds, progress)

    def _sync(self, session: Session, kinds: Optional[list[str]], progress: Optional[Progress] = None) -> SyncReport:
        report = SyncReport()
        shelf, connection = self.shelf, _connection(session)
        for kind in kinds or KINDS:
            # encoding (seconds for an import) runs outside self._lock: match pages of this process read the
            # stores and matchers under it, and the embedded job consumer runs index.sync in web processes
            docs = published_docs(session, kind)
            have = stored_vectors(session, kind, self.encoder().model_key)
            vectors, fresh = refresh_vectors(session, self.encoder(), kind, docs, have, progress)
            with self._lock:
                store = shelf.writer(kind, connection)
                in_store = set(store.ids().tolist())
                extra = in_store - set(docs)
                changed = sorted(i for i in docs if i not in in_store or i in fresh)
                if extra:
                    store.remove(sorted(extra))
                if changed:
                    store.upsert(changed, [vectors[i] for i in changed])
                if extra or changed or not shelf.stamp(kind):
                    shelf.saved(kind, store)
                report.encoded[kind] = len(fresh)
                report.added[kind], report.removed[kind] = len(changed), len(extra)
        if any(report.added.values()) or any(report.removed.values()):
            self._index_changed(session)  # outside self._lock: a Redis that does not answer holds no page up
        return report

    def _index_changed(self, session: Session) -> None:
        """Cached match pages follow the index: saved files are visible now, rows written in the session's
        transaction when it commits (so the bump waits for that commit; before it, a page would be stored under
        the new version)."""
        if self.shelf.in_transaction:
            self.pages.watcher.note(session, "index")
        else:
            self.pages.bump()

    def rebuild(self, session: Session, progress: Optional[Progress] = None) -> SyncReport:
        """Throw the index away and build it again from stored vectors (encoding only what is missing)."""
        with self._sync_lock, self._lock:
            enc, shelf = self.encoder(), self.shelf
            report = SyncReport()
            for kind in KINDS:
                docs = published_docs(session, kind)
                have = stored_vectors(session, kind, enc.model_key)
                vectors, fresh = refresh_vectors(session, enc, kind, docs, have, progress)
                store = shelf.fresh(kind, _connection(session))
                if docs:
                    ids = sorted(docs)
                    store.upsert(ids, [vectors[i] for i in ids])
                shelf.saved(kind, store)
                report.added[kind], report.encoded[kind] = len(docs), len(fresh)
        # always: a rebuilt pgvector table counts its stamp from the start again, so old stamps come back
        self._index_changed(session)
        return report

    def check(self, session: Session) -> SyncReport:
        """Compare the index with the database without changing anything."""
        report = SyncReport()
        for kind in KINDS:
            docs = published_docs(session, kind)
            have = stored_vectors(session, kind, self.encoder().model_key)
            in_store = set(self.shelf.current(kind)[1].ids().tolist())
            report.missing[kind] = len(set(docs) - in_store)
            report.extra[kind] = len(in_store - set(docs))
            report.stale[kind] = sum(1 for i, d in docs.items() if i not in have or have[i][0] != text_sha256(d))
        return report


def _connection(session: Session) -> Callable[[], Any]:
    """The session's DB-API connection, asked for only by a store that writes in the session's transaction
    (asking begins that transaction)."""
    return lambda: session.connection().connection.driver_connection


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
            items.append((kind, i, text_sha256(to_doc(row)) if published else "-"))
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
def _sync_job(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Bring the index up to date for these kinds: encode what is stale, add and remove what changed."""
    progress(0, 1)
    report = ctx.need("matching").sync(session, kinds=list(job.params["kinds"]))
    return {"encoded": report.encoded, "added": report.added, "removed": report.removed}
