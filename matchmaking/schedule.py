"""Roadshow optimisation: which achievements to present, and the 1:1 meeting schedule.

Two problems, both solved exactly with SciPy's HiGHS MILP solver (``scipy.optimize.milp``):

* **Presenter selection** is a weighted facility-location problem: choose ``k`` presenters so that
  the sum over open demands of ``weight * best similarity among the chosen`` is maximal (coverage, so
  two near-identical achievements do not both take a slot while a demand stays uncovered).
* **The meeting schedule** is split into two exact stages. Stage 1 chooses *which* wished meetings to
  hold: a bipartite b-matching (companies x presenters; each side capped by ``min(cap, slots)``; at
  most ``slots * tables`` meetings) solved as a MILP whose LP is a network flow, hence integral.
  Stage 2 places the chosen meetings in slots: a bipartite graph with maximum degree <= ``slots``
  has a proper edge colouring with ``slots`` colours (Koenig), and an *equitable* one whose colour
  classes differ by at most one, so no slot needs more than ``ceil(n / slots) <= tables`` tables.
  Stage 2 therefore never loses a meeting stage 1 chose, and the total is the true optimum.

When not every wished meeting fits, :func:`diagnose` names each binding constraint with numbers (a
structured result the UI translates). Those checks are also complete: by max-flow/min-cut, if no
single company, presenter or the table-slot total is over its limit, everything wished fits.

This module imports numpy and scipy only (no flask, sqlalchemy, models or services).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

Id = Hashable
Cap = Union[int, Mapping[Id, int]]
# Each wished meeting is worth its score plus this, so a zero-score wish still beats an empty seat,
# while any real score difference (>= 1e-3) outweighs the count of meetings.
COUNT_BONUS = 1e-6


class ScheduleInputError(ValueError):
    """The problem itself is malformed (negative slots, duplicate wishes, ...)."""


# ----------------------------------------------------------------------------- presenter selection

@dataclass
class Selection:
    """Chosen presenters (column indices), the coverage they reach, and who covers each demand."""

    chosen: list[int]
    coverage: float          # sum of weight * best similarity among the chosen
    max_coverage: float      # the same with every candidate chosen (an upper bound)
    covered_by: list[Optional[int]]  # per demand row: the chosen column covering it best, or None
    optimal: bool            # True when the MILP proved optimality


def coverage_of(similarity: np.ndarray, weights: np.ndarray, chosen: Sequence[int]) -> float:
    """Weighted coverage of a set of columns: each row counts its best similarity among them."""
    if not len(chosen) or not similarity.size:
        return 0.0
    return float(np.dot(weights, similarity[:, list(chosen)].max(axis=1)))


def select_presenters(similarity: np.ndarray, k: int, weights: Optional[np.ndarray] = None,
                      required: Iterable[int] = (), excluded: Iterable[int] = (),
                      time_limit: float = 20.0) -> Selection:
    """Choose k columns maximising weighted coverage of the rows (demands), exactly via MILP."""
    sim = np.clip(np.nan_to_num(np.asarray(similarity, dtype=float)), 0.0, None)
    if sim.ndim != 2:
        raise ScheduleInputError("similarity must be a demands x candidates matrix")
    n_rows, n_cols = sim.shape
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=float)
    required, excluded = sorted(set(required)), set(excluded)
    if set(required) & excluded or k < 0 or w.shape != (n_rows,) or (w < 0).any():
        raise ScheduleInputError("bad selection problem")
    allowed = [j for j in range(n_cols) if j not in excluded]
    k = min(k, len(allowed))
    if len(required) > k:
        raise ScheduleInputError("more required presenters than places")
    if k == 0:
        return Selection([], 0.0, coverage_of(sim, w, allowed), [None] * n_rows, True)
    chosen, optimal = _facility_milp(sim, w, k, allowed, required, time_limit)
    greedy = _greedy(sim, w, k, allowed, required)
    if coverage_of(sim, w, greedy) > coverage_of(sim, w, chosen) + 1e-9:
        chosen, optimal = greedy, False  # only when the solver stopped early
    return Selection(sorted(chosen), coverage_of(sim, w, chosen), coverage_of(sim, w, allowed),
                     _covered_by(sim, chosen), optimal)


def _facility_milp(sim: np.ndarray, w: np.ndarray, k: int, allowed: list[int], required: list[int],
                   time_limit: float) -> tuple[list[int], bool]:
    """x_j (open column j), z_ij (row i served by j): max sum w_i s_ij z_ij, z_ij <= x_j, sum_j z_ij <= 1."""
    n_rows, m = sim.shape[0], len(allowed)
    pairs = [(i, a) for i in range(n_rows) for a in range(m) if sim[i, allowed[a]] > 0]
    n_var = m + len(pairs)
    c = np.zeros(n_var)
    for v, (i, a) in enumerate(pairs):
        c[m + v] = -w[i] * sim[i, allowed[a]]
    rows, cols, vals, lo, hi = [], [], [], [], []

    def add(entries: list[tuple[int, float]], lower: float, upper: float) -> None:
        r = len(lo)
        for col, val in entries:
            rows.append(r), cols.append(col), vals.append(val)
        lo.append(lower), hi.append(upper)

    add([(a, 1.0) for a in range(m)], k, k)
    for v, (i, a) in enumerate(pairs):
        add([(m + v, 1.0), (a, -1.0)], -np.inf, 0.0)
    by_row: dict[int, list[int]] = defaultdict(list)
    for v, (i, _) in enumerate(pairs):
        by_row[i].append(m + v)
    for i, vs in by_row.items():
        add([(v, 1.0) for v in vs], 0.0, 1.0)
    lower = np.zeros(n_var)
    for j in required:
        lower[allowed.index(j)] = 1.0
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lo), n_var))
    integrality = np.r_[np.ones(m), np.zeros(len(pairs))]  # z is integral once x is
    res = milp(c, constraints=LinearConstraint(matrix, lo, hi), integrality=integrality,
               bounds=Bounds(lower, np.ones(n_var)), options={"time_limit": time_limit})
    if res.x is None:
        return _greedy(sim, w, k, allowed, required), False
    chosen = [allowed[a] for a in range(m) if res.x[a] > 0.5]
    return chosen, res.status == 0


def _greedy(sim: np.ndarray, w: np.ndarray, k: int, allowed: list[int], required: list[int]) -> list[int]:
    """The classic (1 - 1/e) greedy for coverage; a fallback when the MILP hits its time limit."""
    chosen = list(required)
    best = sim[:, chosen].max(axis=1) if chosen else np.zeros(sim.shape[0])
    while len(chosen) < k:
        gains = [(float(np.dot(w, np.maximum(best, sim[:, j]))), -j) for j in allowed if j not in chosen]
        _, neg_j = max(gains)
        chosen.append(-neg_j)
        best = np.maximum(best, sim[:, -neg_j])
    return chosen


def _covered_by(sim: np.ndarray, chosen: Sequence[int]) -> list[Optional[int]]:
    out: list[Optional[int]] = []
    for i in range(sim.shape[0]):
        if not chosen:
            out.append(None)
            continue
        j = max(chosen, key=lambda c: (sim[i, c], -c))
        out.append(j if sim[i, j] > 0 else None)
    return out


# ----------------------------------------------------------------------------------- the schedule

@dataclass(frozen=True)
class Wish:
    """A meeting a company wishes (or was matched) to have with a presenter, worth a match score."""

    company: Id
    presenter: Id
    score: float


@dataclass(frozen=True)
class Meeting:
    """One scheduled meeting: a wish placed at a (slot, table); both numbered from 0."""

    company: Id
    presenter: Id
    slot: int
    table: int
    score: float


@dataclass(frozen=True)
class Binding:
    """A constraint that kept wished meetings out, with the numbers the UI needs to say what to relax.

    codes: ``table_slots`` (wished, capacity, slots, tables, add_slots, add_tables),
    ``presenter_cap`` / ``company_cap`` (who, wished, cap), ``presenter_slots`` / ``company_slots``
    (who, wished, slots: the person cannot attend more meetings than there are slots),
    ``conflict`` (company, presenter: never scheduled, not relaxable).
    """

    code: str
    params: dict


@dataclass
class ScheduleProblem:
    """Slots x tables, wishes, caps (one number for all, or per id) and conflicted pairs."""

    slots: int
    tables: int
    wishes: list[Wish]
    presenter_cap: Cap = 10**9
    company_cap: Cap = 10**9
    conflicts: set[tuple[Id, Id]] = field(default_factory=set)

    def cap(self, side: str, who: Id) -> int:
        """The meeting cap of a company or presenter."""
        cap = self.presenter_cap if side == "presenter" else self.company_cap
        return int(cap.get(who, 10**9)) if isinstance(cap, Mapping) else int(cap)

    def allowed(self) -> list[Wish]:
        """Wishes that may be scheduled at all (conflicted pairs removed)."""
        return [w for w in self.wishes if (w.company, w.presenter) not in self.conflicts]


@dataclass
class ScheduleResult:
    """The optimal schedule, what was left out, and which constraints bind."""

    meetings: list[Meeting]
    unscheduled: list[Wish]
    bindings: list[Binding]
    total_score: float

    @property
    def complete(self) -> bool:
        """True when every wished, non-conflicted meeting is scheduled."""
        return not self.unscheduled


def validate(problem: ScheduleProblem) -> None:
    """Refuse malformed problems before solving (the UI validates earlier; this guards other callers)."""
    if problem.slots < 0 or problem.tables < 0:
        raise ScheduleInputError("slots and tables must not be negative")
    pairs = [(w.company, w.presenter) for w in problem.wishes]
    if len(pairs) != len(set(pairs)):
        raise ScheduleInputError("a company wishes the same presenter twice")
    if any(not math.isfinite(w.score) for w in problem.wishes):
        raise ScheduleInputError("scores must be finite")
    for side in ("company", "presenter"):
        ids = {getattr(w, side) for w in problem.wishes}
        if any(problem.cap(side, i) < 0 for i in ids):
            raise ScheduleInputError("caps must not be negative")


def solve(problem: ScheduleProblem) -> ScheduleResult:
    """The schedule of maximal total score subject to every constraint (exact)."""
    validate(problem)
    allowed = problem.allowed()
    chosen = _choose_meetings(problem, allowed)
    slot_of = _equitable_colouring([(w.company, w.presenter) for w in chosen], problem.slots)
    meetings = _with_tables(chosen, slot_of)
    picked = {(m.company, m.presenter) for m in meetings}
    unscheduled = [w for w in allowed if (w.company, w.presenter) not in picked]
    return ScheduleResult(meetings, unscheduled, diagnose(problem),
                          float(sum(m.score for m in meetings)))


def _limit(problem: ScheduleProblem, side: str, who: Id) -> int:
    return min(problem.cap(side, who), problem.slots)


def _choose_meetings(problem: ScheduleProblem, wishes: list[Wish]) -> list[Wish]:
    """Stage 1: the best set of meetings under per-person and table-slot limits (a flow; MILP exact)."""
    if not wishes or problem.slots == 0 or problem.tables == 0:
        return []
    n = len(wishes)
    rows, cols, upper = [], [], []
    for side in ("company", "presenter"):
        groups: dict[Id, list[int]] = defaultdict(list)
        for v, w in enumerate(wishes):
            groups[getattr(w, side)].append(v)
        for who, vs in groups.items():
            r = len(upper)
            rows += [r] * len(vs)
            cols += vs
            upper.append(_limit(problem, side, who))
    r = len(upper)
    rows += [r] * n
    cols += list(range(n))
    upper.append(problem.slots * problem.tables)
    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(upper), n))
    c = -np.array([max(w.score, 0.0) + COUNT_BONUS for w in wishes])
    res = milp(c, constraints=LinearConstraint(matrix, -np.inf, np.array(upper, dtype=float)),
               integrality=np.ones(n), bounds=Bounds(0, 1))
    if res.x is None:  # cannot happen for this always-feasible problem (x = 0); fail loudly if it does
        raise RuntimeError(f"schedule solver failed: {res.message}")
    return [w for w, x in zip(wishes, res.x) if x > 0.5]


def _equitable_colouring(edges: list[tuple[Id, Id]], colours: int) -> list[int]:
    """Stage 2: a proper edge colouring of a bipartite graph (max degree <= colours), classes balanced."""
    colour_at: dict[tuple[str, Id], dict[int, int]] = defaultdict(dict)  # node -> colour -> edge
    result = [-1] * len(edges)
    for e, (c, p) in enumerate(edges):
        u, v = ("c", c), ("p", p)
        a = next(k for k in range(colours) if k not in colour_at[u])
        b = next(k for k in range(colours) if k not in colour_at[v])
        if a != b and a in colour_at[v]:
            _flip_path(v, a, b, edges, result, colour_at)
        result[e] = a
        colour_at[u][a] = e
        colour_at[v][a] = e
    _balance(edges, result, colours, colour_at)
    return result


def _ends(edges: list[tuple[Id, Id]], e: int) -> tuple[tuple[str, Id], tuple[str, Id]]:
    return ("c", edges[e][0]), ("p", edges[e][1])


def _flip_path(start: tuple[str, Id], a: int, b: int, edges: list[tuple[Id, Id]], result: list[int],
               colour_at: dict) -> None:
    """Swap colours a and b along the a/b-alternating path from start (frees a at start)."""
    path, node, want = [], start, a
    while want in colour_at[node]:
        e = colour_at[node][want]
        path.append(e)
        x, y = _ends(edges, e)
        node = y if x == node else x
        want = b if want == a else a
    _swap(path, a, b, edges, result, colour_at)


def _swap(path: list[int], a: int, b: int, edges: list[tuple[Id, Id]], result: list[int],
          colour_at: dict) -> None:
    for e in path:
        for node in _ends(edges, e):
            colour_at[node].pop(result[e], None)
    for e in path:
        result[e] = b if result[e] == a else a
        for node in _ends(edges, e):
            colour_at[node][result[e]] = e


def _balance(edges: list[tuple[Id, Id]], result: list[int], colours: int, colour_at: dict) -> None:
    """Swap alternating paths between the largest and smallest class until sizes differ by <= 1."""
    while colours:
        sizes = np.bincount(np.array(result, dtype=int), minlength=colours) if result else np.zeros(colours)
        big, small = int(np.argmax(sizes)), int(np.argmin(sizes))
        if sizes[big] - sizes[small] <= 1:
            return
        path = _surplus_path(edges, result, big, small, colour_at)
        _swap(path, big, small, edges, result, colour_at)


def _surplus_path(edges: list[tuple[Id, Id]], result: list[int], big: int, small: int,
                  colour_at: dict) -> list[int]:
    """A component of the big/small subgraph with one more big edge than small (a path ending in big)."""
    for e, col in enumerate(result):
        if col != big:
            continue
        comp = _component(e, edges, result, big, small, colour_at)
        if sum(result[i] == big for i in comp) > sum(result[i] == small for i in comp):
            return comp
    raise RuntimeError("no surplus path although classes are unbalanced")


def _component(e0: int, edges: list[tuple[Id, Id]], result: list[int], big: int, small: int,
               colour_at: dict) -> list[int]:
    seen, stack = {e0}, [e0]
    while stack:
        e = stack.pop()
        for node in _ends(edges, e):
            for col in (big, small):
                f = colour_at[node].get(col)
                if f is not None and f not in seen:
                    seen.add(f)
                    stack.append(f)
    return sorted(seen)


def _with_tables(chosen: list[Wish], slot_of: list[int]) -> list[Meeting]:
    """Number tables within each slot (presenters in a stable order so a presenter keeps a table where possible)."""
    by_slot: dict[int, list[Wish]] = defaultdict(list)
    for w, s in zip(chosen, slot_of):
        by_slot[s].append(w)
    meetings = []
    for s in sorted(by_slot):
        for t, w in enumerate(sorted(by_slot[s], key=lambda w: (str(w.presenter), str(w.company)))):
            meetings.append(Meeting(w.company, w.presenter, s, t, w.score))
    return meetings


def diagnose(problem: ScheduleProblem) -> list[Binding]:
    """Every constraint that keeps some wished meeting out (complete, by max-flow/min-cut)."""
    out = [Binding("conflict", {"company": w.company, "presenter": w.presenter})
           for w in problem.wishes if (w.company, w.presenter) in problem.conflicts]
    allowed = problem.allowed()
    capacity = problem.slots * problem.tables
    if len(allowed) > capacity:
        deficit = len(allowed) - capacity
        out.append(Binding("table_slots", {
            "wished": len(allowed), "capacity": capacity, "slots": problem.slots, "tables": problem.tables,
            "add_slots": math.ceil(deficit / problem.tables) if problem.tables else None,
            "add_tables": math.ceil(deficit / problem.slots) if problem.slots else None}))
    for side in ("presenter", "company"):
        counts: dict[Id, int] = defaultdict(int)
        for w in allowed:
            counts[getattr(w, side)] += 1
        for who, wished in counts.items():
            cap = problem.cap(side, who)
            if wished > min(cap, problem.slots):
                code = f"{side}_cap" if cap < problem.slots else f"{side}_slots"
                out.append(Binding(code, {"who": who, "wished": wished, "cap": cap, "slots": problem.slots}))
    return out


# ------------------------------------------------------------------------------------- validation

def check(problem: ScheduleProblem, result: ScheduleResult) -> list[str]:
    """Every constraint violation in a result (empty when it is valid); used by tests and the service."""
    errors = []
    wished = {(w.company, w.presenter): w for w in problem.wishes}
    seen_pairs: set = set()
    cells: set = set()
    per: dict[tuple[str, Id], int] = defaultdict(int)
    at: set = set()
    for m in result.meetings:
        pair = (m.company, m.presenter)
        if pair not in wished:
            errors.append(f"not wished: {pair}")
        if pair in problem.conflicts:
            errors.append(f"conflicted pair scheduled: {pair}")
        if pair in seen_pairs:
            errors.append(f"pair twice: {pair}")
        seen_pairs.add(pair)
        if not (0 <= m.slot < problem.slots and 0 <= m.table < problem.tables):
            errors.append(f"outside the grid: {m}")
        if (m.slot, m.table) in cells:
            errors.append(f"table used twice: {(m.slot, m.table)}")
        cells.add((m.slot, m.table))
        for side, who in (("company", m.company), ("presenter", m.presenter)):
            if (side, who, m.slot) in at:
                errors.append(f"{side} {who} double-booked at slot {m.slot}")
            at.add((side, who, m.slot))
            per[(side, who)] += 1
    for (side, who), n in per.items():
        if n > problem.cap(side, who):
            errors.append(f"{side} {who} over cap: {n}")
    return errors

