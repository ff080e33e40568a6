"""Hybrid matcher: dense + BM25 fusion, calibrated scores modulated by structured compatibility, explanations."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matchmaking import calibration as _calibration
from matchmaking.bands import band_of
from matchmaking.compat import COMPONENTS, Component, compatibility, structured_score
from matchmaking.documents import Listing
from matchmaking.encoders import (
    Encoder,  # the one protocol (engine code only needs its two methods)
)
from matchmaking.lexical import LexicalIndex, QueryTerms
from matchmaking.text import split_sentences
from matchmaking.vectorstore import FaissStore

METHODS = ("lexical", "dense", "hybrid")


@dataclass(frozen=True)
class Fusion:
    """Fusion and calibration constants, tuned on the dev sets (docs/evaluation.md has the ablation)."""

    cos_floor: float = 0.78  # e5 cosine read as "no semantic match" (unrelated pairs sit ~0.75-0.8)
    cos_ceil: float = 0.95   # cosine read as "as close as it gets" (a paper vs its own keywords)
    neighbours: int = 4      # dense top-n whose centroid smooths the semantic score
    neighbour_share: float = 0.3  # share of the semantic score given to similarity to that centroid
    coverage_bonus: float = 0.3   # x coverage^coverage_power: rewards holding (nearly) all query terms
    coverage_power: float = 8.0
    bm25_bonus: float = 0.15      # x BM25 / best BM25 among the candidates
    candidates: int = 100    # depth of each candidate list (dense and lexical)

    @property
    def lexical_max(self) -> float:
        """Largest possible lexical bonus (semantic tops out at 1)."""
        return self.coverage_bonus + self.bm25_bonus


@dataclass(frozen=True)
class Ranked:
    """A ranked candidate before explanation: fused score and its parts."""

    id: int
    fused: float  # 0-1, the text evidence (dense first, lexical bonus)
    dense: float
    lexical: float
    components: dict[str, Component] | None
    score: float = 0.0  # calibrated probability x 100 (matchmaking.calibration), what every consumer shows


@dataclass
class Match:
    """One ranked counterpart with its calibrated score and the reasons for it."""

    id: int
    score: float  # probability x 100 that a broker judges the pair worth a conversation (never a raw cosine)
    breakdown: dict[str, float]  # semantic, lexical, field, maturity, budget, region, mode (0-1)
    shared_terms: list[str] = field(default_factory=list)
    best_sentence: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # component -> reason code
    band: str = ""  # strong / possible / weak (matchmaking.bands), from the score when not given

    def __post_init__(self) -> None:
        if not self.band:
            self.band = band_of(self.score)


@dataclass(frozen=True)
class _Scored:
    """Every candidate of one query: ids, text evidence, calibration features and the calibrated probability."""

    ids: list[int]
    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    cos: np.ndarray
    bm: np.ndarray
    feats: dict[str, np.ndarray]
    structured: np.ndarray  # 0-1, NaN where the pair has no known structured component
    prob: np.ndarray
    comps: list[dict[str, Component]] | None

    def ranked(self, j: int) -> Ranked:
        return Ranked(self.ids[j], float(self.fused[j]), float(self.dense[j]), float(self.lexical[j]),
                      self.comps[j] if self.comps else None, _shown(self.prob[j]))


SCORE_CAP = 99.0  # a probability, never certainty: the best pairs read 99, not 100


def _shown(prob: float) -> float:
    """A probability as the 0-100 score shown everywhere (one decimal; the band is read from this figure)."""
    return min(SCORE_CAP, round(100.0 * float(prob), 1))


def _known_share(lexical: LexicalIndex, terms: QueryTerms) -> float:
    """Share of a query's IDF mass that the index knows (coverage counts known terms only)."""
    total = terms.mass + lexical.unknown_mass(terms)
    return terms.mass / total if total > 0 else 0.0


def normalise_dense(cos: np.ndarray, f: Fusion) -> np.ndarray:
    """Map raw e5 cosines onto 0-1 with fixed anchors (absolute, so it can be calibrated)."""
    return np.clip((cos - f.cos_floor) / (f.cos_ceil - f.cos_floor), 0.0, 1.0)


