"""Roadshow match scores at a programme's scale (issue 22): proposing presenters and the presenters' coverage.

The first version (services.roadshows.score_matrix, kept for comparison) asked the engine once per open demand
of the field: each demand encoded as a query and ranked against every candidate achievement. At 10,000 open
demands that is 10,000 encodings and rankings per request (minutes). Here the achievements ask instead: each
achievement is one engine query (achievement -> demands, as the match pages and `propose_companies` ask it) for
its best `DEMANDS_PER_ACHIEVEMENT` open demands of the field, so a request costs one ranking per presenter or per
shortlisted candidate, whatever the number of open demands. A demand outside every shortlisted achievement's
top-k counts as not matched by it (below the top-k of a ranking a pair is not a match in practice).

When the field has more candidate achievements than `CANDIDATE_SHORTLIST`, the candidates are shortlisted
first from the vector index alone (no encoding, no engine): each open demand's stored vector votes for the
`VOTES_PER_DEMAND` candidates nearest to it, and the candidates with the most votes go on to the engine.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sqlalchemy.orm import Session

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


def shortlist_size(roadshow: Roadshow) -> int:
    return max(CANDIDATE_SHORTLIST, CANDIDATES_PER_SLOT * roadshow.presentation_slots)


def shortlist_candidates(runtime: Any, demands: Sequence[Demand], candidates: list[Achievement],
                         n: int) -> list[Achievement]:
    """At most n candidates, chosen by the vector index alone: the most votes of the open demands (each votes for
    its VOTES_PER_DEMAND nearest candidates by stored vector; ties: the summed similarity, then the id)."""
    if len(candidates) <= n:
        return candidates
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
        best = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        np.add.at(votes, best.ravel(), 1)
        np.add.at(weight, best.ravel(), np.take_along_axis(sims, best, axis=1).ravel())
    order = sorted(range(len(candidates)), key=lambda j: (-votes[j], -weight[j], candidates[j].id))
    return [candidates[j] for j in sorted(order[:n])]
