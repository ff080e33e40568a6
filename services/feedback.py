"""Feedback on suggested pairs: recorded per pair by brokers (and, once introduced, by each party), shown in
reports, and used by the ranking (pairs judged not relevant are pushed down; `flask feedback evaluate`
learns fusion weights from it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from matchmaking.bands import band_of
from matchmaking.feedback import save as _save_model
from models import (FEEDBACK_REASONS, OUTCOMES, Achievement, Demand, Introduction, IntroStatus, PairFeedback,
                    Status, User)

from .errors import NotFound, ServiceError
from .listings import can_edit_listing, is_reviewer

Pair = tuple[int, int]  # (demand_id, achievement_id)


def latest_for_pairs(session: Session, pairs: Iterable[Pair], by: Optional[User] = None) -> dict[Pair, PairFeedback]:
    """The most recent feedback on each of these pairs (pairs without feedback are absent); only the
    user's own with `by` (a party never sees a broker's judgement)."""
    pairs = set(pairs)
    if not pairs:
        return {}
    demand_ids = {d for d, _ in pairs}
    stmt = (select(PairFeedback).where(PairFeedback.demand_id.in_(demand_ids))
            .order_by(PairFeedback.created_at, PairFeedback.id))
    if by is not None:
        stmt = stmt.where(PairFeedback.user_id == by.id)
    latest: dict[Pair, PairFeedback] = {}
    for fb in session.scalars(stmt):
        key = (fb.demand_id, fb.achievement_id)
        if key in pairs:
            latest[key] = fb  # ordered oldest first, so the last one wins
    return latest


def pair_of(item: Demand | Achievement, other: Demand | Achievement) -> Pair:
    """(demand_id, achievement_id) of a listing and its counterpart, whichever side the query was."""
    return (item.id, other.id) if item.kind == "demand" else (other.id, item.id)


@dataclass(frozen=True)
class Reranker:
    """Where the weights fitted by `flask feedback fit` live and their share in live rankings (0: engine order)."""

    path: str = ""
    share: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "share", max(0.0, min(1.0, float(self.share))))

    def order(self, views: list) -> list:
        """The views blended with the learned weights (their order unchanged when the share is 0)."""
        from matchmaking.feedback import feature_vector, load

        model = load(self.path) if self.share > 0 and views else None
        if model is None:
            return views
        learned = model.scores([feature_vector(v.match.score, v.match.breakdown) for v in views])
        share = self.share
        blended = [(1 - share) * v.match.score / 100.0 + share * float(p) for v, p in zip(views, learned)]
        for v, b in zip(views, blended):  # both parts are probabilities: the blend is the score shown, so the list
            v.match.score = min(99.0, round(100.0 * b, 1))  # stays in score order; bands follow the learned part
            v.match.band = band_of(v.match.score)
        return [views[i] for i in sorted(range(len(views)), key=lambda i: -blended[i])]

    def state(self) -> tuple:
        """What the learned part of the ranking depends on now (file, share, file version), for cache keys."""
        import os

        if self.share <= 0:
            return ()
        try:
            return self.path, self.share, os.stat(self.path).st_mtime_ns
        except OSError:
            return self.path, self.share, None


NO_RERANK = Reranker()  # the engine's order


def rerank(session: Session, item: Demand | Achievement, views: list, reranker: Reranker) -> list:
    """Matches in the engine's order (blended with the reranker's learned weights when its share is above 0),
    pairs whose latest feedback is 'not relevant' moved to the end."""
    views = reranker.order(views)
    latest = latest_for_pairs(session, [pair_of(item, v.listing) for v in views])

    def judged_irrelevant(view: Any) -> bool:
        fb = latest.get(pair_of(item, view.listing))
        return fb is not None and fb.outcome == "not_relevant"

    for view in views:
        view.set_aside = judged_irrelevant(view)
    return sorted(views, key=lambda v: v.set_aside)  # stable: the order above within each group


def fit_all(session: Session) -> Any:
    """Fit the re-ranking on all feedback (for use in live rankings)."""
    import numpy as np

    from matchmaking.feedback import fit

    rows = judged(session)
    if len({r.grade > 0 for r in rows}) < 2:
        raise ServiceError("feedback.not_enough", detail="need relevant and not relevant pairs")
    return fit(np.stack([r.features for r in rows]), np.array([r.grade > 0 for r in rows]))


def _validate(outcome: str, reason: Optional[str], note: str) -> Optional[str]:
    if outcome not in OUTCOMES:
        raise ServiceError("feedback.bad_outcome")
    if outcome != "relevant":
        return None
    if reason not in FEEDBACK_REASONS:
        raise ServiceError("feedback.reason_required")
    if reason == "other" and not note.strip():
        raise ServiceError("feedback.note_required")
    return reason


def _open_pair(session: Session, demand_id: int, achievement_id: int) -> tuple[Demand, Achievement]:
    demand, achievement = session.get(Demand, demand_id), session.get(Achievement, achievement_id)
    if demand is None or achievement is None:
        raise NotFound()
    for item in (demand, achievement):
        if item.status != Status.PUBLISHED.value:
            raise ServiceError("feedback.listing_not_open", title=item.title)
    return demand, achievement


def record(session: Session, user: User, demand_id: int, achievement_id: int, outcome: str,
           reason: Optional[str] = None, note: str = "", *, query_kind: str = "demand",
           score: Optional[float] = None, features: Optional[dict] = None) -> PairFeedback:
    """Store an outcome for a pair of open listings (refused on withdrawn or closed ones): by a broker or
    admin for any pair, or by the owner of either listing once both sides accepted an introduction of the
    pair (a party cannot ask to 'introduce': that is done already)."""
    note = (note or "").strip()
    reason = _validate(outcome, reason, note)
    demand, achievement = _open_pair(session, demand_id, achievement_id)
    if not is_reviewer(user):
        if not is_party(session, user, demand, achievement):
            raise NotFound()
        if outcome == "introduce":
            raise ServiceError("feedback.party_introduce")
    fb = PairFeedback(demand_id=demand_id, achievement_id=achievement_id, user_id=user.id,
                      query_kind=query_kind if query_kind in ("demand", "achievement") else "demand",
                      outcome=outcome, reason=reason, note=note, score=score, features=features)
    session.add(fb)
    session.flush()
    if outcome == "introduce":
        from . import pipeline
        pipeline.get_or_open(session, user, demand_id, achievement_id)
    return fb


def is_party(session: Session, user: User, demand: Demand, achievement: Achievement) -> bool:
    """The user is on one side of the pair (its organisation's members too: listings.can_edit_listing) and both
    sides accepted an introduction of it."""
    if not (can_edit_listing(user, demand) or can_edit_listing(user, achievement)):
        return False
    return session.scalar(select(Introduction.id).where(
        Introduction.demand_id == demand.id, Introduction.achievement_id == achievement.id,
        Introduction.status == IntroStatus.ACCEPTED.value).limit(1)) is not None


def history(session: Session, demand_id: int, achievement_id: int) -> list[PairFeedback]:
    """Every feedback on a pair, oldest first."""
    return list(session.scalars(select(PairFeedback).where(
        PairFeedback.demand_id == demand_id, PairFeedback.achievement_id == achievement_id)
        .order_by(PairFeedback.created_at, PairFeedback.id)))


def history_for(session: Session, user: User, demand_id: int, achievement_id: int) -> list[PairFeedback]:
    """The feedback on a pair as this user may read it, oldest first: brokers and admins all of it, the
    owner of either listing once both sides accepted an introduction (is_party) only their own; NotFound
    for anyone else and for a pair that does not exist."""
    demand, achievement = session.get(Demand, demand_id), session.get(Achievement, achievement_id)
    if demand is None or achievement is None:
        raise NotFound()
    rows = history(session, demand_id, achievement_id)
    if is_reviewer(user):
        return rows
    if not is_party(session, user, demand, achievement):
        raise NotFound()
    return [fb for fb in rows if fb.user_id == user.id]


def judged(session: Session) -> list[Any]:
    """The latest feedback per (ranking, pair) that carries the engine's features, as learning rows."""
    from matchmaking.feedback import GRADES, Judged, feature_vector

    latest: dict[tuple[str, int, int], PairFeedback] = {}
    for fb in session.scalars(select(PairFeedback).order_by(PairFeedback.created_at, PairFeedback.id)):
        latest[(fb.query_kind, fb.demand_id, fb.achievement_id)] = fb
    rows = []
    for (kind, demand_id, achievement_id), fb in latest.items():
        if fb.score is None or not fb.features:
            continue
        query_id, item = (demand_id, achievement_id) if kind == "demand" else (achievement_id, demand_id)
        rows.append(Judged(group=f"{kind}:{query_id}", item=item, time=fb.created_at.timestamp(),
                           features=feature_vector(fb.score, fb.features), grade=GRADES[fb.outcome]))
    return rows


def evaluate(session: Session, train_share: float = 0.7, k: int = 10) -> Any:
    """Fit a re-ranking on the earlier feedback and measure nDCG@k before/after on the later feedback."""
    from matchmaking.feedback import evaluate_split

    try:
        return evaluate_split(judged(session), train_share=train_share, k=k)
    except ValueError as err:
        raise ServiceError("feedback.not_enough", detail=str(err)) from None


def clean_features(raw: Any) -> Optional[dict[str, float]]:
    """A breakdown sent back by a form: known component names with numbers in 0-1, else None."""
    from matchmaking.feedback import FEATURES

    if not isinstance(raw, dict):
        return None
    out = {}
    for name in FEATURES[1:]:
        value = raw.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
            out[name] = float(value)
    return out or None


def save_reranker(model: Any, path: Any) -> None:
    """Write a fitted re-ranking (fit_all) where live rankings read it."""
    _save_model(model, path)
