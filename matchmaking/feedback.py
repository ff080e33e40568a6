"""Re-ranking learned from broker feedback: a logistic regression over a match's score components.

Explainable on purpose: one weight per named component (semantic, lexical, field, maturity, budget,
region, mode, and the engine's calibrated score), fitted with L2 by Newton's method in plain numpy.
evaluate_split() fits on the earlier feedback and reports nDCG@k before/after on the later feedback.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

FEATURES = ("score", "semantic", "lexical", "field", "maturity", "budget", "region", "mode")
GRADES = {"not_relevant": 0, "relevant": 1, "introduce": 2}


@dataclass(frozen=True)
class Judged:
    """One judged pair: the ranking it belonged to, when, its features and the broker's grade (0-2)."""

    group: str
    item: int
    time: float
    features: np.ndarray
    grade: int


def feature_vector(score: float, breakdown: Mapping[str, float]) -> np.ndarray:
    """The features of a match: calibrated score scaled to 0-1, then the breakdown components."""
    values = [float(score) / 100.0] + [float(breakdown.get(name, 0.5)) for name in FEATURES[1:]]
    return np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)


@dataclass
class Reranker:
    """Fitted weights: P(relevant) = sigmoid(bias + sum_i weight_i * feature_i)."""

    weights: np.ndarray
    bias: float
    trained_on: int = 0

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probability that each row (a feature vector) is judged relevant."""
        return 1.0 / (1.0 + np.exp(-(np.atleast_2d(X) @ self.weights + self.bias)))

    def explain(self) -> dict[str, float]:
        """Weight per named feature (positive: the feature makes a pair more likely relevant)."""
        return {name: round(float(w), 3) for name, w in zip(FEATURES, self.weights)}


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> Reranker:
    """Logistic regression with an L2 penalty (not on the bias), by Newton's method."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    A = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(A.shape[1])
    penalty = np.full(A.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(A @ w)))
        grad = A.T @ (p - y) + penalty * w
        hess = (A * (p * (1 - p))[:, None]).T @ A + np.diag(penalty) + 1e-9 * np.eye(A.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Reranker(weights=w[:-1], bias=float(w[-1]), trained_on=len(X))


def dcg_at_k(grades: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of grades in ranked order, gain 2^g - 1."""
    g = np.asarray(list(grades)[:k], dtype=np.float64)
    return float(((2.0 ** g - 1.0) / np.log2(np.arange(2, len(g) + 2))).sum())


def ndcg_at_k(grades: Sequence[float], k: int = 10) -> float:
    """nDCG@k of a ranking (grades in ranked order); 0 when nothing in it is relevant."""
    ideal = dcg_at_k(sorted(grades, reverse=True), k)
    return dcg_at_k(grades, k) / ideal if ideal > 0 else 0.0


def _mean_ndcg(rows: list[Judged], key: np.ndarray, k: int) -> tuple[float, int]:
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_group[r.group].append(i)
    values = []
    for idx in by_group.values():
        grades = [rows[i].grade for i in idx]
        if max(grades) == 0:
            continue  # nothing relevant: every order scores the same
        order = sorted(idx, key=lambda i: (-key[i], rows[i].item))
        values.append(ndcg_at_k([rows[i].grade for i in order], k))
    return (float(np.mean(values)) if values else 0.0), len(values)


@dataclass
class Evaluation:
    """nDCG@k on held-out feedback, ranked by the engine's score and by the learned re-ranking."""

    train: int
    test: int
    groups: int
    before: float
    after: float
    k: int
    weights: dict[str, float] = field(default_factory=dict)


def evaluate_split(rows: Sequence[Judged], train_share: float = 0.7, k: int = 10, l2: float = 1.0) -> Evaluation:
    """Fit on the earliest train_share of the feedback (by time), report nDCG@k on the rest."""
    if not 0.0 < train_share < 1.0:
        raise ValueError("train_share must be between 0 and 1")
    rows = sorted(rows, key=lambda r: (r.time, r.group, r.item))
    cut = int(round(len(rows) * train_share))
    train, test = rows[:cut], rows[cut:]
    if not train or not test or len({r.grade > 0 for r in train}) < 2:
        raise ValueError("not enough feedback: need both relevant and not relevant pairs before the split "
                         "and some feedback after it")
    model = fit(np.stack([r.features for r in train]), np.array([r.grade > 0 for r in train]), l2=l2)
    X = np.stack([r.features for r in test])
    before, groups = _mean_ndcg(test, X[:, 0], k)
    after, _ = _mean_ndcg(test, model.scores(X), k)
    return Evaluation(train=len(train), test=len(test), groups=groups, before=before, after=after, k=k,
                      weights=model.explain())


def save(model: Reranker, path: str) -> None:
    """Write the fitted weights as JSON (atomically: a reader never sees half a file)."""
    import json
    import os

    data = {"features": list(FEATURES), "weights": model.weights.tolist(), "bias": model.bias,
            "trained_on": model.trained_on}
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def load(path: str) -> Reranker | None:
    """Weights saved by save(); None when there is no file or it was written for other features."""
    import json
    import os

    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("features") != list(FEATURES):
        return None
    return Reranker(weights=np.asarray(data["weights"], dtype=np.float64), bias=float(data["bias"]),
                    trained_on=int(data.get("trained_on", 0)))
