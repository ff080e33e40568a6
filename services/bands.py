"""The named bands of the calibrated match score (matchmaking/bands.py) for the web layer, which reaches the
engine only through services, with the fixed Chinese labels of the exports and a split of ranked views."""
from __future__ import annotations

from typing import Any, Sequence

from matchmaking.bands import (
    BANDS,
    POSSIBLE,
    POSSIBLE_MIN,
    RANK,
    STRONG,
    STRONG_MIN,
    WEAK,
    at_least,
    band_of,
    is_match,
)

__all__ = ["BANDS", "LABELS_ZH", "POSSIBLE", "POSSIBLE_MIN", "RANK", "STRONG", "STRONG_MIN", "WEAK", "at_least",
           "band_of", "has_strong", "is_match", "label_zh", "split_views"]

# exports (CSV, .xlsx, PDF) are written in Chinese whatever the reader's language, like their headers
LABELS_ZH = {STRONG: "强匹配", POSSIBLE: "可能相关", WEAK: "弱相关"}


def label_zh(score: float) -> str:
    """The Chinese band label of a calibrated 0-100 score (a report row stores the score, not the band)."""
    return LABELS_ZH[band_of(score)]


def split_views(views: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(strong and possible, the rest) match views, each in the given order: what a page lists and what it folds
    (weak ones, and pairs a broker set aside as not relevant)."""
    folded = [v for v in views if v.match.band == WEAK or getattr(v, "set_aside", False)]
    away = {id(v) for v in folded}
    return [v for v in views if id(v) not in away], folded


def has_strong(views: Sequence[Any]) -> bool:
    """Whether any view is a strong match; without one, a page says so plainly ("no strong match yet") and
    offers the next steps, whatever possible or weak matches it lists below."""
    return any(v.match.band == STRONG and not getattr(v, "set_aside", False) for v in views)
