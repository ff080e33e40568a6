"""Hybrid matcher: fusion, hard filters, explanations, near duplicates."""
import hashlib

import numpy as np
import pytest

from matchmaking.documents import Listing
from matchmaking.engine import Fusion, HybridMatcher, fuse, highlight

DIM = 64


class CharEncoder:
    """Deterministic stand-in for e5: hashed character bigrams, L2-normalised."""

    model_key = "test-char-bigrams"
    dim = DIM

    def _encode(self, texts):
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            for a, b in zip(t, t[1:]):
                out[i, hashlib.md5((a + b).encode()).digest()[0] % DIM] += 1.0
            out[i] += 0.3  # a shared component, like the anisotropy of real sentence vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts, batch_size=32):
        return self._encode(list(texts))

    def encode_passages(self, texts, batch_size=32):
        return self._encode(list(texts))


ACH = [
    Listing(1, "achievement", "高镍三元正极材料NCM811制备技术", "本成果提出一种NCM811正极材料的共沉淀制备工艺。"
            "循环寿命提升至2000次。可用于动力电池。", ("正极材料", "锂电池"), field="new_energy.battery",
            region="广东", trl=7, price=80, modes=frozenset({"license"})),
    Listing(2, "achievement", "钠离子电池硬碳负极", "以生物质为原料制备硬碳负极。成本低于石墨负极。",
            field="new_energy.battery", region="江苏", trl=5, price=300),
    Listing(3, "achievement", "光伏组件清洗机器人", "自动巡检并清洗光伏板。节水百分之九十。",
            field="new_energy.solar", region="广东", trl=8, price=50),
    Listing(4, "achievement", "Ti-6Al-4V钛合金3D打印", "激光选区熔化成形钛合金零件。致密度99.9%。",
            field="materials.metal", region="陕西", trl=6, negotiable=True),
    Listing(5, "achievement", "高镍正极材料NCM811制备工艺", "一种NCM811正极材料的共沉淀制备工艺。循环寿命提升。",
            field="new_energy.battery", region="广东", trl=6, price=90),
]
DOCS = {a.id: a for a in ACH}


@pytest.fixture(scope="module")
def matcher():
    return HybridMatcher.build(CharEncoder(), DOCS)


def demand(text, **kw):
    return Listing(100, "demand", "", text, **kw)


@pytest.mark.parametrize("method", ["lexical", "dense", "hybrid"])
def test_each_method_finds_the_obvious_match(matcher, method):
    hits = matcher.match(demand("需要NCM811正极材料的制备技术"), k=3, method=method)
    assert hits[0].id in {1, 5}


def test_hard_filter_applies_before_ranking(matcher):
    hits = matcher.match(demand("NCM811正极材料"), k=3, allowed_ids={2, 3})
    assert {m.id for m in hits} <= {2, 3} and len(hits) == 2


def test_empty_filter_returns_nothing(matcher):
    assert matcher.match(demand("NCM811正极材料"), k=3, allowed_ids=set()) == []


def test_scores_are_calibrated_and_explained(matcher):
    top = matcher.match(demand("NCM811正极材料共沉淀制备"), k=5)
    assert all(0 <= m.score <= 100 for m in top)
    assert [m.score for m in top] == sorted((m.score for m in top), reverse=True)
    assert set(top[0].breakdown) == {"semantic", "lexical", "field", "maturity", "budget", "region", "mode"}
    assert "ncm811" in top[0].shared_terms and "共沉淀" in top[0].shared_terms
    assert "共沉淀" in top[0].best_sentence


def test_best_sentence_comes_from_the_body(matcher):
    hit = matcher.match(demand("需要节水"), k=1, allowed_ids={3})[0]
    assert hit.best_sentence == "节水百分之九十。"


