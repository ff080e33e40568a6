"""Roadshow scores at a programme's scale (issue 22, services/roadshow_scoring): proposing presenters and the live
coverage score every (open demand, achievement) pair at once (batch_matrix), with the engine's calibrated scores: on
a small programme equal to the engine's ranking achievement -> demands (reverse_matrix) pair by pair, and the same
proposal as the first path (one engine query per open demand, roadshows.score_matrix_per_demand)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from matchmaking.bands import is_match
from models import Demand
from services import roadshow_scoring as scoring
from services import roadshows
from tests.services.test_roadshows import SOLID_ACH, SOLID_DEMAND, NICKEL_TWIN, roadshow_data

MORE_DEMANDS = [
    dict(title="高镍三元正极材料循环寿命提升", description="我司高镍三元正极在高温循环中容量衰减快，希望引入表面包覆或掺杂改性技术，"
         "提升1000次循环容量保持率。", indicators="循环保持率≥85%", keywords="高镍三元,包覆,循环寿命"),
    dict(title="动力电池回收中锂的高效提取", description="希望获得退役动力电池黑粉中锂的选择性提取工艺，回收率高、废水少，可放大到千吨级产线。",
         indicators="锂回收率≥90%", keywords="电池回收,锂提取,湿法冶金"),
    dict(title="储能电站电池簇热失控预警", description="储能电站需要基于多传感器的电池热失控早期预警方法，降低误报率，提前发现隐患。",
         indicators="预警提前≥10分钟", keywords="储能,热失控,预警"),
]


@pytest.fixture
def programme(session, make_user, make_listing):
    """Five open demands of five companies, three achievements of a university (two near-twins)."""
    broker, uni = make_user("broker"), make_user("university", org="西北大学")
    demands = [make_listing("demand", make_user("company", org=f"企业{i}"), reviewer=broker, **over)
               for i, over in enumerate([{}, SOLID_DEMAND, *MORE_DEMANDS])]
    achievements = [make_listing("achievement", uni, reviewer=broker, **over) for over in ({}, NICKEL_TWIN, SOLID_ACH)]
    return dict(broker=broker, demands=demands, achievements=achievements)


class Counting:
    """The real runtime, counting what the engine is asked: query encodings by kind and rankings by side."""

    def __init__(self, runtime: Any) -> None:
        self.runtime, self.encoded, self.ranked = runtime, [], []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtime, name)

    def query_vectors(self, doc: Any) -> Any:
        self.encoded.append(doc.kind)
        return self.runtime.query_vectors(doc)

    def matcher(self, kind: str, session: Any) -> Any:
        real, ranked = self.runtime.matcher(kind, session), self.ranked

        class Matcher:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def rank(self, doc: Any, **kw: Any) -> Any:
                ranked.append((doc.kind, kind))
                return real.rank(doc, **kw)

        return Matcher()


@pytest.mark.model
def test_proposing_ranks_nothing_and_encodes_no_demand(session, programme, app, monkeypatch):
    runtime = Counting(app.extensions["matching"])
    monkeypatch.setattr(roadshows, "score_matrix_per_demand",
                        lambda *a: pytest.fail("the per-demand path is not used any more"))
    rs = roadshows.create_roadshow(session, programme["broker"], roadshow_data(presentation_slots=2))
    proposal = roadshows.propose_presenters(session, runtime, rs)
    assert proposal.demands == 5 and proposal.covered > 0
    assert runtime.encoded == ["achievement"] * 3  # one query per candidate achievement, no demand encoded
    assert runtime.ranked == []  # titled achievements: every pair scored at once, no engine ranking
    runtime.encoded.clear()
    coverage = roadshows.presenter_coverage(session, runtime, rs)
    assert runtime.encoded == ["achievement"] * len(rs.presenters) and runtime.ranked == []
    assert coverage.covered == proposal.covered


@pytest.mark.model
def test_the_batch_scores_are_the_engine_rankings_scores_on_a_small_programme(session, programme, app):
    """Each achievement's ranking over the 5 open demands (depth 300: all of them) scores every pair; the batch
    gives each the same calibrated score (one decimal; float sums may differ in the last bit: one step)."""
    runtime = app.extensions["matching"]
    rs = roadshows.create_roadshow(session, programme["broker"], roadshow_data(presentation_slots=2))
    demands, achievements = roadshows.open_demands(session, rs), roadshows.candidate_achievements(session, rs)
    batch = roadshows.score_matrix(runtime, session, demands, achievements)
    ranked = scoring.reverse_matrix(runtime, session, demands, achievements)
    assert batch.shape == (5, 3) and (roadshows.matches_only(batch) > 0).sum() >= 3
    np.testing.assert_allclose(batch, ranked, atol=0.1, rtol=0)
    assert ((roadshows.matches_only(batch) > 0) == (roadshows.matches_only(ranked) > 0)).all()


@pytest.mark.model
def test_the_bound_leaves_out_only_pairs_that_cannot_be_a_match(session, programme, app, monkeypatch):
    """At scale only pairs whose text evidence can reach the match floor get head coverage and compatibility:
    every match keeps its exact score, and what reads 0 was not a match."""
    runtime = app.extensions["matching"]
    rs = roadshows.create_roadshow(session, programme["broker"], roadshow_data(presentation_slots=2))
    demands, achievements = roadshows.open_demands(session, rs), roadshows.candidate_achievements(session, rs)
    exact = roadshows.score_matrix(runtime, session, demands, achievements)
    monkeypatch.setattr(scoring, "EXACT_PAIRS", 0)
    bounded = roadshows.score_matrix(runtime, session, demands, achievements)
    assert (roadshows.matches_only(exact) > 0).any()
    assert np.array_equal(roadshows.matches_only(bounded), roadshows.matches_only(exact))
    assert ((bounded == exact) | (bounded == 0)).all()
    assert (bounded == 0).sum() > (exact == 0).sum()  # the bound did leave pairs out (weak ones read 0)


@pytest.mark.model
def test_an_untitled_achievement_is_ranked_by_the_engine(session, programme, app):
    """The fused stratum (no title) is relative to a ranking's candidates: that column comes from the engine."""
    runtime = Counting(app.extensions["matching"])
    rs = roadshows.create_roadshow(session, programme["broker"], roadshow_data(presentation_slots=2))
    demands, achievements = roadshows.open_demands(session, rs), roadshows.candidate_achievements(session, rs)
    session.flush()
    with session.no_autoflush:
        achievements[0].title = ""
        batch = roadshows.score_matrix(runtime, session, demands, achievements)
        assert runtime.ranked == [("achievement", "demand")]
        ranked = scoring.reverse_matrix(app.extensions["matching"], session, demands, achievements[:1])
        session.expire(achievements[0])
    assert np.array_equal(batch[:, :1], ranked)