def semantic_scores(cos: np.ndarray, vecs: np.ndarray, f: Fusion) -> np.ndarray:
    """Dense score smoothed by similarity to the centroid of the dense top-n (pseudo feedback)."""
    dense = normalise_dense(cos, f)
    if f.neighbour_share <= 0 or len(cos) == 0:
        return dense
    top = np.argsort(-cos, kind="stable")[: f.neighbours]
    centroid = vecs[top].mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    return (1 - f.neighbour_share) * dense + f.neighbour_share * normalise_dense(vecs @ centroid, f)


def lexical_scores(bm25: np.ndarray, coverage: np.ndarray, f: Fusion) -> np.ndarray:
    """Lexical evidence in 0-1: near-complete term coverage, plus BM25 relative to the best."""
    top = float(bm25.max(initial=0.0))
    rel = bm25 / top if top > 0 else np.zeros_like(bm25)
    bonus = f.coverage_bonus * coverage**f.coverage_power + f.bm25_bonus * rel
    return bonus / f.lexical_max if f.lexical_max > 0 else bonus


def fuse(
    cos: np.ndarray, vecs: np.ndarray, bm25: np.ndarray, coverage: np.ndarray, f: Fusion
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused 0-1 score per candidate: semantic first, lexical evidence as a bounded bonus."""
    semantic = semantic_scores(cos, vecs, f)
    lexical = lexical_scores(bm25, coverage, f)
    return (semantic + f.lexical_max * lexical) / (1.0 + f.lexical_max), semantic, lexical


class HybridMatcher:
    """Ranks the counterparts of a listing; used by the platform and by the evaluation alike."""

    def __init__(
        self,
        encoder: Encoder | None,
        store: FaissStore,
        lexical: LexicalIndex,
        docs: Mapping[int, Listing],
        *,
        weights: Fusion | Mapping[str, float] | None = None,
        calibration: _calibration.Calibration | None = None,
    ) -> None:
        self.encoder = encoder
        self.calibration = calibration or _calibration.load()
        self.store = store
        self.lexical = lexical
        self.docs = docs
        # an adapted model's own cosine anchors (matchmaking/adapt.py align_cosines), unless weights are given
        own = getattr(encoder, "fusion", None)
        own = own if isinstance(own, dict) else {}
        self.fusion = weights if isinstance(weights, Fusion) else Fusion(**{**own, **dict(weights or {})})
        self._by_kind: dict[str, set[int]] = {}
        self._heads: dict[int, int] = {}
        for doc_id, doc in docs.items():
            self._by_kind.setdefault(doc.kind, set()).add(doc_id)

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        docs: Mapping[int, Listing],
        *,
        vectors: np.ndarray | None = None,
        store: FaissStore | None = None,
        **kw: Any,
    ) -> HybridMatcher:
        """Index listings from scratch (vectors given, or encoded as passages)."""
        ids = list(docs)
        texts = [docs[i].embed_text() for i in ids]
        vecs = encoder.encode_passages(texts) if vectors is None else vectors
        store = store or FaissStore(encoder.dim, encoder.model_key)
        store.upsert(ids, vecs)
        return cls(encoder, store, LexicalIndex.build(ids, texts), docs, **kw)

    # -- candidate sets ------------------------------------------------------------------------
    def _allowed(self, kind: str, allowed_ids: Iterable[int] | None) -> set[int] | None:
        """Hard filter: the requested kind and the caller's allowed ids (None: everything)."""
        allowed = None if allowed_ids is None else set(allowed_ids)
        if len(self._by_kind) > 1 or kind not in self._by_kind:
            of_kind = self._by_kind.get(kind, set())
            allowed = of_kind if allowed is None else allowed & of_kind
        return allowed

    def _query_vec(self, query: Listing, query_vec: np.ndarray | None) -> np.ndarray:
        if query_vec is not None:
            return np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if self.encoder is None:
            raise ValueError("dense matching needs an encoder or a query_vec")
        return self.encoder.encode_queries([query.embed_text()])[0]

    def _candidates(
        self, qvec: np.ndarray | None, terms: QueryTerms, allowed: set[int] | None, n: int,
        excluded: frozenset[int] = frozenset(), include: Sequence[int] = (),
    ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Union of the dense and lexical top-n with vectors, cosine, BM25 and coverage for each.
        excluded: ids never returned; a few of them are cheaper than an allowed set of every other id.
        include: ids scored as well (judged pairs); ranked below the top-n, they change no other score."""
        bm_all = self.lexical.scores(terms, self.lexical.mask(allowed))
        ids: dict[int, None] = {}
        if allowed is not None and len(allowed) <= n and not excluded:
            ids.update(dict.fromkeys(sorted(allowed)))  # each allowed listing is a candidate: nothing to search
        if excluded:
            rows = self.lexical.rows(excluded)
            bm_all = bm_all.copy()
            bm_all[rows[rows >= 0]] = 0.0
        if qvec is not None and not ids:
            hits = self.store.search(qvec, n + len(excluded), allowed)
            ids.update((i, None) for i, _ in hits if i not in excluded)
        m = min(n, int((bm_all > 0).sum()))
        if m:
            rows = np.argpartition(-bm_all, m - 1)[:m]
            ids.update((int(i), None) for i in self.lexical.ids()[rows])
        ids.update((int(i), None) for i in include if allowed is None or int(i) in allowed)
        cand = [i for i in ids if i in self.docs and i not in excluded]
        rows = self.lexical.rows(cand)
        known = rows >= 0
        bm = np.where(known, bm_all[np.maximum(rows, 0)], 0.0).astype(np.float32)
        cov_all = self.lexical.coverage_all(terms)
        cov = np.where(known, cov_all[np.maximum(rows, 0)], 0.0).astype(np.float32)
        vecs = self.store.vectors(cand) if qvec is not None else np.zeros((len(cand), 1), np.float32)
        cos = vecs @ qvec if qvec is not None else np.zeros(len(cand), np.float32)
        return cand, vecs, cos, bm, cov

    # -- ranking ---------------------------------------------------------------------------------
    def match(
        self,
        query: Listing,
        k: int = 10,
        allowed_ids: set[int] | None = None,
        query_vec: np.ndarray | None = None,
        method: str = "hybrid",
        excluded_ids: Iterable[int] = (),
        title_vec: np.ndarray | None = None,
    ) -> list[Match]:
        """Top-k counterparts of query (demand -> achievements, achievement -> demands), explained."""
        ranked, terms = self.rank(query, k, allowed_ids, query_vec, method, excluded_ids, title_vec)
        return [self._explain(r, terms) for r in ranked]

    def rank(
        self,
        query: Listing,
        k: int = 10,
        allowed_ids: set[int] | None = None,
        query_vec: np.ndarray | None = None,
        method: str = "hybrid",
        excluded_ids: Iterable[int] = (),
        title_vec: np.ndarray | None = None,
    ) -> tuple[list[Ranked], QueryTerms]:
        """The ranking behind match(), without explanations (the evaluation scores this). The hybrid order is
        the calibrated score's (ties: text score, then id)."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        terms = self.lexical.query_terms(query.embed_text())
        if k <= 0:
            return [], terms
        scored = self._score(query, terms, allowed_ids, query_vec, method, excluded_ids, title_vec, depth=k)
        if scored is None:
            return [], terms
        rank_by = {"hybrid": scored.prob, "dense": scored.cos, "lexical": scored.bm}[method]
        order = np.lexsort((np.asarray(scored.ids), -scored.fused, -rank_by))[:k]
        return [scored.ranked(j) for j in order], terms

    def score_pairs(
        self,
        query: Listing,
        ids: Sequence[int],
        query_vec: np.ndarray | None = None,
        excluded_ids: Iterable[int] = (),
        title_vec: np.ndarray | None = None,
    ) -> list[Match]:
        """Given counterparts of query, explained and scored exactly as in its ranking (the judged evaluation
        and the calibration fit read this); ids of another kind or unknown are left out."""
        terms = self.lexical.query_terms(query.embed_text())
        scored = self._score(query, terms, None, query_vec, "hybrid", excluded_ids, title_vec, include=ids)
        if scored is None:
            return []
        where = {i: j for j, i in enumerate(scored.ids)}
        return [self._explain(scored.ranked(where[int(i)]), terms) for i in ids if int(i) in where]

    def features(
        self,
        query: Listing,
        ids: Sequence[int],
        query_vec: np.ndarray | None = None,
        title_vec: np.ndarray | None = None,
    ) -> tuple[list[int], dict[str, np.ndarray], np.ndarray]:
        """(ids found, the calibration's text features, structured score or NaN) of given counterparts."""
        terms = self.lexical.query_terms(query.embed_text())
        scored = self._score(query, terms, None, query_vec, "hybrid", (), title_vec, include=ids)
        if scored is None:
            return [], {}, np.zeros(0)
        where = {i: j for j, i in enumerate(scored.ids)}
        rows = [where[int(i)] for i in ids if int(i) in where]
        return ([scored.ids[j] for j in rows], {name: v[rows] for name, v in scored.feats.items()},
                scored.structured[rows])

    def _score(
        self, query: Listing, terms: QueryTerms, allowed_ids: Iterable[int] | None, query_vec: np.ndarray | None,
        method: str, excluded_ids: Iterable[int], title_vec: np.ndarray | None, include: Sequence[int] = (),
        depth: int = 0,
    ) -> _Scored | None:
        """Every candidate's text evidence, calibrated probability and structured components."""
        allowed = self._allowed(query.counterpart_kind, allowed_ids)
        qvec = None if method == "lexical" else self._query_vec(query, query_vec)
        cand, vecs, cos, bm, cov = self._candidates(qvec, terms, allowed, max(self.fusion.candidates, depth),
                                                    frozenset(int(i) for i in excluded_ids), include)
        if not cand:
            return None
        fused, dense, lexical = fuse(cos, vecs, bm, cov, self.fusion)
        # absolute coverages for the calibration: the query's unknown words count in the denominator
        feats = {"fused": fused, "cos": cos, "coverage": cov * _known_share(self.lexical, terms)}
        title = query.title.strip()
        titled = bool(title) and qvec is not None
        if titled:
            tvec = self._title_vec(title, title_vec)
            rows = self.lexical.rows(cand)
            tterms = self.lexical.query_terms(title)
            tcov = self.lexical.coverage_all(tterms) * _known_share(self.lexical, tterms)
            feats["title_cos"] = vecs @ tvec
            feats["title_cov"] = np.where(rows >= 0, tcov[np.maximum(rows, 0)], 0.0)
            feats["head_cov"] = self.lexical.head_coverage(terms, cand, [self.head_sentences(i) for i in cand])
        comps = [compatibility(query, self.docs[i]) for i in cand] if query.has_structure() else None
        structured = np.asarray([np.nan if (v := structured_score(c)) is None else v for c in comps]
                                if comps else np.full(len(cand), np.nan))
        calib = self.calibration  # read once: a refit may swap it meanwhile
        z = calib.text_logit(query.kind, titled, feats)
        prob = calib.probability(z, structured)
        return _Scored(cand, fused, dense, lexical, cos, bm, feats, structured, prob, comps)

    def head_sentences(self, doc_id: int) -> int:
        """How many of a listing's indexed sentences are its head (title and keywords), memoised per listing."""
        n = self._heads.get(doc_id)
        if n is None:
            n = self._heads[doc_id] = len(split_sentences(self.docs[doc_id].header()))
        return n

    def _title_vec(self, title: str, title_vec: np.ndarray | None) -> np.ndarray:
        if title_vec is not None:
            return np.asarray(title_vec, dtype=np.float32).reshape(-1)
        if self.encoder is None:
            raise ValueError("a titled query needs an encoder or a title_vec")
        return self.encoder.encode_queries([title])[0]

    def _explain(self, r: Ranked, terms: QueryTerms) -> Match:
        breakdown = {"semantic": round(r.dense, 4), "lexical": round(r.lexical, 4)}
        reasons: dict[str, str] = {}
        for name in COMPONENTS:
            c = r.components[name] if r.components else None
            breakdown[name] = round(c.value, 4) if c else 0.5
            reasons[name] = c.reason if c else "unknown"
        return Match(
            id=r.id,
            score=r.score,
            breakdown=breakdown,
            shared_terms=self.lexical.shared_terms(terms, r.id),
            best_sentence=self.best_sentence(r.id, terms),
            reasons=reasons,
        )

    def best_sentence(self, doc_id: int, terms: QueryTerms) -> str:
        """The body sentence with the largest IDF-weighted overlap with the query (first if none)."""
        doc = self.docs[doc_id]
        sentences = split_sentences(doc.embed_text())
        body_from = len(split_sentences(doc.header()))
        if body_from >= len(sentences):
            return sentences[0] if sentences else ""
        scores = self.lexical.sentence_scores(terms, doc_id)
        if len(scores) != len(sentences):  # index built from another text: no per-sentence data
            return sentences[body_from]
        body = scores[body_from:]
        return sentences[body_from + int(body.argmax())] if body.max(initial=0) > 0 else sentences[body_from]

    def nearest(self, kind: str, qvec: np.ndarray, n: int, ef_search: int | None = None) -> list[int]:
        """Ids of the n listings of a kind nearest to a query vector (the dense side of a search); ef_search: the
        HNSW breadth, when not the store's."""
        return [i for i, _ in self.store.search(np.asarray(qvec, dtype=np.float32).reshape(-1), n,
                                               self._allowed(kind, None), ef_search=ef_search)]

    # -- near duplicates -------------------------------------------------------------------------
    def similar(self, listing: Listing, k: int = 5, allowed_ids: set[int] | None = None) -> list[Match]:
        """Same-kind listings that look like near-duplicates of listing (score 100 = identical)."""
        allowed = self._allowed(listing.kind, allowed_ids)
        vec = self._passage_vec(listing)
        terms = self.lexical.query_terms(listing.embed_text())
        # the listing itself is dropped after retrieval: cheaper than a filter set of every other id
        cand, _, cos, _, _ = self._candidates(vec, terms, allowed, max(3 * k, 20) + 1)
        keep = [j for j, i in enumerate(cand) if i != listing.id]
        if not keep:
            return []
        cand, cos = [cand[j] for j in keep], cos[keep]
        own = self._term_set(listing)
        jac = np.asarray([_jaccard(own, np.unique(self.lexical.doc_terms(i))) for i in cand], np.float32)
        dense = np.clip((cos - DUP_COS_FLOOR) / (1.0 - DUP_COS_FLOOR), 0.0, 1.0)
        dup = DUP_DENSE_SHARE * dense + (1 - DUP_DENSE_SHARE) * jac
        order = np.lexsort((np.asarray(cand), -dup))[:k]
        return [Match(id=cand[j], score=round(float(100 * dup[j]), 1),
                      breakdown={"semantic": round(float(dense[j]), 4), "lexical": round(float(jac[j]), 4)},
                      shared_terms=self.lexical.shared_terms(terms, cand[j]),
                      best_sentence=self.best_sentence(cand[j], terms)) for j in order]

    def _passage_vec(self, listing: Listing) -> np.ndarray:
        if listing.id in self.store and self.docs.get(listing.id) == listing:
            return self.store.vectors([listing.id])[0]  # already encoded as a passage
        if self.encoder is None:
            raise ValueError("similar() needs an encoder for listings that are not indexed")
        return self.encoder.encode_passages([listing.embed_text()])[0]

    def _term_set(self, listing: Listing) -> np.ndarray:
        return self.lexical.query_terms(listing.embed_text()).ids


# Near-duplicates: passage-passage cosines of unrelated listings sit below ~0.85 with e5; rewordings
# of one text sit above 0.95. Term overlap (Jaccard) separates copies from mere same-topic texts.
DUP_COS_FLOOR = 0.85
DUP_DENSE_SHARE = 0.6


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 0.0


def highlight(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    """Split text into (segment, is_match) pieces for templates to wrap in <mark> (escaping each)."""
    words = sorted({t for t in terms if t}, key=len, reverse=True)
    if not text or not words:
        return [(text, False)] if text else []
    lower = text.lower()
    marks = np.zeros(len(text), dtype=bool)
    for w in words:
        start = lower.find(w.lower())
        while start >= 0:
            marks[start : start + len(w)] = True
            start = lower.find(w.lower(), start + len(w))
    return _segments(text, marks)


def _segments(text: str, marks: np.ndarray) -> list[tuple[str, bool]]:
    """Runs of equal marks as (text, marked) pieces (boundaries found by numpy, not per character)."""
    cuts = [0, *(np.flatnonzero(marks[1:] != marks[:-1]) + 1).tolist(), len(text)]
    return [(text[a:b], bool(marks[a])) for a, b in zip(cuts, cuts[1:])]

