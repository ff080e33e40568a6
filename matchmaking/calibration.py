"""Calibrated match scores: the engine's text features -> the probability that a broker judges a pair
worth a conversation (grade >= 1), fit by logistic regression on judged pairs (docs/evaluation.md).

Strata, because the features and the data differ:
- "demand": a demand ranks achievements; "achievement": an achievement ranks demands. Both have a title, so
  besides the dense and lexical evidence of the whole text they use how the counterpart answers the query's
  title; fit on the demo's judged pairs (one judgement gives a pair in each direction).
- "text": a query without a title (free text; the BEIR dev sets): the fused text score alone, fit on the
  dev sets, so its ranking is the fused ranking exactly.

Structured fields (field, maturity, budget, region, mode) modulate a pair that is relevant on its text, by at
most `structured_logit` in log-odds either way; below the middle band they can only lower it, so a same-field
pair whose text is unrelated stays weak whatever its field.

The fitted coefficients are data (matchmaking/data/calibration.json, or the file `flask matches calibrate`
writes), not constants typed in here."""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matchmaking.bands import POSSIBLE_MIN

SHIPPED = Path(__file__).resolve().parent / "data" / "calibration.json"
FORMAT = 1
# feature name -> transform applied before the linear model (square roots spread small coverages)
TRANSFORMS = {
    "fused": lambda x: x,
    "cos": lambda x: x,
    "coverage": np.sqrt,
    "title_cos": lambda x: x,
    "title_cov": np.sqrt,
    "head_cov": np.sqrt,
}
# fused: the ranking's text score (relative to the other candidates: BM25 over the best one's, the dense top-n
# centroid); the titled strata use absolute evidence instead, so a small catalogue does not inflate its best
# candidate: cos (query vs passage), coverage (share of the query's IDF mass the counterpart holds),
# title_cos / title_cov (the counterpart against the query's title, dense and lexical) and head_cov (the share
# of the counterpart's title and keywords that the query asks for). Each one added separation on the judged
# pairs in leave-demands-out fits (docs/evaluation.md).
TITLED = ("cos", "coverage", "title_cos", "title_cov", "head_cov")
STRATA = {"demand": TITLED, "achievement": TITLED, "text": ("fused",)}
RIDGE = 1e-3  # a little L2 on the standardised weights: separable folds must not diverge


class CalibrationError(ValueError):
    """A calibration file that is missing, unreadable or of another format (the message says which)."""


