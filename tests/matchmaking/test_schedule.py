"""The roadshow optimiser: exact against brute force, never violates a constraint, names what binds."""
from __future__ import annotations

import itertools
import random
from collections import defaultdict

import numpy as np
import pytest

from matchmaking.schedule import (Meeting, ScheduleInputError, ScheduleProblem, ScheduleResult, Wish, check,
                                  coverage_of, diagnose, select_presenters, solve)


def brute_force(problem: ScheduleProblem) -> float:
    """Best total score by trying every slot (or none) for every allowed wish."""
    allowed = problem.allowed()
    best = 0.0
    for slots in itertools.product(range(-1, problem.slots), repeat=len(allowed)):
        if _feasible(problem, allowed, slots):
            best = max(best, sum(w.score for w, s in zip(allowed, slots) if s >= 0))
    return best


def _feasible(problem: ScheduleProblem, wishes: list[Wish], slots: tuple[int, ...]) -> bool:
    per_slot: dict[int, int] = defaultdict(int)
    busy: set = set()
    count: dict = defaultdict(int)
    for w, s in zip(wishes, slots):
        if s < 0:
            continue
        per_slot[s] += 1
        for key in (("c", w.company), ("p", w.presenter)):
            if (key, s) in busy:
                return False
            busy.add((key, s))
            count[key] += 1
        if count[("c", w.company)] > problem.cap("company", w.company) or \
                count[("p", w.presenter)] > problem.cap("presenter", w.presenter) or per_slot[s] > problem.tables:
            return False
    return True


def random_problem(rng: random.Random, companies: int, presenters: int, wishes: int, slots: int, tables: int,
                   conflicts: int = 0, integer_scores: bool = False) -> ScheduleProblem:
    pairs = rng.sample([(c, p) for c in range(companies) for p in range(presenters)],
                       min(wishes, companies * presenters))
    score = (lambda: float(rng.randint(1, 5))) if integer_scores else (lambda: round(rng.uniform(30, 100), 2))
    ws = [Wish(f"c{c}", f"p{p}", score()) for c, p in pairs]
    conflicted = {(w.company, w.presenter) for w in rng.sample(ws, min(conflicts, len(ws)))}
    caps = {f"p{p}": rng.randint(0, slots + 1) for p in range(presenters)}
    ccaps = {f"c{c}": rng.randint(1, slots + 1) for c in range(companies)}
    return ScheduleProblem(slots=slots, tables=tables, wishes=ws, presenter_cap=caps, company_cap=ccaps,
                           conflicts=conflicted)


@pytest.mark.parametrize("seed", range(60))
def test_optimum_equals_brute_force_on_small_instances(seed):
    rng = random.Random(seed)
    problem = random_problem(rng, companies=rng.randint(1, 4), presenters=rng.randint(1, 3),
                             wishes=rng.randint(1, 7), slots=rng.randint(1, 3), tables=rng.randint(1, 3),
                             conflicts=rng.randint(0, 1), integer_scores=seed % 2 == 0)
    result = solve(problem)
    assert check(problem, result) == []
    assert result.total_score == pytest.approx(brute_force(problem), abs=1e-6)


@pytest.mark.parametrize("seed", range(40))
def test_no_constraint_is_ever_violated_on_random_instances(seed):
    rng = random.Random(1000 + seed)
    problem = random_problem(rng, companies=rng.randint(5, 40), presenters=rng.randint(2, 12),
                             wishes=rng.randint(10, 150), slots=rng.randint(1, 10), tables=rng.randint(1, 8),
                             conflicts=rng.randint(0, 5))
    result = solve(problem)
    assert check(problem, result) == []
    scheduled = {(m.company, m.presenter) for m in result.meetings}
    assert not scheduled & problem.conflicts
    assert len(scheduled) + len(result.unscheduled) == len(problem.allowed())
    # diagnosis is complete: nothing binds exactly when everything allowed is scheduled
    relaxable = [b for b in result.bindings if b.code != "conflict"]
    assert bool(relaxable) == (not result.complete)


