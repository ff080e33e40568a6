"""Lexical index: vectorised BM25 matrix, builds from a previous index, snapshots on disk."""
import hashlib
import io
import json

import bm25s
import numpy as np
import pytest

from matchmaking import lexical
from matchmaking.lexical import K1, B, LexicalIndex, SnapshotError

SENTENCES = [
    "锂电池正极材料NCM811的制备方法。", "提高循环寿命至2000次。", "钠离子电池负极材料。", "硬碳负极的低成本制备。",
    "光伏组件清洗机器人。", "自动巡检与清洗，节水90%。", "Ti-6Al-4V钛合金的3D打印工艺。", "专利号CN202310123456.7。",
    "面向动力电池的热管理系统。", "基于视觉的焊缝缺陷检测。", "高温合金叶片精密铸造。", "执行GB/T 1234-2008标准。",
]
QUERIES = ["NCM811 正极材料", "硬碳 负极 低成本", "光伏 清洗 机器人", "ti-6al-4v 打印", "电池 热管理 检测", "量子计算"]


def corpus(n, seed):
    rng = np.random.default_rng(seed)
    return {100 + i: "".join(SENTENCES[j] for j in rng.integers(0, len(SENTENCES), rng.integers(1, 6)))
            for i in range(n)}


def assert_same(a, b):
    """Every observable of two indexes is identical (not just close)."""
    assert a.ids().tolist() == b.ids().tolist()
    assert a._terms == b._terms
    for x, y in [(a._tok, b._tok), (a._sent_ptr, b._sent_ptr), (a._doc_sent, b._doc_sent), (a.idf, b.idf),
                 (a._data, b._data), (a._indices, b._indices), (a._indptr, b._indptr)]:
        assert x.dtype == y.dtype and np.array_equal(x, y)
    for q in QUERIES:
        ta, tb = a.query_terms(q), b.query_terms(q)
        assert np.array_equal(ta.ids, tb.ids) and np.array_equal(ta.idf, tb.idf)
        assert np.array_equal(a.scores(ta), b.scores(tb))
        assert np.array_equal(a.coverage_all(ta), b.coverage_all(tb))
        assert a.search_terms(ta, 10) == b.search_terms(tb, 10)
        for i in a.ids().tolist():
            assert a.shared_terms(ta, i) == b.shared_terms(tb, i)
            assert np.array_equal(a.sentence_scores(ta, i), b.sentence_scores(tb, i))


def test_score_matrix_is_bm25s_own():
    docs = corpus(300, 1)
    index = LexicalIndex.build(list(docs), list(docs.values()))
    bounds = index._sent_ptr[index._doc_sent]
    per_doc = [index._tok[bounds[i]:bounds[i + 1]].tolist() for i in range(len(index))]
    ref = bm25s.BM25(k1=K1, b=B)
    ref.index((per_doc, dict(index._vocab)), show_progress=False)
    assert np.array_equal(index._data, ref.scores["data"])
    assert np.array_equal(index._indices, ref.scores["indices"])
    assert np.array_equal(index._indptr, ref.scores["indptr"])
    for q in QUERIES:
        t = index.query_terms(q)
        if len(t.ids):
            assert np.array_equal(index.scores(t), ref.get_scores([int(x) for x in t.ids]))


def test_build_from_previous_equals_build_from_scratch():
    old = corpus(120, 2)
    prev = LexicalIndex.build(list(old), list(old.values()))
    new = dict(old)
    del new[105], new[150]                       # unpublished
    new[110] = "全新的氢燃料电池催化剂。铂载量降低一半。"  # edited: new terms
    new[900], new[901] = "钠离子电池负极材料。", "石墨烯导热膜。"  # published
    ids = sorted(new, reverse=True)              # another order than the previous index
    texts = [new[i] for i in ids]
    assert_same(LexicalIndex.build(ids, texts, previous=prev), LexicalIndex.build(ids, texts))


def test_only_new_or_changed_texts_are_tokenised(monkeypatch):
    old = corpus(50, 3)
    prev = LexicalIndex.build(list(old), list(old.values()))
    seen = []
    real = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda s: seen.append(s) or real(s))
    new = dict(old)
    new[100] = "石墨烯导热膜的卷对卷制备。"
    LexicalIndex.build(list(new), list(new.values()), previous=prev)
    assert seen == ["石墨烯导热膜的卷对卷制备。"]


