"""tools/fit_fusion.py, the per-query fusion experiment: its vectorised nDCG is the evaluation's, the constant
model is the engine's fusion, and a fit learns a lexical weight that depends on a query feature when the data
has one (so a "constants win" result on the dev sets is a finding, not a fit that cannot move)."""
from __future__ import annotations

import numpy as np

from matchmaking.engine import Fusion
from matchmaking.tools.evaluate import ndcg_at
from tools import fit_fusion as ff


def _cases(name: str, rng: np.random.Generator, n: int = 60) -> ff.Cases:
    """Two kinds of query told apart by one feature (best_coverage 1.0 or 0.3). For the first, the relevant
    candidate leads on BM25 and the dense leader is a distractor; for the second, the dense leader is relevant
    and a BM25 leader with the same partial coverage is the distractor. No constant weights rank both right:
    the first needs 0.004 w_cov + 0.9 w_bm25 > 0.1, the second 0.004 w_cov + 0.8 w_bm25 < 0.05 (w_cov
    moves at most e^4 from 0.3)."""
    c = 4
    semantic, covp, rel = np.zeros((n, c)), np.zeros((n, c)), np.zeros((n, c))
    gain = np.zeros((n, c))
    feats = np.zeros((n, len(ff.FEATURES)))
    partial = 0.5**8
    for q in range(n):
        lexical_query = q % 2 == 0
        semantic[q] = np.asarray([0.50, 0.60, 0.20, 0.10]) + rng.uniform(0, 0.001, c)  # 1: the dense leader
        if lexical_query:  # relevant: candidate 0, the BM25 leader
            covp[q], rel[q], gain[q, 0] = [partial, 0.0, 0.0, 0.0], [1.0, 0.1, 0.0, 0.0], 3
        else:  # relevant: candidate 1; candidate 2 leads on BM25
            covp[q], rel[q], gain[q, 1] = [0.0, 0.0, partial, 0.0], [0.0, 0.2, 1.0, 0.0], 3
            semantic[q, 2] = 0.55
        feats[q] = [2.0, 1.0 if lexical_query else 0.3, 0.05, 0.3, 1.0]
    idcg = np.full(n, 3.0)
    return ff.Cases(name, semantic, covp, rel, gain, idcg, feats + rng.normal(0, 0.01, feats.shape))


def test_the_vectorised_ndcg_is_the_evaluations():
    rng = np.random.default_rng(3)
    cases = _cases("a", rng, 8)
    qw = ff.QueryWeights.constant(Fusion())
    w_cov, w_bm = qw.weights(cases.feats)
    assert np.allclose(w_cov, Fusion().coverage_bonus) and np.allclose(w_bm, Fusion().bm25_bonus)
    expected = []
    for q in range(len(cases.idcg)):
        score = cases.semantic[q] + w_cov[q] * cases.covp[q] + w_bm[q] * cases.rel[q]
        ranked = [str(i) for i in np.argsort(-score, kind="stable")]
        rels = {str(i): int(np.log2(g + 1)) for i, g in enumerate(cases.gain[q]) if g > 0}
        expected.append(ndcg_at(ranked, rels, 10 if len(ranked) >= 10 else len(ranked)))
    small = ff.K
    try:
        ff.K, ff.DISCOUNT = 4, 1.0 / np.log2(np.arange(2, 6))
        assert abs(ff.ndcg(cases, w_cov, w_bm) - float(np.mean(expected))) < 1e-9
    finally:
        ff.K, ff.DISCOUNT = small, 1.0 / np.log2(np.arange(2, small + 2))


def test_a_per_query_fit_learns_what_constants_cannot(monkeypatch):
    monkeypatch.setattr(ff, "K", 4)
    monkeypatch.setattr(ff, "DISCOUNT", 1.0 / np.log2(np.arange(2, 6)))
    rng = np.random.default_rng(5)
    train = [_cases("a", rng), _cases("b", rng)]
    held = _cases("c", rng)
    constants = ff.fit(train, (), Fusion())
    per_query = ff.fit(train, ("best_coverage",), Fusion())
    assert ff.evaluate(per_query, held) > ff.evaluate(constants, held) + 0.1
    _, w_bm = per_query.weights(held.feats)
    assert w_bm[0] > w_bm[1]  # the query whose words the best candidates hold trusts BM25 more
