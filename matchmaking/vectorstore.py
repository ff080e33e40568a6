"""Vector store keyed by database ids: faiss IndexIDMap2 over exact inner product or HNSW."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import faiss
import numpy as np

from matchmaking.errors import MatchingUnavailable

# Measured in docs/benchmarks.md: one exact query scans n x dim floats; at 384 dims on this 2-core box
# it takes ~1 ms at 20k vectors but ~11 ms at 50k (out of cache), while HNSW stays ~1 ms at 100k.
HNSW_THRESHOLD = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256  # recall@10 vs exact at 1M listings: docs/benchmarks.md
# Below this share of allowed rows, a filtered HNSW walk wastes most of its visits: scan exactly.
EXACT_FILTER_SHARE = 0.05
INDEX_FILE = "index.faiss"
DELETED_FILE = "deleted.npy"
MANIFEST_FILE = "manifest.json"
FORMAT = 2  # 2: data files are named in the manifest (crash-safe saves); 1 still loads


class IndexMismatchError(MatchingUnavailable):
    """The stored index was built by another model (or dimension) than the configured one."""


class IndexCorruptError(MatchingUnavailable):
    """The stored index and its manifest disagree, or a file is missing or unreadable."""


def ids_sha256(ids: Iterable[int]) -> str:
    """sha256 of the sorted ids as little-endian int64 (the manifest's id-set fingerprint)."""
    arr = np.sort(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype="<i8"))
    return hashlib.sha256(arr.tobytes()).hexdigest()


@contextmanager
def _one_omp_thread() -> Iterator[None]:
    """Run a single-query search on one OpenMP thread.

    On a shared 2-core machine a second OpenMP thread waits for a busy core: a 10k flat search went
    from 0.4 ms to 24 ms p50 with two threads (docs/benchmarks.md).
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def upsert_arrays(ids: Iterable[int], vecs: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids (int64) and vectors (float32 rows of dim) of one upsert, checked: same length, no duplicate id."""
    id_arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
    mat = _as_matrix(vecs, dim)
    if len(id_arr) != len(mat):
        raise ValueError("ids and vectors differ in length")
    if len(np.unique(id_arr)) != len(id_arr):
        raise ValueError("duplicate ids in one upsert")
    return id_arr, mat


