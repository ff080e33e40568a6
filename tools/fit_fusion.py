"""Per-query fusion weights for the hybrid engine, fit with leave-one-set-out cross-validation on the BEIR dev
sets (issue 19, item 3): the ablation behind docs/evaluation.md "Per-query fusion".

    .venv/bin/python -m tools.fit_fusion ../shared/data/bench/dev/{kw,field,gap} [--cases DIR] [--json]

The hybrid text score of a candidate is semantic + w_cov * coverage^p + w_bm25 * BM25/best (engine.fuse).
Here w(q) = the engine's constant x exp(theta . [1, z(q)]), z(q) the query's own standardised features: its
length, the largest coverage among its candidates, the dense margin (best cosine minus the 10th), how much the
dense and BM25 top 10 agree, and the share of its words the index knows. theta maximises the mean nDCG@10 of the
training sets (coordinate grid sweeps, then Powell's method; a little L2 towards the constants).

For each dev set, weights fit on the two others are scored on it, so no figure comes from weights that saw
its set. Reported per held set: the engine's constants (tuned on all three sets: an in-sample figure),
constants refit on the other sets, per-query weights from all the features, and from each feature alone.
The engine keeps its constants unless a per-query model beats them on average over the held sets by more than
one query's worth (1 / the smallest set's query count); on the dev sets none does (docs/evaluation.md), so the
engine has no per-query weights and this stays an experiment."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from matchmaking.engine import Fusion, _known_share, semantic_scores
from matchmaking.tools.evaluate import DEFAULT_CACHE, DEFAULT_MODEL, BeirFormatError, build_set, load_beir

# terms: log(1 + distinct query terms); best_coverage: the largest share of the query's IDF mass one candidate
# holds; dense_margin: cosine of the dense best minus the 10th; agreement: share of the dense top 10 also in the
# BM25 top 10; known: share of the query's IDF mass the index knows
FEATURES = ("terms", "best_coverage", "dense_margin", "agreement", "known")
TOP = 10
EXP_LIMIT = 4.0  # a weight moves at most e^4 either way from its hand-set value


def query_features(cos: np.ndarray, bm25: np.ndarray, coverage: np.ndarray, n_terms: int,
                   known: float) -> np.ndarray:
    """The FEATURES of one query from its candidates' cosines, BM25 scores and coverages."""
    n = len(cos)
    if n == 0:
        return np.asarray([math.log1p(n_terms), 0.0, 0.0, 0.0, known])
    by_cos = np.argsort(-cos, kind="stable")
    top = min(TOP, n)
    margin = float(cos[by_cos[0]] - cos[by_cos[top - 1]])
    lexical_top = set(np.argsort(-bm25, kind="stable")[:top].tolist()) if bm25.max(initial=0.0) > 0 else set()
    agreement = len(lexical_top & set(by_cos[:top].tolist())) / TOP
    return np.asarray([math.log1p(n_terms), float(coverage.max(initial=0.0)), margin, agreement, known])


@dataclass(frozen=True)
class QueryWeights:
    """w_cov(q) = coverage_bonus * exp(cov_theta . [1, z]), w_bm25(q) = bm25_bonus * exp(bm25_theta . [1, z]),
    z the query's standardised features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    coverage_bonus: float
    bm25_bonus: float
    cov_theta: tuple[float, ...]
    bm25_theta: tuple[float, ...]

    @classmethod
    def constant(cls, fusion: Any) -> QueryWeights:
        """The hand-set constants of an engine.Fusion as a (feature-free) model."""
        return cls((), (), (), fusion.coverage_bonus, fusion.bm25_bonus, (0.0,), (0.0,))

    def weights(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(w_cov, w_bm25) for each row of FEATURES values (one row: one query)."""
        x = np.atleast_2d(np.asarray(feats, dtype=np.float64))
        cols = [FEATURES.index(n) for n in self.features]
        z = (x[:, cols] - np.asarray(self.mean)) / np.asarray(self.std) if cols else np.zeros((len(x), 0))
        z = np.column_stack([np.ones(len(x)), z])
        cov = self.coverage_bonus * np.exp(np.clip(z @ np.asarray(self.cov_theta), -EXP_LIMIT, EXP_LIMIT))
        bm = self.bm25_bonus * np.exp(np.clip(z @ np.asarray(self.bm25_theta), -EXP_LIMIT, EXP_LIMIT))
        return cov, bm


