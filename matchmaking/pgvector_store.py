"""Vector store in PostgreSQL (pgvector): the FaissStore interface over one table per model and kind.

Uses psycopg directly (no SQLAlchemy), so matchmaking/ stays a library (ARCHITECTURE.md). The caller may
hand in its own connection: then writes join the caller's transaction and the caller commits; with a
conninfo string the store owns a connection and commits each write itself.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from matchmaking.vectorstore import (HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, IndexCorruptError,
                                     IndexMismatchError, _as_matrix, ids_sha256,
                                     upsert_arrays)

META_TABLE = "vector_store_meta"
# pgvector's default: an iterative scan gives up after this many tuples (then exact search takes over)
MAX_SCAN_TUPLES = 20_000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def table_name(kind: str, model_key: str) -> str:
    """Store name for a listing kind and model key (a safe SQL identifier, one table per pair)."""
    slug = re.sub(r"[^a-z0-9]+", "_", model_key.lower()).strip("_")[-24:] or "default"
    return f"{kind}_{slug}"


def _literal(row: np.ndarray) -> str:
    return "[" + ",".join(repr(float(v)) for v in row) + "]"


class PgVectorStore:
    """Inner-product store of L2-normalised vectors in a pgvector table with an HNSW index."""

    kind = "pgvector-hnsw"

    def __init__(
        self,
        dim: int,
        model_key: str = "",
        *,
        conninfo: str | None = None,
        connection: Any = None,
        name: str = "default",
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
        create: bool = True,
    ) -> None:
        import psycopg

        if not _NAME.match(name):
            raise ValueError(f"bad vector store name {name!r} (lower-case letters, digits, _)")
        if (conninfo is None) == (connection is None):
            raise ValueError("give exactly one of conninfo or connection")
        self.dim, self.model_key, self.name = dim, model_key, name
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._owns = connection is None
        self._conn = psycopg.connect(conninfo, autocommit=True) if self._owns else connection
        self._table = f"vec_{name}"
        self._lock = threading.RLock()  # one transaction at a time on a connection shared by threads
        try:
            self._open(create)
        except BaseException:
            self.close()
            raise

    @classmethod
    def load(cls, *, model_key: str, dim: int, **kw: Any) -> PgVectorStore:
        """Open an existing store, refusing one built by another model or dimension."""
        return cls(dim, model_key, create=False, **kw)

    def connection_lost(self) -> bool:
        """True when the store's own connection was closed or broken (a server restart): open a new store."""
        return bool(self._owns and (self._conn.closed or self._conn.broken))

    def close(self) -> None:
        """Close the connection if the store opened it."""
        if self._owns:
            self._conn.close()

    # -- schema ------------------------------------------------------------------------------
    def _open(self, create: bool) -> None:
        with self._tx() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            if cur.fetchone() is None:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            version = cur.fetchone()[0]
            if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < (0, 8):
                raise RuntimeError(f"pgvector {version} lacks iterative index scans; "
                                   "upgrade it to 0.8 or later (ALTER EXTENSION vector UPDATE)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name text PRIMARY KEY, model_key text "
                        "NOT NULL, dim integer NOT NULL, version bigint NOT NULL DEFAULT 0, "
                        "created_at timestamptz NOT NULL DEFAULT now())")
            cur.execute(f"SELECT model_key, dim FROM {META_TABLE} WHERE name = %s", (self.name,))
            row = cur.fetchone()
            if row is not None and (row[0], row[1]) != (self.model_key, self.dim):
                raise IndexMismatchError(
                    f"vector table {self._table} was built with model {row[0]!r} (dim {row[1]}), but the "
                    f"configured model is {self.model_key!r} (dim {self.dim}); run `flask index rebuild` "
                    "to re-index with the configured model")
            if row is None and not create:
                raise IndexCorruptError(f"no vector table {self._table}; run `flask index rebuild`")
            if row is None:
                cur.execute(f"INSERT INTO {META_TABLE} (name, model_key, dim) VALUES (%s, %s, %s)",
                            (self.name, self.model_key, self.dim))
                cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} "
                            f"(id bigint PRIMARY KEY, embedding vector({int(self.dim)}) NOT NULL)")
                # vectors are L2-normalised and scored by inner product, as in FaissStore (IndexFlatIP)
                cur.execute(f"CREATE INDEX IF NOT EXISTS {self._table}_hnsw ON {self._table} USING hnsw "
                            f"(embedding vector_ip_ops) WITH (m = {int(self.m)}, "
                            f"ef_construction = {int(self.ef_construction)})")

    def _tx(self) -> Any:
        """A cursor inside a transaction (a savepoint in the caller's transaction when it owns it)."""
        return _Tx(self._conn, self._lock)

    def drop(self) -> None:
        """Remove the table and its registration (before a rebuild with another model)."""
        with self._tx() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._table}")
            cur.execute(f"DELETE FROM {META_TABLE} WHERE name = %s", (self.name,))

    # -- public API (as FaissStore) --------------------------------------------------------------
    def __len__(self) -> int:
        with self._tx() as cur:
            cur.execute(f"SELECT count(*) FROM {self._table}")
            return int(cur.fetchone()[0])

    def ids(self) -> np.ndarray:
        """Ids currently stored (sorted)."""
        with self._tx() as cur:
            cur.execute(f"SELECT id FROM {self._table} ORDER BY id")
            return np.asarray([r[0] for r in cur.fetchall()], dtype=np.int64)

    def __contains__(self, doc_id: int) -> bool:
        with self._tx() as cur:
            cur.execute(f"SELECT 1 FROM {self._table} WHERE id = %s", (int(doc_id),))
            return cur.fetchone() is not None

    def upsert(self, ids: Iterable[int], vecs: Any) -> None:
        """Insert or replace vectors for ids."""
        id_arr, mat = upsert_arrays(ids, vecs, self.dim)
        if not len(id_arr):
            return
        with self._tx() as cur:
            cur.execute(f"INSERT INTO {self._table} (id, embedding) "
                        "SELECT * FROM unnest(%s::bigint[], %s::text[]::vector[]) "
                        "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding",
                        (id_arr.tolist(), [_literal(r) for r in mat]))
            self._bump(cur)

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids (unknown ids are ignored)."""
        with self._tx() as cur:
            cur.execute(f"DELETE FROM {self._table} WHERE id = ANY(%s::bigint[])", ([int(i) for i in ids],))
            if cur.rowcount:
                self._bump(cur)

    def _bump(self, cur: Any) -> None:
        # written in the same transaction as the rows, so readers' caches see both or neither
        cur.execute(f"UPDATE {META_TABLE} SET version = version + 1 WHERE name = %s", (self.name,))

    def stamp(self) -> int:
        """A number that changes with every committed write (for caches built on the contents)."""
        return self.stamps([self.name])[self.name]

    def stamps(self, names: list[str]) -> dict[str, int]:
        """stamp() of this and other stores in the same database, by name, in one statement (0: no such store)."""
        sql = f"SELECT name, version FROM {META_TABLE} WHERE name = ANY(%s)"
        if self._owns:  # one statement on the readers' autocommit connection: no BEGIN/COMMIT round trips
            with self._lock, self._conn.cursor() as cur:  # (asked on every match page, docs/capacity.md)
                rows = cur.execute(sql, (list(names),)).fetchall()
        else:
            with self._tx() as cur:
                cur.execute(sql, (list(names),))
                rows = cur.fetchall()
        found = {name: int(version) + 1 for name, version in rows}
        return {name: found.get(name, 0) for name in names}

    def rebuild(self, kind: str | None = None) -> None:
        """Rebuild the HNSW index (compacts deleted entries)."""
        with self._tx() as cur:
            cur.execute(f"REINDEX INDEX {self._table}_hnsw")

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors for ids, in the given order (zero rows for unknown ids)."""
        id_list = [int(i) for i in ids]
        out = np.zeros((len(id_list), self.dim), dtype=np.float32)
        with self._tx() as cur:
            # binary results: pgvector sends int16 dim, int16 unused, then dim big-endian float4 — read with
            # numpy, ~10x faster than parsing the text of 384 floats per row (docs/capacity.md)
            cur.execute(f"SELECT id, embedding FROM {self._table} WHERE id = ANY(%s::bigint[])", (id_list,),
                        binary=True)
            found = {r[0]: r[1] for r in cur.fetchall()}
        for row, i in enumerate(id_list):
            if i in found:
                out[row] = _from_binary(found[i], self.dim)
        return out

    def search(
        self, qvec: Any, k: int = 10, allowed_ids: Iterable[int] | None = None, *, ef_search: int | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, inner product); with allowed_ids only those, and k of them when k exist. ef_search: the
        HNSW breadth for this search instead of the store's (at least k)."""
        q = _literal(_as_matrix(qvec, self.dim)[0])
        allowed = None if allowed_ids is None else [int(i) for i in allowed_ids]
        if allowed is not None and not allowed:
            return []
        hits = self._search(q, k, allowed, exact=False, ef=ef_search or self.ef_search)
        # fewer than k: the iterative scan hit max_scan_tuples (finish exactly), or fewer exist. The table is
        # counted only then: a count of 90k rows costs more than the index search it would check (7 ms)
        if len(hits) < k and len(hits) < (len(allowed) if allowed is not None else len(self)):
            hits = self._search(q, k, allowed, exact=True, ef=ef_search or self.ef_search)
        return hits

    def _search(self, q: str, k: int, allowed: list[int] | None, *, exact: bool, ef: int
                ) -> list[tuple[int, float]]:
        where = "" if allowed is None else "WHERE id = ANY(%(allowed)s::bigint[])"
        with self._tx() as cur:
            # SET LOCAL ends with this transaction (or savepoint's enclosing transaction)
            cur.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                        "set_config('hnsw.iterative_scan', 'strict_order', true), "
                        "set_config('hnsw.max_scan_tuples', %s, true)",
                        (str(min(max(ef, k), 1000)), str(MAX_SCAN_TUPLES)))
            if exact:
                cur.execute("SELECT set_config('enable_indexscan', 'off', true)")
            # <#> is the negative inner product: ascending order is descending similarity
            cur.execute(f"SELECT id, -(embedding <#> %(q)s::vector) FROM {self._table} {where} "
                        "ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s",
                        {"q": q, "k": int(k), "allowed": allowed})
            rows = cur.fetchall()
            if exact:
                cur.execute("SELECT set_config('enable_indexscan', 'on', true)")
        return [(int(i), float(s)) for i, s in rows]

    # -- persistence -------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The manifest describing the current contents (same keys as FaissStore's that apply)."""
        ids = self.ids()
        return {"model_key": self.model_key, "dim": self.dim, "count": int(len(ids)),
                "ids_sha256": ids_sha256(ids), "kind": self.kind, "table": self._table,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def save(self, directory: Any = None) -> None:
        """Nothing to write: rows are durable when the transaction that wrote them commits."""
        return None


def _from_binary(data: bytes, dim: int) -> np.ndarray:
    """A vector in pgvector's binary format (int16 dim, int16 unused, dim big-endian float4)."""
    n = int.from_bytes(data[:2], "big")
    if n != dim:
        raise IndexCorruptError(f"stored vector has {n} dimensions, expected {dim}; run `flask index rebuild`")
    return np.frombuffer(data, dtype=">f4", count=n, offset=4)


class _Tx:
    """Own connection: a transaction committed at the end. Caller's connection: a savepoint in its
    transaction, so an error in the store rolls back only the store's statements and the caller commits."""

    def __init__(self, conn: Any, lock: Any) -> None:
        self._conn, self._lock = conn, lock
        self._ctx: Any = None

    def __enter__(self) -> Any:
        self._lock.acquire()
        try:
            self._ctx = self._conn.transaction()
            self._ctx.__enter__()
        except BaseException:
            self._lock.release()
            raise
        self._cur = self._conn.cursor()
        return self._cur

    def __exit__(self, *exc: Any) -> Any:
        try:
            self._cur.close()
            return self._ctx.__exit__(*exc)
        finally:
            self._lock.release()


class PgVectorShelf:
    """Each kind's PgVectorStore in a table of the platform's database (table_name(kind, model_key)). Readers
    share one store per kind on their own autocommit connection (reopened after a server restart); writers
    join the caller's transaction, so the rows commit, or roll back, with the listings that changed."""

    in_transaction = True

    def __init__(self, database_url: str, model: Callable[[], tuple[str, int]]) -> None:
        if not database_url.startswith("postgresql"):
            raise ValueError("VECTOR_STORE=pgvector needs a PostgreSQL DATABASE_URL")
        # the readers' own connection (psycopg conninfo: the SQLAlchemy URL without its driver name)
        self.conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
        self.model = model
        self._lock = threading.RLock()
        self._readers: dict[str, PgVectorStore] = {}

    def _store(self, kind: str, **kw: Any) -> PgVectorStore:
        model_key, dim = self.model()
        return PgVectorStore(dim, model_key, name=table_name(kind, model_key), **kw)

    def _reader(self, kind: str) -> PgVectorStore:
        with self._lock:
            store = self._readers.get(kind)
            if store is not None and store.connection_lost():  # the server restarted: open a new one
                store.close()
                store = None
            if store is None:
                store = self._readers[kind] = self._store(kind, conninfo=self.conninfo)
            return store

    def stamp(self, kind: str) -> int:
        return self._reader(kind).stamp()

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        stores = [self._reader(kind) for kind in kinds]
        found = stores[0].stamps([store.name for store in stores])
        return [found[store.name] for store in stores]

    def current(self, kind: str) -> tuple[int, PgVectorStore]:
        store = self._reader(kind)
        return store.stamp(), store

    def writer(self, kind: str, connection: Any) -> PgVectorStore:
        return self._store(kind, connection=connection())

    def fresh(self, kind: str, connection: Any) -> PgVectorStore:
        self.writer(kind, connection).drop()
        return self.writer(kind, connection)

    def saved(self, kind: str, store: Any) -> None:
        """Nothing to write: the rows are durable when the caller's transaction commits."""

    def close(self) -> None:
        with self._lock:
            for store in self._readers.values():
                store.close()
            self._readers.clear()
