"""faiss vector store keyed by database ids."""
import json

import numpy as np
import pytest

from matchmaking import vectorstore
from matchmaking.stores import build_shelf, build_vector_store
from matchmaking.vectorstore import FaissShelf, FaissStore, IndexCorruptError, IndexMismatchError

DIM = 16


def unit(n, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_upsert_search_and_ids():
    s = FaissStore(DIM, "m")
    x = unit(50)
    s.upsert(range(100, 150), x)
    assert s.search(x[7], 1)[0][0] == 107
    assert list(s.ids()) == list(range(100, 150))


def test_upsert_replaces_existing_vector():
    s = FaissStore(DIM, "m")
    x = unit(10)
    s.upsert(range(10), x)
    s.upsert([3], x[8:9])
    assert len(s) == 10
    top = dict(s.search(x[8], 2))
    assert set(top) == {3, 8}


def test_remove():
    s = FaissStore(DIM, "m")
    x = unit(10)
    s.upsert(range(10), x)
    s.remove([4, 99])
    assert 4 not in s.ids() and len(s) == 9 and s.search(x[4], 1)[0][0] != 4


@pytest.mark.parametrize("threshold", [10**9, 100])
def test_filtered_search_returns_k_when_k_allowed_exist(threshold):
    s = FaissStore(DIM, "m", hnsw_threshold=threshold)
    x = unit(1000)
    s.upsert(range(1000), x)
    allowed = set(range(0, 1000, 97))  # 11 ids scattered far from the query
    hits = s.search(x[500], 10, allowed_ids=allowed)
    assert len(hits) == 10 and {i for i, _ in hits} <= allowed
    assert len(s.search(x[500], 10, allowed_ids={1, 2})) == 2


def test_hnsw_switch_remove_and_reupsert():
    s = FaissStore(DIM, "m", hnsw_threshold=100)
    x = unit(300)
    s.upsert(range(300), x)
    assert s.kind == "hnsw"
    s.remove([5])
    assert 5 not in {i for i, _ in s.search(x[5], 10)}
    s.upsert([5], x[6:7])
    assert {i for i, _ in s.search(x[6], 2)} == {5, 6} and len(s) == 300


def test_hnsw_recall_against_flat():
    x = unit(5000, seed=1)
    q = unit(100, seed=2)
    flat, hnsw = FaissStore(DIM, "m"), FaissStore(DIM, "m", hnsw_threshold=1000)
    flat.upsert(range(5000), x)
    hnsw.upsert(range(5000), x)
    assert flat.kind == "flat" and hnsw.kind == "hnsw"
    recall = np.mean([len({i for i, _ in flat.search(v, 10)} & {i for i, _ in hnsw.search(v, 10)}) / 10
                      for v in q])
    assert recall >= 0.95


@pytest.mark.parametrize("threshold", [10**9, 100])
def test_save_load_roundtrip(tmp_path, threshold):
    s = FaissStore(DIM, "e5", hnsw_threshold=threshold)
    x = unit(200)
    s.upsert(range(1, 201), x)
    s.remove([7])
    s.save(tmp_path)
    t = FaissStore.load(tmp_path, model_key="e5", dim=DIM, hnsw_threshold=threshold)
    assert list(t.ids()) == list(s.ids()) and t.kind == s.kind
    assert t.search(x[20], 3) == s.search(x[20], 3)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["count"] == 199 and manifest["model_key"] == "e5" and manifest["dim"] == DIM


def test_failed_save_leaves_old_index(tmp_path, monkeypatch):
    s = FaissStore(DIM, "e5")
    s.upsert(range(10), unit(10))
    s.save(tmp_path)
    index_file = tmp_path / json.loads((tmp_path / "manifest.json").read_text())["index_file"]
    before = index_file.read_bytes()
    s.upsert(range(10, 20), unit(10, seed=3))

    def boom(index, path):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(vectorstore.faiss, "write_index", boom)
    with pytest.raises(OSError):
        s.save(tmp_path)
    assert index_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    assert len(FaissStore.load(tmp_path, model_key="e5", dim=DIM)) == 10


def test_other_model_raises_mismatch_with_rebuild_hint(tmp_path):
    s = FaissStore(DIM, "e5")
    s.upsert([1], unit(1))
    s.save(tmp_path)
    with pytest.raises(IndexMismatchError, match="flask index rebuild"):
        FaissStore.load(tmp_path, model_key="bge", dim=DIM)
    with pytest.raises(IndexMismatchError):
        FaissStore.load(tmp_path, model_key="e5", dim=DIM * 2)


def test_manifest_disagreeing_with_index_raises_corrupt(tmp_path):
    s = FaissStore(DIM, "e5")
    s.upsert([1, 2], unit(2))
    s.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["count"] = 3
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError):
        FaissStore.load(tmp_path, model_key="e5", dim=DIM)


def test_missing_files_raise_corrupt(tmp_path):
    with pytest.raises(IndexCorruptError):
        FaissStore.load(tmp_path, model_key="e5", dim=DIM)
    s = FaissStore(DIM, "e5")
    s.upsert([1], unit(1))
    s.save(tmp_path)
    (tmp_path / json.loads((tmp_path / "manifest.json").read_text())["index_file"]).unlink()
    with pytest.raises(IndexCorruptError):
        FaissStore.load(tmp_path, model_key="e5", dim=DIM)


def test_factory():
    assert isinstance(build_vector_store("faiss", dim=DIM, model_key="m"), FaissStore)
    with pytest.raises(ValueError):
        build_vector_store("nope", dim=DIM)


def test_shelves_are_built_by_name_and_check_what_they_need(tmp_path):
    folder = lambda kind: tmp_path / kind  # noqa: E731
    model = lambda: ("m", DIM)  # noqa: E731
    shelf = build_shelf("faiss", directory=folder, model=model, database_url="sqlite://")
    assert isinstance(shelf, FaissShelf) and not shelf.in_transaction and shelf.stamp("demand") == 0
    with pytest.raises(ValueError, match="PostgreSQL"):
        build_shelf("pgvector", directory=folder, model=model, database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="unknown vector store"):
        build_shelf("annoy", directory=folder, model=model, database_url="sqlite://")


def test_a_faiss_shelf_serves_what_it_saved_and_what_another_process_saved(tmp_path):
    model = lambda: ("m", DIM)  # noqa: E731
    shelf = FaissShelf(lambda kind: tmp_path / kind, model)
    store = shelf.writer("demand", lambda: None)
    store.upsert([1, 2], unit(2))
    shelf.saved("demand", store)
    stamp, served = shelf.current("demand")
    assert stamp == shelf.stamp("demand") > 0 and served is store
    other = FaissShelf(lambda kind: tmp_path / kind, model)  # another process
    fresh = other.fresh("demand", lambda: None)
    fresh.upsert([3], unit(1, seed=3))
    other.saved("demand", fresh)
    assert sorted(shelf.current("demand")[1].ids().tolist()) == [3]