def test_check_catches_each_kind_of_violation():
    problem = ScheduleProblem(slots=2, tables=1, wishes=[Wish("a", "x", 50), Wish("b", "x", 40)],
                              presenter_cap=1, conflicts={("b", "x")})
    bad = ScheduleResult([Meeting("a", "x", 0, 0, 50), Meeting("b", "x", 0, 0, 40), Meeting("c", "y", 5, 0, 1)],
                         [], [], 91)
    errors = " | ".join(check(problem, bad))
    for expected in ("not wished", "conflicted pair", "outside the grid", "table used twice", "double-booked",
                     "over cap"):
        assert expected in errors


def test_more_wishes_than_table_slots_names_slots_and_tables_to_add():
    wishes = [Wish(f"c{i}", f"p{i % 6}", 50 + i) for i in range(12)]
    problem = ScheduleProblem(slots=5, tables=2, wishes=wishes)
    result = solve(problem)
    assert len(result.meetings) == 10 and len(result.unscheduled) == 2
    # the two lowest scores are the ones left out
    assert sorted(w.score for w in result.unscheduled) == [50, 51]
    [binding] = result.bindings
    assert binding.code == "table_slots"
    assert binding.params == {"wished": 12, "capacity": 10, "slots": 5, "tables": 2, "add_slots": 1,
                              "add_tables": 1}


def test_presenter_over_cap_is_named_and_keeps_the_best_meetings():
    wishes = [Wish(f"c{i}", "star", s) for i, s in enumerate([90, 80, 70, 60])]
    result = solve(ScheduleProblem(slots=4, tables=4, wishes=wishes, presenter_cap=2))
    assert sorted(m.score for m in result.meetings) == [80, 90]
    assert [(b.code, b.params["who"], b.params["wished"], b.params["cap"]) for b in result.bindings] == \
        [("presenter_cap", "star", 4, 2)]


def test_presenter_wished_more_often_than_there_are_slots():
    wishes = [Wish(f"c{i}", "star", 50) for i in range(4)]
    result = solve(ScheduleProblem(slots=3, tables=4, wishes=wishes))
    assert len(result.meetings) == 3
    assert [b.code for b in result.bindings] == ["presenter_slots"]


def test_conflicted_pairs_are_never_scheduled_and_reported():
    wishes = [Wish("c1", "p1", 99), Wish("c1", "p2", 10)]
    result = solve(ScheduleProblem(slots=2, tables=2, wishes=wishes, conflicts={("c1", "p1")}))
    assert [(m.company, m.presenter) for m in result.meetings] == [("c1", "p2")]
    assert result.complete  # everything allowed was scheduled
    assert [(b.code, b.params) for b in result.bindings] == [("conflict", {"company": "c1", "presenter": "p1"})]


def test_a_company_meets_different_presenters_in_different_slots():
    wishes = [Wish("c1", p, 50) for p in ("p1", "p2", "p3")] + [Wish("c2", p, 40) for p in ("p1", "p2", "p3")]
    result = solve(ScheduleProblem(slots=3, tables=2, wishes=wishes))
    assert len(result.meetings) == 6 and result.complete and result.bindings == []
    assert check(ScheduleProblem(slots=3, tables=2, wishes=wishes), result) == []


def test_slots_are_balanced_so_tables_suffice():
    # a star plus a perfect matching: a naive colouring could put 4 meetings in one slot with 3 tables
    wishes = [Wish(f"c{i}", f"p{i}", 50) for i in range(6)] + [Wish("c0", f"p{i}", 40) for i in range(1, 3)]
    problem = ScheduleProblem(slots=3, tables=3, wishes=wishes)
    result = solve(problem)
    assert len(result.meetings) == 8 and check(problem, result) == []


