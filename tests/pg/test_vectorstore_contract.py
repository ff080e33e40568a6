"""One contract, two stores: the same tests run against FaissStore and PgVectorStore (pgvector on the
tests/pg server; skipped with the reason when it cannot start, failed under CI)."""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import pytest

from matchmaking.pgvector_store import PgVectorStore
from matchmaking.vectorstore import FaissStore, IndexMismatchError

DIM = 16
_names = itertools.count(1)


def unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def pg_conninfo(pg_new_database: Callable[..., str]) -> str:
    """A psycopg conninfo for one empty database shared by this module's pgvector tests."""
    return pg_new_database().replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(params=["faiss", "pgvector"])
def backend(request, tmp_path):
    """(open_store(dim, model_key, **kw), reopen(store, dim, model_key)) for one backend."""
    opened: list = []
    if request.param == "faiss":
        def open_store(dim=DIM, model_key="m", **kw):
            return FaissStore(dim, model_key, **kw)

        def reopen(store, dim, model_key):
            store.save(tmp_path / "idx")
            return FaissStore.load(tmp_path / "idx", model_key=model_key, dim=dim)
    else:
        conninfo = request.getfixturevalue("pg_conninfo")
        name = f"contract_{next(_names)}"

        def open_store(dim=DIM, model_key="m", hnsw_threshold=None, **kw):
            s = PgVectorStore(dim, model_key, conninfo=conninfo, name=name, **kw)
            opened.append(s)
            return s

        def reopen(store, dim, model_key):
            s = PgVectorStore.load(model_key=model_key, dim=dim, conninfo=conninfo, name=store.name)
            opened.append(s)
            return s
    yield open_store, reopen
    for s in opened:
        s.close()


def test_upsert_replace_remove(backend):
    open_store, _ = backend
    s = open_store()
    x = unit(10)
    s.upsert(range(10), x)
    s.upsert([3], x[8:9])
    assert len(s) == 10 and set(dict(s.search(x[8], 2))) == {3, 8}
    np.testing.assert_allclose(s.vectors([3, 99]), np.vstack([x[8], np.zeros(DIM)]), atol=1e-6)
    s.remove([4, 99])
    assert 4 not in s and len(s) == 9 and s.search(x[4], 1)[0][0] != 4


def test_ids_equal_after_a_sequence(backend):
    open_store, _ = backend
    s = open_store()
    x = unit(40, seed=1)
    s.upsert(range(100, 130), x[:30])
    s.remove(range(100, 110))
    s.upsert(range(125, 135), x[30:])
    s.remove([134, 7])
    assert s.ids().tolist() == list(range(110, 134)) and s.ids().dtype == np.int64


def test_search_order_is_exact_inner_product_order(backend):
    open_store, _ = backend
    s = open_store()
    x, q = unit(200, seed=2), unit(5, seed=3)
    s.upsert(range(200), x)
    for qv in q:
        hits = s.search(qv, 10)
        exact = np.argsort(-(x @ qv), kind="stable")[:10]
        assert [i for i, _ in hits] == exact.tolist()
        np.testing.assert_allclose([sc for _, sc in hits], (x @ qv)[exact], atol=1e-5)


def test_search_breadth_can_be_set_per_search(backend):
    """ef_search for one search (a search page's narrower breadth): still k hits with their true scores, best
    first (an approximate search may miss some); at a breadth covering the table, the exact order."""
    open_store, _ = backend
    s = open_store()
    x, q = unit(300, seed=7), unit(3, seed=8)
    s.upsert(range(300), x)
    for qv in q:
        exact = np.argsort(-(x @ qv), kind="stable")[:10].tolist()
        narrow = s.search(qv, 10, ef_search=10)
        assert len(narrow) == 10
        np.testing.assert_allclose([sc for _, sc in narrow], [float(x[i] @ qv) for i, _ in narrow], atol=1e-5)
        assert [sc for _, sc in narrow] == sorted((sc for _, sc in narrow), reverse=True)
        assert [i for i, _ in s.search(qv, 10, ef_search=300)] == exact


def test_pgvector_search_uses_the_breadth_asked_for(pg_conninfo, monkeypatch):
    """The breadth reaches the HNSW scan's setting: the search's own when given, the store's otherwise."""
    s = PgVectorStore(DIM, "m", conninfo=pg_conninfo, name="breadth", ef_search=256)
    try:
        s.upsert(range(20), unit(20, seed=9))
        asked: list[int] = []
        real = PgVectorStore._search

        def spy(self, q, k, allowed, *, exact, ef):
            asked.append(ef)
            return real(self, q, k, allowed, exact=exact, ef=ef)
        monkeypatch.setattr(PgVectorStore, "_search", spy)
        s.search(unit(1, seed=10)[0], 5, ef_search=100)
        s.search(unit(1, seed=10)[0], 5)
        assert asked == [100, 256]
    finally:
        s.close()