MULTIPLIERS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # of both lexical weights, for the upper-bound rows
GRID = np.linspace(-3.0, 3.0, 13)  # coordinate values tried before the local search
SWEEPS = 2
K = 10
L2 = 0.02  # pull towards the hand-set constants (theta = 0), per parameter, in nDCG units


@dataclass
class Cases:
    """Every query of one set, padded to the same candidate count (-inf semantic where no candidate)."""

    name: str
    semantic: np.ndarray  # (Q, C)
    covp: np.ndarray      # coverage ** power
    rel: np.ndarray       # BM25 / best BM25
    gain: np.ndarray      # 2^grade - 1 of each candidate
    idcg: np.ndarray      # (Q,) ideal DCG@K over every judged document, found or not
    feats: np.ndarray     # (Q, F) raw query features


def collect(set_dir: Path, model: str, cache_dir: str) -> Cases:
    data = load_beir(set_dir)
    sm = build_set(data, "hybrid", model, cache_dir)
    m, f = sm.matcher, sm.matcher.fusion
    rows = []
    for j, q in enumerate(sm.qids):
        query = sm.queries[j]
        terms = m.lexical.query_terms(query.embed_text())
        allowed = m._allowed(query.counterpart_kind, None)
        cand, vecs, cos, bm, cov = m._candidates(sm.qvecs[j], terms, allowed, f.candidates)
        sem = semantic_scores(cos, vecs, f)
        top = float(bm.max(initial=0.0))
        rel = bm / top if top > 0 else np.zeros_like(bm)
        grades = np.asarray([data.qrels[q].get(sm.dids[c], 0) for c in cand], np.float64)
        ideal = np.sort(np.asarray(list(data.qrels[q].values()), np.float64))[::-1][:K]
        idcg = float(((2 ** ideal - 1) / np.log2(np.arange(2, len(ideal) + 2))).sum())
        x = query_features(cos, bm, cov, len(terms.ids), _known_share(m.lexical, terms))
        rows.append((sem, cov ** f.coverage_power, rel, 2 ** grades - 1, idcg, x))
    width = max(len(r[0]) for r in rows)

    def pad(i: int, fill: float) -> np.ndarray:
        return np.stack([np.pad(r[i], (0, width - len(r[i])), constant_values=fill) for r in rows])

    return Cases(set_dir.name, pad(0, -np.inf), pad(1, 0.0), pad(2, 0.0), pad(3, 0.0),
                 np.asarray([r[4] for r in rows]), np.stack([r[5] for r in rows]))


def cached_collect(set_dir: Path, model: str, cache_dir: str, folder: Path | None) -> Cases:
    """collect(), read from / kept in folder/<set>.npz when a folder is given."""
    path = folder / f"{set_dir.name}.npz" if folder else None
    if path and path.exists():
        with np.load(path) as z:
            return Cases(set_dir.name, *(z[k] for k in ("semantic", "covp", "rel", "gain", "idcg", "feats")))
    cases = collect(set_dir, model, cache_dir)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k: getattr(cases, k) for k in ("semantic", "covp", "rel", "gain", "idcg", "feats")})
    return cases


DISCOUNT = 1.0 / np.log2(np.arange(2, K + 2))


def ndcg_per_query(c: Cases, w_cov: np.ndarray, w_bm: np.ndarray) -> np.ndarray:
    """nDCG@K of each query's fused ranking with per-query weights."""
    score = c.semantic + w_cov[:, None] * c.covp + w_bm[:, None] * c.rel
    top = np.argpartition(-score, K - 1, axis=1)[:, :K]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, 1), axis=1, kind="stable"), 1)
    dcg = (np.take_along_axis(c.gain, order, 1) * DISCOUNT).sum(axis=1)
    return np.where(c.idcg > 0, dcg / np.maximum(c.idcg, 1e-12), 0.0)


def ndcg(c: Cases, w_cov: np.ndarray, w_bm: np.ndarray) -> float:
    """Mean nDCG@K of the fused ranking with per-query weights."""
    return float(ndcg_per_query(c, w_cov, w_bm).mean())


