"""Roadshow match scores at a programme's scale (issue 22): proposing presenters and the presenters' coverage.

The first version (roadshows.score_matrix_per_demand, kept for comparison) asked the engine once per open demand of
the field: each demand encoded as a query and ranked against every candidate achievement (minutes at 10,000 open
demands). The second (`reverse_matrix`) asked once per achievement: its best `DEMANDS_PER_ACHIEVEMENT` open demands,
one engine ranking (~100 ms at 10,000 open demands) per presenter or shortlisted candidate.

Now (`batch_matrix`, what roadshows.score_matrix answers) no ranking is needed: for a titled achievement the
calibration reads absolute per-pair evidence only (cos, coverage, title_cos, title_cov, head_cov and the structured
compatibility: matchmaking/calibration.TITLED), nothing relative to a ranking's other candidates. So every (open
demand, achievement) pair gets the engine's calibrated score at once: the cosines as one matrix product of the
demands' stored vectors and the achievements' (cached) query and title vectors, the coverages from the lexical
index, head_cov as one sparse product, and the compatibility for the pairs whose text evidence reaches the match
floor (below it the structured part can only lower a score). Each pair the engine's ranking returns gets the same
score; a pair outside its depth is scored as well instead of reading 0. An untitled achievement (the fused stratum,
relative to the ranking's candidates) is still ranked by the engine.

When the field has more candidate achievements than `shortlist_size`, the candidates are shortlisted first from the
vector index alone (no encoding, no engine): each open demand's stored vector votes for the `VOTES_PER_DEMAND`
candidates nearest to it, and the candidates with the most votes go on to scoring and the exact MILP.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
from sqlalchemy.orm import Session

from matchmaking.bands import POSSIBLE_MIN
from matchmaking.compat import compatibility, structured_score
from matchmaking.engine import SCORE_CAP
from models import Achievement, Demand, Roadshow

from .indexing import to_doc

# An achievement's best open demands the engine returns (its ranking depth).
DEMANDS_PER_ACHIEVEMENT = 300
# Candidates that go on to the engine when the field has more; at least this many, or 4 per presentation slot.
CANDIDATE_SHORTLIST = 24
CANDIDATES_PER_SLOT = 4
# Each open demand's vote: its nearest candidates by stored vector.
VOTES_PER_DEMAND = 3
_CHUNK = 2048  # demands per matrix product while voting (a 2048 x candidates block of float32)
# Up to this many pairs every pair gets its full score (a company's wishes read weak scores too); beyond, a pair whose
# text evidence is below the match floor (compatibility can only lower it there) reads 0, as matches_only would.
EXACT_PAIRS = 4096
# A shown score of POSSIBLE_MIN is a probability from (POSSIBLE_MIN - 0.05) / 100 (one decimal); a little below that.
_FLOOR_PROB = (POSSIBLE_MIN - 0.1) / 100.0


def reverse_matrix(runtime: Any, session: Session, demands: Sequence[Demand], achievements: Sequence[Achievement],
                   k: int = 0) -> np.ndarray:
    """Calibrated scores (0-100), demands x achievements, from one engine query per achievement over the open
    demands (its best k, default DEMANDS_PER_ACHIEVEMENT); conflicted pairs (same owner or organisation) 0."""
    matrix = np.zeros((len(demands), len(achievements)))
    if not len(demands) or not achievements:
        return matrix
    row_of = {d.id: i for i, d in enumerate(demands)}
    owner = np.asarray([d.owner_id for d in demands], dtype=np.int64)
    org = np.asarray([-1 if d.organisation_id is None else d.organisation_id for d in demands], dtype=np.int64)
    allowed = set(row_of)
    depth = min(k or DEMANDS_PER_ACHIEVEMENT, len(allowed))
    matcher = runtime.matcher("demand", session)
    for j, achievement in enumerate(achievements):
        doc = to_doc(achievement)
        qvec, tvec = runtime.query_vectors(doc)  # cached per text, as on the match pages
        ranked, _terms = matcher.rank(doc, k=depth, allowed_ids=allowed, query_vec=qvec, title_vec=tvec)
        for r in ranked:
            i = row_of.get(int(r.id))
            if i is not None:
                matrix[i, j] = round(float(r.score), 1)
        conflicted = owner == achievement.owner_id
        if achievement.organisation_id is not None:
            conflicted |= org == achievement.organisation_id
        matrix[conflicted, j] = 0.0
    return matrix


def batch_matrix(runtime: Any, session: Session, demands: Sequence[Any], achievements: Sequence[Any]) -> np.ndarray:
    """Calibrated scores (0-100), demands x achievements, equal to what the engine's ranking achievement -> demands
    (`matcher.rank` over these demands) gives each pair it returns, computed for every pair without ranking;
    conflicted pairs 0. demands: rows with id, owner_id, organisation_id (no listing needs loading)."""
    matrix = np.zeros((len(demands), len(achievements)))
    if not len(demands) or not len(achievements):
        return matrix
    matcher = runtime.matcher("demand", session)
    ids = [int(d.id) for d in demands]
    known = np.fromiter((i in matcher.docs for i in ids), dtype=bool, count=len(ids))
    owner = np.asarray([d.owner_id for d in demands], dtype=np.int64)
    org = np.asarray([-1 if d.organisation_id is None else d.organisation_id for d in demands], dtype=np.int64)
    demand_side = _DemandSide(matcher, ids, known, exact=len(ids) * len(achievements) <= EXACT_PAIRS)
    docs = [to_doc(a) for a in achievements]
    cosines = demand_side.cosines(runtime, docs)
    ranked = []  # untitled achievements: the fused stratum is relative to the ranking's candidates
    for j, achievement in enumerate(achievements):
        allowed = known & (owner != achievement.owner_id)
        if achievement.organisation_id is not None:
            allowed &= org != achievement.organisation_id
        column = demand_side.column(docs[j], allowed, cosines[:, 2 * j], cosines[:, 2 * j + 1])
        if column is None:
            ranked.append(j)
        else:
            matrix[:, j] = column
    if ranked:
        matrix[:, ranked] = reverse_matrix(runtime, session, demands, [achievements[j] for j in ranked])
    return matrix


class _DemandSide:
    """The open demands' side of batch_matrix, read once per request: stored vectors, lexical rows and the IDF of
    each demand's head terms (title and keywords), so a query's head coverage of every demand is one sparse product.
    Per pair this is matcher.rank's _score (tests/services/test_roadshow_scoring.py holds them equal)."""

    def __init__(self, matcher: Any, ids: list[int], known: np.ndarray, exact: bool) -> None:
        self.matcher, self.ids, self.exact = matcher, ids, exact
        self.lex, self.calib = matcher.lexical, matcher.calibration
        self.vecs = matcher.store.vectors(ids)
        self.rows = self.lex.rows(ids)
        self.in_lex = self.rows >= 0
        self.safe_rows = np.maximum(self.rows, 0)
        self.floor = float(np.log(_FLOOR_PROB / (1.0 - _FLOOR_PROB)))
        heads = [self.matcher.head_sentences(i) if k else 0 for i, k in zip(ids, known)]  # memoised per listing
        # demands x terms, once for all demands instead of once per query (LexicalIndex.head_coverage's pass)
        self.heads, self.head_mass = self.lex.head_terms(ids, heads)

    def _head_coverage(self, terms: Any) -> np.ndarray:
        """Share of each demand's head IDF mass that the query's terms hold (0 for a demand without a head)."""
        asked = np.zeros(self.heads.shape[1])
        asked[terms.ids] = 1.0
        held = self.heads @ asked
        mass = self.head_mass
        return np.where(mass > 0, held / np.where(mass > 0, mass, 1.0), 0.0).astype(np.float32)

    def _coverage(self, terms: Any) -> np.ndarray:
        """Coverage of the query's terms per demand, as an absolute share (the engine's feature)."""
        total = terms.mass + self.lex.unknown_mass(terms)
        share = terms.mass / total if total > 0 else 0.0
        cov = np.where(self.in_lex, self.lex.coverage_all(terms)[self.safe_rows], 0.0).astype(np.float32)
        return cov * share

    def _stratum(self, doc: Any) -> Any:
        """The calibration's model for this query, or None for the fused one (untitled), which only a ranking gives."""
        title = doc.title.strip()
        kind, stratum = self.calib.stratum_for(doc.kind, bool(title))
        return None if not title or kind == "text" or "fused" in stratum.features else stratum

    def cosines(self, runtime: Any, docs: list[Any]) -> np.ndarray:
        """demands x (query, title) of each achievement: the cosines of its query and title vectors, one matrix
        product (a matrix-vector product per query costs ~20 times more here)."""
        dim = self.vecs.shape[1]
        queries = np.zeros((2 * len(docs), dim), dtype=np.float32)
        for j, doc in enumerate(docs):
            if self._stratum(doc) is None:
                continue
            qvec, tvec = runtime.query_vectors(doc)  # cached per text, as on the match pages
            if tvec is None:
                tvec = self.matcher.encoder.encode_queries([doc.title.strip()])[0]
            queries[2 * j], queries[2 * j + 1] = np.reshape(qvec, -1), np.reshape(tvec, -1)
        return self.vecs @ queries.T

    def column(self, doc: Any, allowed: np.ndarray, cos: np.ndarray, title_cos: np.ndarray) -> np.ndarray | None:
        """One achievement's scores against every demand (0 where not allowed); None when its stratum is the fused
        one (untitled)."""
        stratum = self._stratum(doc)
        if stratum is None:
            return None
        terms = self.lex.query_terms(doc.embed_text())
        feats = {"cos": cos, "coverage": self._coverage(terms), "title_cos": title_cos,
                 "title_cov": self._coverage(self.lex.query_terms(doc.title.strip())),
                 "head_cov": self._head_coverage(terms)}
        z = stratum.logit(feats)
        # the structured part moves a pair below the match floor only downwards: only the others need it
        keep = np.flatnonzero(allowed if self.exact else allowed & (z >= self.floor))
        out = np.zeros(len(self.ids))
        if not len(keep):
            return out
        structured = np.full(len(keep), np.nan)
        if doc.has_structure():
            docs = (self.matcher.docs[self.ids[i]] for i in keep)
            structured = np.asarray([np.nan if (v := structured_score(compatibility(doc, d))) is None else v
                                     for d in docs])
        prob = self.calib.probability(z[keep], structured)
        out[keep] = [min(SCORE_CAP, round(100.0 * float(p), 1)) for p in prob]
        return out


