"""`flask feedback evaluate` fits a re-ranking on earlier feedback and reports nDCG on later feedback."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import insert, select

from models import Achievement, Demand, PairFeedback


def _listings(session, make_user, kind, n):
    owner = make_user("company" if kind == "demand" else "university")
    model = Demand if kind == "demand" else Achievement
    extra = {"description": "描述" * 10} if kind == "demand" else {"abstract": "摘要" * 10}
    session.execute(insert(model), [{"title": f"{kind}{i}", "status": "published", "owner_id": owner.id,
                                     "field_id": 1, "modes": ",joint,", "contact_name": "x",
                                     "contact_phone": "13800000009", "contact_email": "x@example.com", **extra}
                                    for i in range(n)])
    session.commit()
    return list(session.scalars(select(model.id).order_by(model.id)))


def _region_feedback(session, make_user):
    """Feedback where brokers say yes mostly when the region fits (the engine's score barely weighs it)."""
    broker = make_user("broker")
    demands, achievements = _listings(session, make_user, "demand", 60), _listings(session, make_user, "achievement", 10)
    rng = np.random.default_rng(5)
    start = datetime(2026, 1, 1)
    rows = []
    for g, d in enumerate(demands):
        for i, a in enumerate(achievements):
            breakdown = {name: float(rng.uniform()) for name in ("semantic", "lexical", "field", "maturity",
                                                                  "budget", "mode")}
            breakdown["region"] = float(rng.integers(0, 2))
            score = 100 * (0.8 * breakdown["semantic"] + 0.2 * rng.uniform())
            outcome = ("introduce" if rng.uniform() < 0.3 else "relevant") if breakdown["region"] == 1.0 \
                and rng.uniform() < 0.9 else "not_relevant"
            rows.append({"demand_id": d, "achievement_id": a, "user_id": broker.id, "query_kind": "demand",
                         "outcome": outcome, "reason": "region" if outcome == "relevant" else None, "note": "",
                         "score": score, "features": breakdown,
                         "created_at": start + timedelta(hours=g, minutes=i)})
    session.execute(insert(PairFeedback), rows)
    session.commit()
    return demands, achievements


def test_evaluate_reports_a_gain_when_feedback_follows_region(app, session, make_user):
    _region_feedback(session, make_user)
    result = app.test_cli_runner().invoke(args=["feedback", "evaluate", "--train-share", "0.7"])
    assert result.exit_code == 0, result.output
    engine = float(result.output.split("engine order:")[1].split()[0])
    learned = float(result.output.split("learned order:")[1].split()[0])
    assert learned > engine + 0.15
    assert "420 judged pairs to fit on, 180 held out" in result.output and "region +" in result.output


def test_evaluate_without_feedback_says_what_is_missing(app):
    result = app.test_cli_runner().invoke(args=["feedback", "evaluate"])
    assert result.exit_code == 2
    assert "反馈还不足以学习" in result.output


def test_bad_train_share_is_rejected(app):
    result = app.test_cli_runner().invoke(args=["feedback", "evaluate", "--train-share", "1.5"])
    assert result.exit_code == 2 and "train-share" in result.output


def test_fit_saves_weights_that_reorder_live_rankings_when_enabled(app, session, make_user):
    from matchmaking.engine import Match
    from services import feedback
    from services.matching import MatchView
    from web.reports import reranker_path

    demands, achievements = _region_feedback(session, make_user)
    out = app.test_cli_runner().invoke(args=["feedback", "fit"])
    assert out.exit_code == 0, out.output
    assert "saved weights fitted on 600 judged pairs" in out.output
    item = session.get(Demand, demands[0])
    fresh = [a for a in achievements[:2]]  # pairs of demand 0 with feedback: the latest one counts
    session.query(PairFeedback).filter(PairFeedback.demand_id == demands[0]).delete()
    session.commit()
    far = Match(id=fresh[0], score=80.0, breakdown={"semantic": 0.8, "region": 0.0})
    near = Match(id=fresh[1], score=70.0, breakdown={"semantic": 0.7, "region": 1.0})
    views = [MatchView(session.get(Achievement, fresh[0]), far), MatchView(session.get(Achievement, fresh[1]), near)]
    off, half = feedback.Reranker(reranker_path(app), 0.0), feedback.Reranker(reranker_path(app), 0.5)
    assert [v.match.id for v in feedback.rerank(session, item, views, off)] == [fresh[0], fresh[1]]
    assert [v.match.id for v in feedback.rerank(session, item, views, half)] == [fresh[1], fresh[0]]


def test_fit_without_feedback_is_a_clear_error(app):
    result = app.test_cli_runner().invoke(args=["feedback", "fit"])
    assert result.exit_code == 2 and "反馈还不足以学习" in result.output
