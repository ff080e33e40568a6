"""The feedback re-ranking: nDCG is computed right, and a known effect in synthetic feedback is learned."""
from __future__ import annotations

import numpy as np
import pytest

from matchmaking.feedback import FEATURES, Judged, evaluate_split, feature_vector, fit, ndcg_at_k


def test_ndcg_of_perfect_reversed_and_empty_rankings():
    assert ndcg_at_k([2, 1, 0]) == pytest.approx(1.0)
    assert ndcg_at_k([0, 1, 2]) < 0.7
    assert ndcg_at_k([0, 0, 0]) == 0.0
    assert ndcg_at_k([0, 1], k=1) == 0.0


def test_feature_vector_scales_score_and_defaults_unknown_components():
    v = feature_vector(80.0, {"semantic": 0.9, "region": 1.0})
    assert v[0] == pytest.approx(0.8) and v[1] == pytest.approx(0.9)
    assert v[FEATURES.index("region")] == 1.0 and v[FEATURES.index("budget")] == 0.5


def _synthetic(n_groups: int = 120, per_group: int = 10, seed: int = 7) -> list[Judged]:
    """Brokers judge pairs relevant mostly by region fit, which the engine's score barely weighs."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for i in range(per_group):
            breakdown = {name: float(rng.uniform()) for name in FEATURES[1:]}
            region = float(rng.integers(0, 2))
            breakdown["region"] = region
            score = 100 * (0.8 * breakdown["semantic"] + 0.2 * rng.uniform())
            grade = int(region == 1.0 and rng.uniform() < 0.9) * (1 + int(rng.uniform() < 0.3))
            rows.append(Judged(group=f"d{g}", item=i, time=g + i / 100, grade=grade,
                               features=feature_vector(score, breakdown)))
    return rows


def test_learned_reranking_beats_engine_order_when_feedback_follows_region():
    result = evaluate_split(_synthetic(), train_share=0.7, k=10)
    assert result.train == 840 and result.test == 360 and result.groups > 30
    assert result.after > result.before + 0.15
    assert max(result.weights, key=result.weights.get) == "region"  # the weights say why


def test_no_effect_means_no_gain():
    rows = [Judged(r.group, r.item, r.time, r.features, int(np.random.default_rng(r.item + 13 * int(r.group[1:]))
                                                           .uniform() < 0.4)) for r in _synthetic(seed=3)]
    result = evaluate_split(rows)
    assert abs(result.after - result.before) < 0.1


def test_fit_recovers_the_sign_of_a_single_feature():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(400, len(FEATURES)))
    y = (X[:, 2] + 0.1 * rng.normal(size=400)) > 0.5
    model = fit(X, y)
    assert model.weights[2] > 3 and abs(model.weights[5]) < 1


def test_too_little_feedback_is_a_clear_error():
    rows = _synthetic(n_groups=2)
    with pytest.raises(ValueError, match="not enough feedback"):
        evaluate_split([r for r in rows if r.grade == 0])