def test_zero_score_wish_still_gets_a_free_seat():
    result = solve(ScheduleProblem(slots=1, tables=2, wishes=[Wish("a", "x", 0.0), Wish("b", "y", 70)]))
    assert len(result.meetings) == 2


def test_empty_and_degenerate_problems():
    assert solve(ScheduleProblem(slots=3, tables=2, wishes=[])).meetings == []
    result = solve(ScheduleProblem(slots=0, tables=2, wishes=[Wish("a", "x", 5)]))
    assert result.meetings == [] and result.bindings[0].code == "table_slots"
    assert result.bindings[0].params["add_slots"] == 1


@pytest.mark.parametrize("problem", [
    ScheduleProblem(slots=-1, tables=1, wishes=[]),
    ScheduleProblem(slots=1, tables=1, wishes=[Wish("a", "x", 1), Wish("a", "x", 2)]),
    ScheduleProblem(slots=1, tables=1, wishes=[Wish("a", "x", float("nan"))]),
    ScheduleProblem(slots=1, tables=1, wishes=[Wish("a", "x", 1)], presenter_cap=-1),
])
def test_malformed_problems_are_refused(problem):
    with pytest.raises(ScheduleInputError):
        solve(problem)


def test_diagnose_alone_matches_solve():
    problem = ScheduleProblem(slots=2, tables=1, wishes=[Wish("a", "x", 1), Wish("b", "y", 1), Wish("c", "z", 1)])
    assert diagnose(problem) == solve(problem).bindings


def test_a_larger_schedule_is_solved_quickly():
    import time

    rng = random.Random(7)
    problem = random_problem(rng, companies=120, presenters=20, wishes=600, slots=12, tables=15)
    started = time.perf_counter()
    result = solve(problem)
    assert time.perf_counter() - started < 20
    assert check(problem, result) == []


# ------------------------------------------------------------------------------ presenter selection

def brute_selection(sim: np.ndarray, w: np.ndarray, k: int) -> float:
    return max(coverage_of(sim, w, list(c)) for c in itertools.combinations(range(sim.shape[1]), k))


@pytest.mark.parametrize("seed", range(30))
def test_presenter_selection_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 9)), int(rng.integers(1, 8))
    sim = rng.uniform(0, 100, size=(rows, cols)) * (rng.uniform(size=(rows, cols)) > 0.4)
    w = rng.uniform(0.5, 2, size=rows)
    k = int(rng.integers(1, cols + 1))
    sel = select_presenters(sim, k, weights=w)
    assert len(sel.chosen) == k and sel.optimal
    assert sel.coverage == pytest.approx(brute_selection(sim, w, k))


def test_coverage_prefers_complementary_presenters_over_top_similarity():
    # two near-duplicates score highest on demand 0 and 1; a third alone covers demands 2 and 3
    sim = np.array([[90, 89, 0], [88, 87, 0], [0, 0, 70], [0, 0, 72]], dtype=float)
    sel = select_presenters(sim, 2)
    assert 2 in sel.chosen and len(sel.chosen) == 2
    assert sel.covered_by[2] == 2 and sel.covered_by[3] == 2
    top_by_total = list(np.argsort(-sim.sum(axis=0))[:2])
    assert 2 not in top_by_total  # plain top similarity would have missed demands 2 and 3


def test_required_and_excluded_presenters_are_respected():
    sim = np.array([[90, 10, 0], [80, 20, 0], [0, 0, 5]], dtype=float)
    sel = select_presenters(sim, 2, required=[1], excluded=[0])
    assert sel.chosen == [1, 2]
    assert sel.covered_by == [1, 1, 2]
    with pytest.raises(ScheduleInputError):
        select_presenters(sim, 1, required=[1, 2])


def test_uncovered_demands_have_no_presenter():
    sim = np.array([[50, 0], [0, 0]], dtype=float)
    sel = select_presenters(sim, 1)
    assert sel.chosen == [0] and sel.covered_by == [0, None]
    assert sel.coverage == sel.max_coverage == 50