@dataclass(frozen=True)
class Stratum:
    """A logistic model over standardised features: p = sigmoid(bias + sum w_i (f_i(x_i) - mean_i) / std_i)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fitted_on: str = ""
    pairs: int = 0
    positives: int = 0

    def logit(self, feats: Mapping[str, np.ndarray]) -> np.ndarray:
        z = np.full(len(next(iter(feats.values()))), self.bias, dtype=np.float64)
        for name, w, mu, sd in zip(self.features, self.weights, self.mean, self.std):
            z += w * (TRANSFORMS[name](np.asarray(feats[name], dtype=np.float64)) - mu) / sd
        return z

    def to_json(self) -> dict:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias,
                "mean": list(self.mean), "std": list(self.std), "fitted_on": self.fitted_on,
                "pairs": self.pairs, "positives": self.positives}


@dataclass(frozen=True)
class Calibration:
    """Per-stratum models and the structured modulation; `probability` is what the platform shows."""

    strata: Mapping[str, Stratum]
    structured_logit: float = 0.5
    source: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)
    model: str = ""  # the encoder it was fit with (model name@revision): cosines of another model mean other things

    def stratum_for(self, query_kind: str, titled: bool) -> tuple[str, Stratum]:
        name = query_kind if titled and query_kind in self.strata else "text"
        return name, self.strata[name]

    def text_logit(self, query_kind: str, titled: bool, feats: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-odds from the text features alone."""
        return self.stratum_for(query_kind, titled)[1].logit(feats)

    def probability(self, text_logit: np.ndarray, structured: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability; structured (0-1, NaN where unknown) moves the log-odds by at most
        structured_logit, and only downwards for pairs below the middle band on their text."""
        z = np.asarray(text_logit, dtype=np.float64)
        if structured is not None and self.structured_logit > 0:
            s = np.asarray(structured, dtype=np.float64)
            shift = np.where(np.isnan(s), 0.0, self.structured_logit * (2.0 * np.nan_to_num(s, nan=0.5) - 1.0))
            floor = _logit(POSSIBLE_MIN / 100.0)
            shift = np.where(z < floor, np.minimum(shift, 0.0), shift)
            z = z + shift
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"format": FORMAT, "model": self.model, "structured_logit": self.structured_logit,
                "notes": dict(self.notes),
                "strata": {k: s.to_json() for k, s in self.strata.items()}}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


def model_name(model_key: str) -> str:
    """An encoder's model key without its backend suffix (bf16, ONNX int8 ... give the same cosines, nearly)."""
    return model_key.split("+", 1)[0]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def load(path: str | os.PathLike | None = None) -> Calibration:
    """The calibration at path (the shipped one when None)."""
    path = Path(path) if path else SHIPPED
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"calibration file not found: {path} / 找不到评分校准文件: {path}") from None
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"calibration file unreadable: {path}: {exc} / 评分校准文件无法读取") from None
    try:
        if raw.get("format") != FORMAT:
            raise KeyError("format")
        strata = {name: Stratum(tuple(s["features"]), tuple(float(w) for w in s["weights"]), float(s["bias"]),
                                tuple(float(m) for m in s["mean"]), tuple(float(d) for d in s["std"]),
                                s.get("fitted_on", ""), int(s.get("pairs", 0)), int(s.get("positives", 0)))
                  for name, s in raw["strata"].items()}
        for name, s in strata.items():
            numbers = (*s.weights, s.bias, *s.mean, *s.std)
            if set(s.features) - set(STRATA.get(name, TITLED)) or not (len(s.features) == len(s.weights)
                                                                        == len(s.mean) == len(s.std)) \
                    or min(s.std, default=1) <= 0 or not all(math.isfinite(x) for x in numbers):
                raise KeyError(name)
        if "text" not in strata:
            raise KeyError("text")
        return Calibration(strata, float(raw.get("structured_logit", 0.5)), str(path), raw.get("notes", {}),
                           str(raw.get("model", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError(f"calibration file {path} is not a format-{FORMAT} calibration ({exc}): refit it "
                               f"with `flask matches calibrate` / 评分校准文件格式不符, 请重新拟合") from None


def fit_stratum(feats: Mapping[str, Sequence[float]], labels: Sequence[bool], features: Sequence[str],
                fitted_on: str = "") -> Stratum:
    """Logistic regression (Newton's method with a small ridge) of labels on the transformed features."""
    y = np.asarray(labels, dtype=np.float64)
    if len(y) < 10 or y.sum() < 3 or (1 - y).sum() < 3:
        raise CalibrationError(f"too few judged pairs to fit ({int(y.sum())} relevant, {int((1 - y).sum())} not;"
                               f" need >= 3 of each and >= 10 in all) / 已评判的配对太少, 无法拟合")
    cols = [TRANSFORMS[f](np.asarray(feats[f], dtype=np.float64)) for f in features]
    x = np.column_stack(cols)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    xs = np.column_stack([np.ones(len(y)), (x - mean) / std])
    beta = np.zeros(xs.shape[1])
    reg = np.full(xs.shape[1], RIDGE * len(y))
    reg[0] = 0.0  # the bias is not shrunk
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(xs @ beta)))
        grad = xs.T @ (p - y) + reg * beta
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Stratum(tuple(features), tuple(float(b) for b in beta[1:]), float(beta[0]),
                   tuple(float(m) for m in mean), tuple(float(s) for s in std), fitted_on,
                   len(y), int(y.sum()))


def reliability(probs: Sequence[float], labels: Sequence[bool],
                edges: Sequence[float] = (0.0, 0.05, 0.1, 0.25, 0.4, 0.6, 0.8, 1.0001)) -> list[dict]:
    """Predicted probability bins against the observed share relevant (the reliability table)."""
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & (p < hi)
        if m.any():
            rows.append({"from": round(lo, 2), "to": round(min(hi, 1.0), 2), "pairs": int(m.sum()),
                         "predicted": round(float(p[m].mean()), 4), "observed": round(float(y[m].mean()), 4)})
    return rows


def ece(probs: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error over equal-width bins (weighted mean |predicted - observed|)."""
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if not len(p):
        return 0.0
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).sum()
                     for b in range(bins) if (idx == b).any()) / len(p))
