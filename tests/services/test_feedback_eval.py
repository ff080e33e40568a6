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


def test_evaluate_reports_a_gain_when_feedback_follows_region(app, session, make_user):
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