def evaluate(model: QueryWeights, c: Cases) -> float:
    w_cov, w_bm = model.weights(c.feats)
    return ndcg(c, w_cov, w_bm)


def fit(train: list[Cases], features: tuple[str, ...], base: Fusion) -> QueryWeights:
    """theta maximising the mean nDCG@K over the training sets (each set weighs the same)."""
    x = np.concatenate([c.feats for c in train])
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-9)
    cols = [FEATURES.index(n) for n in features]
    n = 1 + len(cols)

    def model(theta: np.ndarray) -> QueryWeights:
        return QueryWeights(
            features, tuple(mean[cols]), tuple(std[cols]), base.coverage_bonus, base.bm25_bonus,
            tuple(theta[:n]), tuple(theta[n:]))

    def loss(theta: np.ndarray) -> float:
        mdl = model(theta)
        return -float(np.mean([evaluate(mdl, c) for c in train])) + L2 * float((theta**2).sum()) / len(theta)

    # nDCG is a step function of theta: a coarse coordinate grid first (a local search from 0 can sit on a
    # plateau), then Powell's method from the best point
    theta = np.zeros(2 * n)
    for _ in range(SWEEPS):
        for i in range(len(theta)):
            trials = [np.where(np.arange(len(theta)) == i, v, theta) for v in GRID]
            theta = min([theta, *trials], key=loss)
    best = minimize(loss, theta, method="Powell", options={"xtol": 1e-2, "ftol": 1e-5, "maxfev": 2000})
    return model(best.x if best.fun <= loss(theta) else theta)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sets", nargs="+", type=Path, help="BEIR set folders (at least two, for cross-validation)")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    p.add_argument("--json", action="store_true")
    p.add_argument("--cases", type=Path, help="keep each set's candidates in this folder (refits skip the ranking)")
    args = p.parse_args(argv)
    if len(args.sets) < 2:
        p.error("give at least two sets: each is scored with weights fit on the others / 至少需要两个数据集")
    start = time.perf_counter()
    try:
        cases = [cached_collect(d, args.model, args.cache_dir, args.cases) for d in args.sets]
    except (BeirFormatError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    base = Fusion()
    stock = QueryWeights.constant(base)
    report: dict = {"sets": {}, "features": list(FEATURES)}
    variants = {"constants refit": (), "per-query": FEATURES, **{f"per-query: {n}": (n,) for n in FEATURES}}
    for held in cases:
        train = [c for c in cases if c is not held]
        row = {"hand-set": round(evaluate(stock, held), 4)}
        for label, feats in variants.items():
            mdl = fit(train, feats, base)
            row[label] = round(evaluate(mdl, held), 4)
            row[label + " (train)"] = round(float(np.mean([evaluate(mdl, c) for c in train])), 4)
        report["sets"][held.name] = row
        print(held.name, row, file=sys.stderr)
    mean = {k: round(float(np.mean([r[k] for r in report["sets"].values()])), 4)
            for k in ("hand-set", *variants)}
    report["mean over held sets"] = mean
    # how much a per-query weight could win at most: one multiplier of both lexical weights for the whole set,
    # and the best multiplier chosen per query with hindsight (an oracle no feature model can beat)
    for c in cases:
        per = np.stack([ndcg_per_query(c, np.full(len(c.idcg), m * base.coverage_bonus),
                                       np.full(len(c.idcg), m * base.bm25_bonus)) for m in MULTIPLIERS])
        report["sets"][c.name]["multipliers"] = {f"x{m:g}": round(float(v), 4) for m, v in zip(MULTIPLIERS,
                                                                                                per.mean(axis=1))}
        report["sets"][c.name]["oracle"] = round(float(per.max(axis=0).mean()), 4)
    # one query of the smallest set going from a miss to a full hit moves that set's figure by 1/queries:
    # a smaller gain in the mean is not evidence that a model generalises
    margin = 1.0 / min(len(c.idcg) for c in cases)
    report["noise margin"] = round(margin, 4)
    report["engine keeps its constants"] = all(mean[k] <= mean["hand-set"] + margin for k in variants)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, ensure_ascii=False, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