def shortlist_size(roadshow: Roadshow) -> int:
    return max(CANDIDATE_SHORTLIST, CANDIDATES_PER_SLOT * roadshow.presentation_slots)


def shortlist_candidates(runtime: Any, demands: Sequence[Any], candidates: list[Any], n: int) -> list[Any]:
    """At most n candidates, chosen by the vector index alone: the most votes of the open demands (each votes for
    its VOTES_PER_DEMAND nearest candidates by stored vector; ties: the summed similarity, then the id)."""
    if len(candidates) <= n:
        return candidates
    votes, weight = runtime.remember(_votes_key(runtime, demands, candidates),
                                     lambda: _votes(runtime, demands, candidates))
    order = sorted(range(len(candidates)), key=lambda j: (-votes[j], -weight[j], candidates[j].id))
    return [candidates[j] for j in sorted(order[:n])]


def _votes_key(runtime: Any, demands: Sequence[Any], candidates: Sequence[Any]) -> tuple:
    """The votes depend on the two id lists, the stored vectors (the index stamps) and VOTES_PER_DEMAND only."""
    digest = hashlib.sha256()
    for rows in (demands, candidates):
        digest.update(np.asarray([r.id for r in rows], dtype=np.int64).tobytes() + b"|")
    return ("roadshow-votes", digest.hexdigest(), tuple(runtime.stamps(("achievement", "demand"))), VOTES_PER_DEMAND)


def _votes(runtime: Any, demands: Sequence[Any], candidates: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the open demands that have it among their VOTES_PER_DEMAND nearest, and their summed cosine
    (10,000 x 3,352 cosines at the target's scale: ~1 s on 2 loaded cores, remembered like the coverage)."""
    dvec = runtime.store("demand").vectors([d.id for d in demands])
    avec = runtime.store("achievement").vectors([a.id for a in candidates])
    votes, weight = np.zeros(len(candidates)), np.zeros(len(candidates))
    top = min(VOTES_PER_DEMAND, len(candidates))
    for start in range(0, len(dvec), _CHUNK):
        block = dvec[start:start + _CHUNK]
        block = block[np.abs(block).sum(axis=1) > 0]  # a demand without a stored vector does not vote
        if not len(block):
            continue
        sims = block @ avec.T
        rows = np.arange(len(sims))
        for _ in range(top):  # the top few by repeated argmax: a pass each, cheaper than argpartition's copy and sort
            best = sims.argmax(axis=1)
            votes += np.bincount(best, minlength=len(candidates))
            weight += np.bincount(best, weights=sims[rows, best], minlength=len(candidates))
            sims[rows, best] = -np.inf
    return votes, weight