@pytest.mark.model
def test_the_new_path_agrees_with_the_per_demand_path_on_a_small_programme(session, programme, app, monkeypatch):
    runtime = app.extensions["matching"]
    rs = roadshows.create_roadshow(session, programme["broker"], roadshow_data(presentation_slots=2))
    demands, achievements = roadshows.open_demands(session, rs), roadshows.candidate_achievements(session, rs)
    new = roadshows.matches_only(roadshows.score_matrix(runtime, session, demands, achievements))
    old = roadshows.matches_only(roadshows.score_matrix_per_demand(runtime, session, demands, achievements))
    # the same demands are matched by someone, and each by the same best achievement
    assert (new.max(axis=1) > 0).tolist() == (old.max(axis=1) > 0).tolist()
    assert [int(r.argmax()) for r in new if r.max() > 0] == [int(r.argmax()) for r in old if r.max() > 0]
    proposal = roadshows.propose_presenters(session, runtime, rs)
    chosen_new = sorted(p.achievement_id for p in proposal.presenters)
    covered_new = (proposal.demands, proposal.covered)
    # the proposal reads the open demands' ids and parties only; the first path encodes each demand's text
    monkeypatch.setattr(roadshows, "score_matrix", lambda rt, s, rows, achievements: roadshows.score_matrix_per_demand(
        rt, s, [s.get(Demand, r.id) for r in rows], achievements))
    proposal = roadshows.propose_presenters(session, runtime, rs)
    assert sorted(p.achievement_id for p in proposal.presenters) == chosen_new
    assert (proposal.demands, proposal.covered) == covered_new