def test_terms_no_text_uses_any_more_leave_the_vocabulary():
    prev = LexicalIndex.build([1, 2], ["石墨烯导热膜。", "光伏组件清洗机器人。"])
    index = LexicalIndex.build([2], ["光伏组件清洗机器人。"], previous=prev)
    assert "石墨烯" not in index._vocab and index.search("石墨烯", k=5) == []


def test_snapshot_round_trip_is_identical(tmp_path):
    docs = corpus(80, 4)
    index = LexicalIndex.build(list(docs), list(docs.values()))
    index.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert_same(index, loaded)
    new = dict(docs)
    new[100] = "石墨烯导热膜。"
    assert_same(LexicalIndex.build(list(new), list(new.values()), previous=loaded),
                LexicalIndex.build(list(new), list(new.values())))


def test_save_replaces_the_previous_snapshot_and_its_file(tmp_path):
    LexicalIndex.build([1], ["光伏组件清洗机器人。"]).save(tmp_path)
    LexicalIndex.build([1, 2], ["光伏组件清洗机器人。", "石墨烯导热膜。"]).save(tmp_path)
    assert LexicalIndex.load(tmp_path).ids().tolist() == [1, 2]
    assert len(list(tmp_path.glob("lexical-*.npz"))) == 1


def _saved(tmp_path):
    LexicalIndex.build([1, 2], ["光伏组件清洗机器人。", "石墨烯导热膜。"]).save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    return manifest, tmp_path / manifest["data_file"]


@pytest.mark.parametrize("damage", ["no manifest", "bad json", "truncated data", "flipped byte", "no data file",
                                    "other tokenizer", "bad file name", "wrong count"])
def test_damaged_snapshot_raises_snapshot_error(tmp_path, damage):
    manifest, data = _saved(tmp_path)
    if damage == "no manifest":
        (tmp_path / "manifest.json").unlink()
    elif damage == "bad json":
        (tmp_path / "manifest.json").write_text("{")
    elif damage == "truncated data":
        data.write_bytes(data.read_bytes()[:100])
    elif damage == "flipped byte":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "no data file":
        data.unlink()
    else:
        key, value = {"other tokenizer": ("tokenizer", "0" * 16), "bad file name": ("data_file", "../x"),
                      "wrong count": ("count", 3)}[damage]
        (tmp_path / "manifest.json").write_text(json.dumps({**manifest, key: value}))
    with pytest.raises(SnapshotError):
        LexicalIndex.load(tmp_path)


def test_missing_folder_raises_snapshot_error(tmp_path):
    with pytest.raises(SnapshotError):
        LexicalIndex.load(tmp_path / "nothing")


def test_a_write_that_died_before_its_manifest_leaves_the_old_snapshot(tmp_path):
    _saved(tmp_path)
    (tmp_path / "lexical-ffff-1.npz").write_bytes(b"half a file")  # a writer killed before the manifest
    assert LexicalIndex.load(tmp_path).ids().tolist() == [1, 2]


def test_an_index_built_from_tokens_cannot_be_saved(tmp_path):
    index = LexicalIndex.from_sentence_tokens([1], [[["光伏"]]])
    with pytest.raises(ValueError):
        index.save(tmp_path)


def test_empty_index_builds_saves_and_loads(tmp_path):
    index = LexicalIndex.build([], [])
    index.save(tmp_path)
    assert len(LexicalIndex.load(tmp_path)) == 0 and index.search("光伏", k=3) == []


def test_the_same_texts_give_back_the_previous_index():
    prev = LexicalIndex.build([1, 2], ["光伏组件清洗机器人。", "石墨烯导热膜。"])
    assert LexicalIndex.build([1, 2], ["光伏组件清洗机器人。", "石墨烯导热膜。"], previous=prev) is prev
    assert LexicalIndex.build([2, 1], ["石墨烯导热膜。", "光伏组件清洗机器人。"], previous=prev) is not prev


def test_arrays_of_the_wrong_shape_raise_snapshot_error(tmp_path):
    manifest, data = _saved(tmp_path)
    with np.load(data) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["doc_sent"] = arrays["doc_sent"].reshape(1, -1)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data.write_bytes(buf.getvalue())
    manifest["data_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError):
        LexicalIndex.load(tmp_path)