def _as_matrix(vecs: Any, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(vecs, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {arr.shape}")
    return arr


class FaissStore:
    """Inner-product store of L2-normalised vectors; exact below hnsw_threshold, HNSW above it."""

    def __init__(
        self,
        dim: int,
        model_key: str = "",
        *,
        hnsw_threshold: int = HNSW_THRESHOLD,
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> None:
        self.dim = dim
        self.model_key = model_key
        self.hnsw_threshold = hnsw_threshold
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._index = self._new_index("flat")
        self._deleted: set[int] = set()  # HNSW cannot remove: tombstoned labels
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}

    # -- structure -------------------------------------------------------------------------
    def _new_index(self, kind: str) -> faiss.IndexIDMap2:
        if kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        hnsw = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        hnsw.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(hnsw)

    @property
    def kind(self) -> str:
        """'flat' (exact) or 'hnsw'."""
        return "hnsw" if isinstance(self._inner, faiss.IndexHNSW) else "flat"

    @property
    def _inner(self) -> faiss.Index:
        return faiss.downcast_index(self._index.index)

    def _xb(self) -> np.ndarray:
        """Zero-copy view of the stored vectors by internal row."""
        inner = self._inner
        flat = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        n = self._index.ntotal
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim) if n else \
            np.zeros((0, self.dim), np.float32)

    def _labels(self) -> np.ndarray:
        if "labels" not in self._cache:
            self._cache["labels"] = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return self._cache["labels"]

    def _alive(self) -> np.ndarray:
        """Per internal row: the row is the latest entry of its label and the label is not deleted."""
        if "alive" not in self._cache:
            labels = self._labels()
            alive = np.zeros(len(labels), dtype=bool)
            _, last_rev = np.unique(labels[::-1], return_index=True)
            alive[len(labels) - 1 - last_rev] = True
            if self._deleted:
                alive &= ~np.isin(labels, np.fromiter(self._deleted, np.int64))
            self._cache["alive"] = alive
        return self._cache["alive"]

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """Live labels sorted, with their internal rows (for id -> row look-ups)."""
        if "sorted" not in self._cache:
            rows = np.flatnonzero(self._alive())
            labels = self._labels()[rows]
            order = np.argsort(labels, kind="stable")
            self._cache["sorted"] = (labels[order], rows[order])
        return self._cache["sorted"]

    def _rows_of(self, ids: Iterable[int]) -> np.ndarray:
        want = np.fromiter((int(i) for i in ids), dtype=np.int64)
        labels, rows = self._sorted()
        pos = np.searchsorted(labels, want)
        pos = np.clip(pos, 0, max(len(labels) - 1, 0))
        hit = (labels[pos] == want) if len(labels) else np.zeros(len(want), bool)
        return rows[pos[hit]]

    def _changed(self) -> None:
        self._cache.clear()

    # -- public API --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._alive().sum())

    def ids(self) -> np.ndarray:
        """Ids currently stored (sorted)."""
        with self._lock:
            return self._sorted()[0].copy()

    def __contains__(self, doc_id: int) -> bool:
        return len(self._rows_of([doc_id])) == 1

    def upsert(self, ids: Iterable[int], vecs: Any) -> None:
        """Insert or replace vectors for ids; switches to HNSW when the size passes the threshold."""
        id_arr, mat = upsert_arrays(ids, vecs, self.dim)
        with self._lock:
            if self.kind == "flat":
                self._index.remove_ids(faiss.IDSelectorBatch(id_arr))
            self._deleted.difference_update(id_arr.tolist())
            self._index.add_with_ids(mat, id_arr)
            self._changed()
            self._maybe_rebuild()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids (unknown ids are ignored)."""
        id_arr = np.asarray(list(ids), dtype=np.int64)
        with self._lock:
            if self.kind == "flat":
                self._index.remove_ids(faiss.IDSelectorBatch(id_arr))
            else:
                self._deleted.update(int(i) for i in id_arr if i in self)
            self._changed()
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        live = len(self)
        want = "hnsw" if live >= self.hnsw_threshold else "flat"
        dead = self._index.ntotal - live
        if want != self.kind or dead > max(1000, live // 5):
            self.rebuild(want)

    def rebuild(self, kind: str | None = None) -> None:
        """Rebuild the faiss index from the live vectors (compacts HNSW tombstones)."""
        with self._lock:
            labels, rows = self._sorted()
            vecs = self._xb()[rows].copy()
            self._index = self._new_index(kind or self.kind)
            if len(labels):
                self._index.add_with_ids(vecs, labels)
            self._deleted.clear()
            self._changed()

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors for ids, in the given order (zero rows for unknown ids)."""
        id_list = [int(i) for i in ids]
        with self._lock:
            labels, rows = self._sorted()
            out = np.zeros((len(id_list), self.dim), dtype=np.float32)
            if not len(labels):
                return out
            want = np.asarray(id_list, dtype=np.int64)
            pos = np.clip(np.searchsorted(labels, want), 0, len(labels) - 1)
            hit = labels[pos] == want
            out[hit] = self._xb()[rows[pos[hit]]]
            return out

    def search(
        self, qvec: Any, k: int = 10, allowed_ids: Iterable[int] | None = None, *, ef_search: int | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, inner product); with allowed_ids only those, and k of them when k exist. ef_search: the
        HNSW breadth of an unfiltered search instead of the store's (at least k)."""
        q = _as_matrix(qvec, self.dim)[:1]
        with self._lock, _one_omp_thread():
            if allowed_ids is None:
                return self._search_all(q, k, ef_search or self.ef_search)
            rows = self._rows_of(allowed_ids)
            if not len(rows):
                return []
            if self.kind == "hnsw" and len(rows) >= EXACT_FILTER_SHARE * len(self):
                hits = self._search_rows_hnsw(q, k, rows)
                if len(hits) >= min(k, len(rows)):
                    return hits
            return self._exact_rows(q, k, rows)

    def _search_all(self, q: np.ndarray, k: int, ef: int) -> list[tuple[int, float]]:
        n_live = len(self)
        if not n_live:
            return []
        if self._index.ntotal == n_live:
            params = faiss.SearchParametersHNSW(efSearch=max(ef, k)) \
                if self.kind == "hnsw" else None
            dist, idx = self._inner.search(q, min(k, n_live), params=params)
            return self._pairs(dist[0], idx[0])
        return self._search_rows_hnsw(q, k, np.flatnonzero(self._alive()))

    def _search_rows_hnsw(self, q: np.ndarray, k: int, rows: np.ndarray) -> list[tuple[int, float]]:
        bitmap = np.zeros(self._index.ntotal, dtype=bool)
        bitmap[rows] = True
        packed = np.packbits(bitmap, bitorder="little")  # must outlive the search call
        sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(packed))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, 2 * k))
        dist, idx = self._inner.search(q, min(k, len(rows)), params=params)
        return self._pairs(dist[0], idx[0])

    def _exact_rows(self, q: np.ndarray, k: int, rows: np.ndarray) -> list[tuple[int, float]]:
        scores = self._xb()[rows] @ q[0]
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        labels = self._labels()
        return [(int(labels[rows[t]]), float(scores[t])) for t in top]

    def _pairs(self, dist: np.ndarray, idx: np.ndarray) -> list[tuple[int, float]]:
        labels = self._labels()
        return [(int(labels[i]), float(d)) for d, i in zip(dist, idx) if i >= 0]

    # -- persistence -------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The manifest describing the current contents."""
        ids = self.ids()
        return {
            "format": FORMAT,
            "model_key": self.model_key,
            "dim": self.dim,
            "count": int(len(ids)),
            "ids_sha256": ids_sha256(ids),
            "kind": self.kind,
            "ntotal": int(self._index.ntotal),
            "deleted": len(self._deleted),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Crash-safe save: index and tombstones go to new, uniquely named files; the manifest that names
        them is replaced last (os.replace), so a kill at any point leaves the old or the new version.
        Files no manifest names any more are removed afterwards; a lock file serialises writers."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        with self._lock, _dir_lock(root):
            manifest = self.manifest()
            token = f"{time.time_ns():x}-{os.getpid()}"
            index_name, deleted_name = f"index-{token}.faiss", f"deleted-{token}.npy"
            _atomic_write(root / index_name, lambda p: faiss.write_index(self._index, p))
            deleted = np.asarray(sorted(self._deleted), dtype=np.int64)
            _atomic_write(root / deleted_name, lambda p: _save_npy(p, deleted))
            manifest.update(index_file=index_name, deleted_file=deleted_name,
                            index_bytes=(root / index_name).stat().st_size)
            data = json.dumps(manifest, indent=2).encode()
            _fsync_dir(root)  # the new files' names are durable before the manifest points at them
            _atomic_write(root / MANIFEST_FILE, lambda p: Path(p).write_bytes(data))
            _fsync_dir(root)
            _remove_unreferenced(root, {index_name, deleted_name})
        return root

    @classmethod
    def load(cls, directory: str | os.PathLike, *, model_key: str, dim: int, **kw: Any) -> FaissStore:
        """Load a saved store, checking it against the configured model and its own manifest."""
        root = Path(directory)
        for attempt in range(3):
            manifest = _read_manifest(root)
            if manifest.get("model_key") != model_key or manifest.get("dim") != dim:
                raise IndexMismatchError(
                    f"vector index in {root} was built with model {manifest.get('model_key')!r} "
                    f"(dim {manifest.get('dim')}), but the configured model is {model_key!r} (dim {dim}); "
                    "run `flask index rebuild` to re-index with the configured model"
                )
            try:
                index, deleted = _read_index(root, manifest), _read_deleted(root, manifest)
                break
            except _Superseded:
                # a concurrent save replaced the manifest and removed the files it named: read again
                if attempt == 2:
                    raise IndexCorruptError(f"vector index in {root} keeps changing; try again") from None
        store = cls(dim, model_key, **kw)
        store._index = index
        store._deleted = set(deleted.tolist())
        store._changed()
        store._check(root, manifest)
        return store

    def _check(self, root: Path, manifest: dict) -> None:
        problems = []
        if self._index.d != self.dim:
            problems.append(f"index dimension {self._index.d} != manifest {self.dim}")
        ids = self.ids()
        if len(ids) != manifest.get("count"):
            problems.append(f"index holds {len(ids)} ids, manifest says {manifest.get('count')}")
        elif ids_sha256(ids) != manifest.get("ids_sha256"):
            problems.append("id set differs from the manifest's hash")
        if problems:
            raise IndexCorruptError(f"vector index in {root} is inconsistent ({'; '.join(problems)}); "
                                    "run `flask index rebuild`")


def _atomic_write(target: Path, write: Any) -> None:
    """Write via a temp file in the same folder, then os.replace (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_npy(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:  # np.save(path) would append ".npy" to the temp name
        np.save(fh, arr)


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise IndexCorruptError(f"no manifest in {root}; run `flask index rebuild`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable manifest {path} ({exc}); run `flask index rebuild`") from exc
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"malformed manifest {path}; run `flask index rebuild`")
    return manifest


class _Superseded(Exception):
    """The file a manifest named is gone because a newer manifest replaced it meanwhile."""


def _named(root: Path, manifest: dict, key: str, legacy: str) -> Path:
    """The file the manifest names (format-1 manifests without names use the fixed legacy name)."""
    name = manifest.get(key) or legacy
    if "/" in name or "\\" in name or name.startswith("."):
        raise IndexCorruptError(f"manifest in {root} names a bad file {name!r}; run `flask index rebuild`")
    return root / name


def _gone_since(root: Path, manifest: dict, path: Path) -> bool:
    """True if the file is missing only because the manifest changed after it was read."""
    try:
        return not path.is_file() and _read_manifest(root) != manifest
    except IndexCorruptError:
        return False


def _read_index(root: Path, manifest: dict) -> faiss.IndexIDMap2:
    path = _named(root, manifest, "index_file", INDEX_FILE)
    if not path.is_file():
        if _gone_since(root, manifest, path):
            raise _Superseded()
        raise IndexCorruptError(f"manifest present but {path} is missing; run `flask index rebuild`")
    if manifest.get("index_bytes") not in (None, path.stat().st_size):
        raise IndexCorruptError(f"{path} size differs from its manifest; run `flask index rebuild`")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        if _gone_since(root, manifest, path):
            raise _Superseded() from exc
        raise IndexCorruptError(f"cannot read {path} ({exc}); run `flask index rebuild`") from exc
    if not isinstance(index, faiss.IndexIDMap2):
        raise IndexCorruptError(f"{path} is not an id-mapped index; run `flask index rebuild`")
    return index


def _read_deleted(root: Path, manifest: dict) -> np.ndarray:
    path = _named(root, manifest, "deleted_file", DELETED_FILE)
    if not path.is_file():
        if manifest.get("deleted_file") and _gone_since(root, manifest, path):
            raise _Superseded()
        if manifest.get("deleted_file"):
            raise IndexCorruptError(f"manifest present but {path} is missing; run `flask index rebuild`")
        return np.zeros(0, np.int64)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable {path} ({exc}); run `flask index rebuild`") from exc


@contextmanager
def _dir_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the index folder across processes (released by the OS if the holder dies)."""
    import fcntl

    with open(root / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _fsync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_unreferenced(root: Path, keep: set[str]) -> None:
    """Delete data files the current manifest does not name, and temp files of writers that died."""
    for path in root.iterdir():
        name = path.name
        data = (name.startswith("index-") and name.endswith(".faiss")) or \
            (name.startswith("deleted-") and name.endswith(".npy")) or name in (INDEX_FILE, DELETED_FILE)
        if (data and name not in keep) or (name.startswith(".") and name.endswith(".tmp")):
            path.unlink(missing_ok=True)


@runtime_checkable
class VectorStore(Protocol):
    """What the engine needs of a store of L2-normalised vectors keyed by listing id (FaissStore, PgVectorStore)."""

    dim: int
    model_key: str

    def __len__(self) -> int: ...
    def __contains__(self, doc_id: int) -> bool: ...
    def ids(self) -> np.ndarray: ...
    def upsert(self, ids: Iterable[int], vecs: Any) -> None: ...
    def remove(self, ids: Iterable[int]) -> None: ...
    def vectors(self, ids: Iterable[int]) -> np.ndarray: ...
    def search(self, qvec: Any, k: int = 10, allowed_ids: Iterable[int] | None = None, *,
               ef_search: int | None = None) -> list[tuple[int, float]]: ...
    def manifest(self) -> dict: ...


class VectorShelf(Protocol):
    """Where each listing kind's store lives for one model, and how its writes become durable. The runtime
    (services/matching) talks only to this; each backend keeps what differs inside its own shelf.

    in_transaction: True when a writer's rows become durable with the caller's database transaction (pgvector);
    False when a writer's changes are durable once saved() wrote them (faiss files)."""

    in_transaction: bool

    def stamp(self, kind: str) -> int:
        """A number that changes with every durable write of this kind's store (0: no store yet)."""
    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        """stamp() of each kind (in one round trip where the backend can)."""
    def current(self, kind: str) -> tuple[int, VectorStore]:
        """(stamp, store) for readers of this process: the store as of that stamp, reloaded when it moved."""
    def writer(self, kind: str, connection: Callable[[], Any]) -> VectorStore:
        """A store to write this kind's vectors through; connection() gives the caller's DB-API connection
        (called only by a backend that writes in the caller's transaction)."""
    def fresh(self, kind: str, connection: Callable[[], Any]) -> VectorStore:
        """An empty store for this kind replacing the old one (a rebuild), written as writer() writes."""
    def saved(self, kind: str, store: VectorStore) -> None:
        """Make a writer's changes durable and visible to readers (faiss: write the files)."""
    def close(self) -> None:
        """Let go of what this process holds (files' stores, connections): the next read opens them anew."""


class FaissShelf:
    """Each kind's FaissStore in a folder (directory(kind)); its stamp is the manifest's mtime, so a save by
    another process is seen by the next read. Readers and the writer share one in-memory store per kind.
    model() gives the configured (model_key, dim), asked when a store is first needed (the model loads lazily)."""

    in_transaction = False

    def __init__(self, directory: Callable[[str], Path], model: Callable[[], tuple[str, int]]) -> None:
        self.directory, self.model = directory, model
        self._lock = threading.RLock()
        self._stores: dict[str, tuple[int, FaissStore]] = {}

    def stamp(self, kind: str) -> int:
        manifest = self.directory(kind) / MANIFEST_FILE
        try:
            return manifest.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        return [self.stamp(kind) for kind in kinds]

    def current(self, kind: str) -> tuple[int, FaissStore]:
        with self._lock:
            stamp = self.stamp(kind)
            cached = self._stores.get(kind)
            if cached and cached[0] == stamp:
                return cached
            model_key, dim = self.model()
            store = (FaissStore.load(self.directory(kind), model_key=model_key, dim=dim) if stamp
                     else FaissStore(dim, model_key))
            self._stores[kind] = (stamp, store)
            return self._stores[kind]

    def writer(self, kind: str, connection: Callable[[], Any]) -> FaissStore:
        return self.current(kind)[1]

    def fresh(self, kind: str, connection: Callable[[], Any]) -> FaissStore:
        model_key, dim = self.model()
        return FaissStore(dim, model_key)

    def saved(self, kind: str, store: VectorStore) -> None:
        with self._lock:
            store.save(self.directory(kind))  # type: ignore[attr-defined]
            self._stores[kind] = (self.stamp(kind), store)  # type: ignore[assignment]

    def close(self) -> None:
        with self._lock:
            self._stores.clear()