class FakeStore:
    def __init__(self, vectors: dict[int, list[float]]) -> None:
        self.v = vectors

    def vectors(self, ids: Any) -> np.ndarray:
        return np.asarray([self.v.get(i, [0.0, 0.0]) for i in ids], dtype=np.float32)


def test_the_candidate_shortlist_keeps_the_achievements_nearest_to_most_open_demands(monkeypatch):
    """Vector index only (no engine): each open demand votes for its nearest candidates; most votes win."""
    monkeypatch.setattr(scoring, "VOTES_PER_DEMAND", 1)
    demands = [SimpleNamespace(id=i) for i in range(1, 7)]
    dstore = FakeStore({1: [1, 0], 2: [1, 0.1], 3: [1, -0.1], 4: [0, 1], 5: [0.1, 1], 6: [0, 0]})  # 6: no vector
    candidates = [SimpleNamespace(id=i) for i in (10, 11, 12, 13)]
    astore = FakeStore({10: [1, 0], 11: [0, 1], 12: [-1, 0], 13: [0.7, 0.7]})
    remembered = {}
    runtime = SimpleNamespace(store=lambda kind: dstore if kind == "demand" else astore, stamps=lambda kinds: [1, 1],
                              remember=lambda key, compute: remembered[key] if key in remembered
                              else remembered.setdefault(key, compute()))
    assert [a.id for a in scoring.shortlist_candidates(runtime, demands, candidates, 2)] == [10, 11]
    assert scoring.shortlist_candidates(runtime, demands, candidates, 4) is candidates  # few enough: all
    monkeypatch.setattr(scoring, "VOTES_PER_DEMAND", 2)  # 13 is every demand's second nearest: 5 votes, 10 has 3
    assert [a.id for a in scoring.shortlist_candidates(runtime, demands, candidates, 2)] == [10, 13]
    assert len(remembered) == 2  # the votes are remembered per vote count (and ids and index stamps)
    monkeypatch.setattr(scoring, "VOTES_PER_DEMAND", 1)
    dstore.v[1] = dstore.v[2] = dstore.v[3] = [0, 1]  # re-encoded demands: 11 is now every demand's nearest
    assert [a.id for a in scoring.shortlist_candidates(runtime, demands, candidates, 1)] == [10]  # same stamps
    runtime.stamps = lambda kinds: [1, 2]  # the index write that stored those vectors
    assert [a.id for a in scoring.shortlist_candidates(runtime, demands, candidates, 1)] == [11]
    assert scoring.shortlist_size(SimpleNamespace(presentation_slots=2)) == scoring.CANDIDATE_SHORTLIST
    assert scoring.shortlist_size(SimpleNamespace(presentation_slots=20)) == 20 * scoring.CANDIDATES_PER_SLOT


def test_reverse_matrix_scores_conflicted_pairs_zero_and_leaves_out_demands_beyond_the_depth():
    """One ranking per achievement over the open demands; same owner or organisation: 0."""
    demands = [SimpleNamespace(id=i, owner_id=100 + i, organisation_id=200 + i) for i in range(1, 5)]
    achievements = [SimpleNamespace(id=50, owner_id=101, organisation_id=None, kind="achievement"),
                    SimpleNamespace(id=51, owner_id=999, organisation_id=203, kind="achievement")]
    asked = []

    class Matcher:
        def rank(self, doc: Any, k: int, allowed_ids: set, **kw: Any) -> Any:
            asked.append((doc, k, sorted(allowed_ids)))
            return [SimpleNamespace(id=i, score=90.0 - i) for i in sorted(allowed_ids)][:k], None

    runtime = SimpleNamespace(matcher=lambda kind, s: Matcher(), query_vectors=lambda doc: (None, None))
    import services.roadshow_scoring as mod
    original = mod.to_doc
    mod.to_doc = lambda a: a
    try:
        m = scoring.reverse_matrix(runtime, None, demands, achievements, k=3)
    finally:
        mod.to_doc = original
    assert [(k, ids) for _doc, k, ids in asked] == [(3, [1, 2, 3, 4])] * 2
    assert m[:, 0].tolist() == [0.0, 88.0, 87.0, 0.0]  # demand 1: same owner; demand 4: beyond the depth
    assert m[:, 1].tolist() == [89.0, 88.0, 0.0, 0.0]  # demand 3: same organisation
    assert is_match(89.0)