def test_structured_data_reorders_equal_texts():
    twin = dict(title="NCM811正极材料", body="共沉淀制备工艺。")
    docs = {7: Listing(7, "achievement", **twin, field="materials.metal", region="陕西", trl=3, price=500),
            8: Listing(8, "achievement", **twin, field="new_energy.battery", region="广东", trl=7, price=80)}
    m = HybridMatcher.build(CharEncoder(), docs)
    assert [x.id for x in m.match(demand("NCM811正极材料"), k=2)] == [7, 8]
    wants = demand("NCM811正极材料", field="new_energy.battery", region="广东", trl=7, budget_max=85)
    hits = m.match(wants, k=2)
    assert [x.id for x in hits] == [8, 7] and hits[0].score > hits[1].score
    assert hits[0].breakdown["budget"] == 1.0 and hits[0].reasons["maturity"] == "trl_ok"
    assert hits[1].reasons["budget"] == "over_budget:488%" and hits[1].breakdown["field"] == 0.0


def test_no_structured_data_means_neutral_components(matcher):
    hit = matcher.match(demand("钛合金3D打印"), k=1)[0]
    assert hit.id == 4 and all(hit.breakdown[c] == 0.5 for c in ("field", "budget", "region", "mode"))


def test_unknown_method_is_rejected(matcher):
    with pytest.raises(ValueError):
        matcher.match(demand("x"), method="bm42")


def test_similar_finds_near_duplicate_and_excludes_itself(matcher):
    hits = matcher.similar(DOCS[1], k=2)
    assert hits[0].id == 5 and 1 not in {m.id for m in hits}
    assert hits[0].score > hits[1].score


def test_similar_scores_identical_text_near_100():
    docs = dict(DOCS)
    docs[6] = Listing(6, "achievement", DOCS[3].title, DOCS[3].body)
    m = HybridMatcher.build(CharEncoder(), docs)
    assert m.similar(docs[3], k=1)[0].id == 6 and m.similar(docs[3], k=1)[0].score >= 95


def test_demand_matcher_does_not_return_achievements():
    docs = dict(DOCS)
    docs[200] = Listing(200, "demand", "求NCM811正极材料", "寻找正极材料技术")
    m = HybridMatcher.build(CharEncoder(), docs)
    assert 200 not in {x.id for x in m.match(demand("NCM811正极材料"), k=10)}
    assert {x.id for x in m.match(DOCS[1], k=10)} == {200}


def test_fusion_is_dense_first_with_a_bounded_lexical_bonus():
    f = Fusion(neighbour_share=0.0)
    vecs = np.eye(2, dtype=np.float32)
    # all query terms present beats a slightly closer vector with half the terms
    full = fuse(np.array([0.90, 0.88]), vecs, np.array([4.0, 5.0]), np.array([0.5, 1.0]), f)[0]
    # partial term overlap cannot beat a clearly closer vector
    partial = fuse(np.array([0.93, 0.80]), vecs, np.array([0.0, 5.0]), np.array([0.0, 0.6]), f)[0]
    assert full.argmax() == 1 and partial.argmax() == 0
    assert np.all((full >= 0) & (full <= 1))


def test_highlight_segments():
    assert highlight("NCM811正极材料", ["ncm811", "材料"]) == [("NCM811", True), ("正极", False), ("材料", True)]
    assert highlight("abc", []) == [("abc", False)] and highlight("", ["a"]) == []


@pytest.mark.slow
def test_real_model_ranks_paraphrase_first(real_encoder):
    m = HybridMatcher.build(real_encoder, DOCS)
    hits = m.match(demand("寻找能让电动车电池更耐用的高镍材料"), k=3)
    assert hits[0].id in {1, 5} and hits[0].score > hits[-1].score


def test_every_reason_matching_cannot_answer_is_one_exception_family() -> None:
    from matchmaking.encoders import ModelNotReady
    from matchmaking.errors import MatchingUnavailable
    from matchmaking.onnx_encoder import OnnxNotReady
    from matchmaking.vectorstore import IndexCorruptError, IndexMismatchError

    for cls in (ModelNotReady, OnnxNotReady, IndexMismatchError, IndexCorruptError):
        assert issubclass(cls, MatchingUnavailable), cls