def test_pgvector_search_counts_the_table_only_when_it_finds_fewer_than_k(pg_conninfo, monkeypatch):
    """Counting 90k rows took longer than the index search (7 ms at 100k): only a short answer is checked."""
    s = PgVectorStore(DIM, "m", conninfo=pg_conninfo, name="counted")
    try:
        x = unit(50, seed=6)
        s.upsert(range(50), x)
        counted: list[int] = []
        real_len = PgVectorStore.__len__
        monkeypatch.setattr(PgVectorStore, "__len__", lambda self: counted.append(1) or real_len(self))
        assert len(s.search(x[0], 10)) == 10 and counted == []
        assert sorted(i for i, _ in s.search(x[0], 80)) == list(range(50)) and counted == [1]
    finally:
        s.close()


def test_filtered_search_returns_k_when_most_rows_are_filtered_out(backend):
    open_store, _ = backend
    s = open_store(hnsw_threshold=100)
    x = unit(2000, seed=4)
    s.upsert(range(2000), x)
    allowed = set(range(0, 2000, 97))  # 21 of 2000 rows, scattered
    hits = s.search(x[500], 10, allowed_ids=allowed)
    assert len(hits) == 10 and {i for i, _ in hits} <= allowed
    exact = sorted(allowed, key=lambda i: -float(x[i] @ x[500]))[:10]
    assert [i for i, _ in hits] == exact
    assert len(s.search(x[500], 10, allowed_ids={1, 2})) == 2
    assert s.search(x[500], 10, allowed_ids=set()) == []


def test_wrong_dimension_vectors_refused(backend):
    open_store, _ = backend
    s = open_store()
    with pytest.raises(ValueError, match="dimension 16"):
        s.upsert([1], np.ones((1, DIM + 1), np.float32))
    with pytest.raises(ValueError, match="dimension 16"):
        s.search(np.ones(DIM + 1, np.float32), 1)


@pytest.mark.parametrize("other", [("other-model", DIM), ("m", DIM * 2)])
def test_model_key_or_dim_mismatch_refused(backend, other):
    open_store, reopen = backend
    s = open_store()
    s.upsert([1, 2], unit(2))
    with pytest.raises(IndexMismatchError, match="flask index rebuild"):
        reopen(s, other[1], other[0])
    assert reopen(s, DIM, "m").ids().tolist() == [1, 2]


def test_pgvector_filtered_hnsw_scan_is_iterative(pg_conninfo):
    """With the planner held to the HNSW index, a post-filter keeps only ~1% of rows: without iterative
    scan the index walk (ef_search candidates) yields fewer than k; the store's scan yields k, in order."""
    import psycopg

    x = unit(3000, seed=5)
    allowed = list(range(0, 3000, 101))  # 30 rows
    with psycopg.connect(pg_conninfo) as conn:
        s = PgVectorStore(DIM, "m", connection=conn, name="iterative", ef_search=40)
        s.upsert(range(3000), x)
        conn.commit()
        q = "[" + ",".join(repr(float(v)) for v in x[1500]) + "]"
        with conn.transaction():
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.execute(f"SET LOCAL {setting} = off")
            conn.execute("SET LOCAL hnsw.ef_search = 40")
            sql = ("SELECT id FROM vec_iterative WHERE id = ANY(%s::bigint[]) "
                   "ORDER BY embedding <#> %s::vector LIMIT 10")
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, (allowed, q)).fetchall())
            assert "vec_iterative_hnsw" in plan
            conn.execute("SET LOCAL hnsw.iterative_scan = off")
            assert len(conn.execute(sql, (allowed, q)).fetchall()) < 10
            hits = s._search(q, 10, allowed, exact=False, ef=40)
        exact = sorted(allowed, key=lambda i: -float(x[i] @ x[1500]))[:10]
        assert [i for i, _ in hits] == exact
        conn.rollback()


def test_pgvector_version_has_iterative_scan(pg_conninfo):
    import psycopg

    PgVectorStore(DIM, "m", conninfo=pg_conninfo, name="version").close()
    with psycopg.connect(pg_conninfo) as conn:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 8), version


def test_factory_builds_a_pgvector_store(pg_conninfo):
    from matchmaking.stores import build_vector_store

    s = build_vector_store("pgvector", dim=DIM, model_key="m", conninfo=pg_conninfo, name="factory")
    try:
        assert isinstance(s, PgVectorStore) and len(s) == 0
    finally:
        s.close()


def test_pgvector_stamps_follow_every_committed_write_of_each_store(pg_conninfo):
    a = PgVectorStore(DIM, "m", conninfo=pg_conninfo, name="stamps_a")
    b = PgVectorStore(DIM, "m", conninfo=pg_conninfo, name="stamps_b")
    try:
        before = a.stamps(["stamps_a", "stamps_b", "stamps_none"])
        assert before["stamps_none"] == 0 and before["stamps_a"] > 0 and before["stamps_b"] > 0
        assert before["stamps_a"] == a.stamp() and before["stamps_b"] == b.stamp()
        b.upsert([1], unit(1))
        after = a.stamps(["stamps_a", "stamps_b"])  # b's write, seen through a's connection
        assert after == {"stamps_a": before["stamps_a"], "stamps_b": before["stamps_b"] + 1}
        b.remove([99])  # nothing removed: no new stamp
        assert b.stamp() == after["stamps_b"]
    finally:
        a.close()
        b.close()
