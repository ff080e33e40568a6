"""Named bands of the calibrated match score.

The score every page, report, export, API answer and notification shows is a probability (shown as
0-100) that a technology broker would judge the pair worth a conversation. The bands are fixed here,
as probabilities, so they mean the same on every deployment; docs/evaluation.md shows what share of
pairs in each band brokers judged relevant (the reliability table)."""
from __future__ import annotations

STRONG = "strong"      # 强匹配: most pairs here could directly address the need
POSSIBLE = "possible"  # 可能相关: worth a conversation more often than not worth one
WEAK = "weak"          # 弱相关: mostly the same broad field or shared generic words
BANDS = (STRONG, POSSIBLE, WEAK)  # best first
# Read off the reliability table of the judged demo pairs (docs/evaluation.md), leave-demands-out fits:
# from 60 nearly every pair was judged relevant and almost no unrelated pair gets there (<= 0.3%); from 8 a
# pair is more than ten times as likely to be worth a call as one below (9-10% vs 0.6%), and the floor keeps ~90% of
# the relevant pairs while passing <= 5% of the unrelated ones.
STRONG_MIN = 60.0   # score (probability x 100) from which a pair is a strong match
POSSIBLE_MIN = 8.0  # score from which a pair is a possible match (the floor of "a match")
RANK = {STRONG: 2, POSSIBLE: 1, WEAK: 0}


def band_of(score: float) -> str:
    """The band of a calibrated 0-100 score."""
    if score >= STRONG_MIN:
        return STRONG
    return POSSIBLE if score >= POSSIBLE_MIN else WEAK


def at_least(score: float, band: str) -> bool:
    """Whether a calibrated 0-100 score reaches the given band."""
    return RANK[band_of(score)] >= RANK[band]


def is_match(score: float) -> bool:
    """A pair in the middle band or above: what coverage, notifications and invitations count."""
    return score >= POSSIBLE_MIN
