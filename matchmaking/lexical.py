"""BM25 index (bm25s) over jieba tokens, keyed by database ids, with per-sentence term data."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from matchmaking.text import is_term, split_sentences, tokenize

K1 = 1.2  # Lucene's defaults; the dev sets showed no gain from moving them (docs/evaluation.md)
B = 0.75


@dataclass(frozen=True)
class QueryTerms:
    """A query's distinct in-vocabulary term ids with their IDF weights."""

    ids: np.ndarray  # int32, distinct, sorted
    idf: np.ndarray  # float32, same order
    tokens: tuple[str, ...]

    @property
    def mass(self) -> float:
        """Total IDF of the query's known terms (the denominator of coverage)."""
        return float(self.idf.sum())


class LexicalIndex:
    """BM25 over search-mode jieba tokens; keeps each document's term ids split by sentence."""

    def __init__(
        self,
        ids: np.ndarray,
        vocab: dict[str, int],
        tok: np.ndarray,
        sent_ptr: np.ndarray,
        doc_sent: np.ndarray,
        retriever: bm25s.BM25,
    ) -> None:
        self._ids = ids
        self._row = {int(i): r for r, i in enumerate(ids)}
        self._vocab = vocab
        self._terms = sorted(vocab, key=vocab.__getitem__)
        self._tok = tok            # all token ids, document after document
        self._sent_ptr = sent_ptr  # token offset of every sentence (+ end)
        self._doc_sent = doc_sent  # first sentence of every document (+ end)
        self._bm25 = retriever
        df = np.bincount(self._unique_doc_terms(), minlength=len(vocab))
        n = len(ids)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)

    @classmethod
    def build(cls, ids: Sequence[int], texts: Sequence[str]) -> LexicalIndex:
        """Tokenize texts sentence by sentence and index them."""
        return cls.from_sentence_tokens(ids, ([tokenize(s) for s in split_sentences(t)] for t in texts))

    @classmethod
    def from_sentence_tokens(
        cls, ids: Sequence[int], docs: Iterable[Sequence[Sequence[str]]]
    ) -> LexicalIndex:
        """Index pre-tokenized documents (a list of token lists per sentence)."""
        vocab: dict[str, int] = {}
        tok: list[int] = []
        sent_ptr = [0]
        doc_sent = [0]
        for sentences in docs:
            for sent in sentences:
                tok.extend(vocab.setdefault(t, len(vocab)) for t in sent)
                sent_ptr.append(len(tok))
            doc_sent.append(len(sent_ptr) - 1)
        id_arr = np.asarray(ids, dtype=np.int64)
        if len(doc_sent) - 1 != len(id_arr):
            raise ValueError("ids and texts differ in length")
        if len(set(id_arr.tolist())) != len(id_arr):
            raise ValueError("duplicate ids in lexical index")
        tok_arr = np.asarray(tok, dtype=np.int32)
        sent_arr = np.asarray(sent_ptr, dtype=np.int64)
        doc_arr = np.asarray(doc_sent, dtype=np.int64)
        bounds = sent_arr[doc_arr]
        per_doc = [tok_arr[bounds[i] : bounds[i + 1]].tolist() for i in range(len(id_arr))]
        retriever = bm25s.BM25(k1=K1, b=B)
        retriever.index((per_doc, dict(vocab)), show_progress=False)
        return cls(id_arr, vocab, tok_arr, sent_arr, doc_arr, retriever)

    def __len__(self) -> int:
        return len(self._ids)

    def _unique_doc_terms(self) -> np.ndarray:
        bounds = self._sent_ptr[self._doc_sent]
        doc_of_tok = np.repeat(np.arange(len(self._ids)), np.diff(bounds))
        pairs = np.unique(doc_of_tok.astype(np.int64) * (len(self._vocab) + 1) + self._tok)
        return (pairs % (len(self._vocab) + 1)).astype(np.int64)

    def query_terms(self, text: str) -> QueryTerms:
        """Distinct known terms of a query text with their IDF."""
        toks = tokenize(text)
        known = sorted({self._vocab[t] for t in toks if t in self._vocab})
        arr = np.asarray(known, dtype=np.int32)
        return QueryTerms(arr, self.idf[arr] if len(arr) else np.zeros(0, np.float32), tuple(toks))

    def scores(self, terms: QueryTerms, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every indexed row (row order = ids())."""
        if not len(terms.ids):
            return np.zeros(len(self._ids), dtype=np.float32)
        return self._bm25.get_scores([int(t) for t in terms.ids], weight_mask=mask)

    def search(
        self, text: str, k: int = 10, allowed_ids: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, BM25 score) for a text, restricted to allowed_ids when given."""
        return self.search_terms(self.query_terms(text), k, allowed_ids)

    def search_terms(
        self, terms: QueryTerms, k: int, allowed_ids: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, score) with positive score for already-analysed query terms."""
        scores = self.scores(terms, self.mask(allowed_ids))
        k = min(k, int((scores > 0).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._ids[r]), float(scores[r])) for r in top]

    def mask(self, allowed_ids: set[int] | None) -> np.ndarray | None:
        """0/1 weight per row for a hard filter (None means everything)."""
        if allowed_ids is None:
            return None
        rows = [self._row[i] for i in allowed_ids if i in self._row]
        m = np.zeros(len(self._ids), dtype=np.float32)
        m[rows] = 1.0
        return m

    def ids(self) -> np.ndarray:
        """Indexed ids in row order."""
        return self._ids

    def rows(self, ids: Iterable[int]) -> np.ndarray:
        """Row numbers for ids (-1 for unknown ids)."""
        return np.asarray([self._row.get(int(i), -1) for i in ids], dtype=np.int64)

    def doc_terms(self, doc_id: int) -> np.ndarray:
        """All term ids of a document (with repeats)."""
        r = self._row[int(doc_id)]
        lo, hi = self._sent_ptr[self._doc_sent[r]], self._sent_ptr[self._doc_sent[r + 1]]
        return self._tok[lo:hi]

    def coverage_all(self, terms: QueryTerms) -> np.ndarray:
        """Share of the query's IDF mass present in every row, from the BM25 postings."""
        out = np.zeros(len(self._ids), dtype=np.float32)
        if terms.mass <= 0:
            return out
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        for t, w in zip(terms.ids, terms.idf):
            out[indices[indptr[t] : indptr[t + 1]]] += w  # a posting list has each row once
        return out / terms.mass

    def coverage(self, terms: QueryTerms, doc_ids: Sequence[int]) -> np.ndarray:
        """Share of the query's IDF mass present in each given document (0-1)."""
        out = np.zeros(len(doc_ids), dtype=np.float32)
        if terms.mass <= 0:
            return out
        for j, d in enumerate(doc_ids):
            if int(d) in self._row:
                out[j] = terms.idf[np.isin(terms.ids, self.doc_terms(d))].sum() / terms.mass
        return out

    def shared_terms(self, terms: QueryTerms, doc_id: int, limit: int = 8) -> list[str]:
        """Displayable query terms found in the document, rarest first."""
        if int(doc_id) not in self._row or not len(terms.ids):
            return []
        hit = np.isin(terms.ids, self.doc_terms(doc_id))
        found = [(float(w), self._terms[t]) for t, w, h in zip(terms.ids, terms.idf, hit) if h]
        words = [t for _, t in sorted(found, key=lambda x: (-x[0], -len(x[1])))]
        return _drop_contained([w for w in words if is_term(w)])[:limit]

    def sentence_scores(self, terms: QueryTerms, doc_id: int) -> np.ndarray:
        """IDF-weighted overlap of each sentence with the query (distinct terms per sentence)."""
        r = self._row[int(doc_id)]
        s0, s1 = int(self._doc_sent[r]), int(self._doc_sent[r + 1])
        out = np.zeros(s1 - s0, dtype=np.float32)
        if not len(terms.ids):
            return out
        for j in range(s0, s1):
            toks = self._tok[self._sent_ptr[j] : self._sent_ptr[j + 1]]
            out[j - s0] = terms.idf[np.isin(terms.ids, toks)].sum()
        return out


def _drop_contained(words: list[str]) -> list[str]:
    """Drop terms that are part of a longer kept term (search mode yields 姿态 and 姿态控制)."""
    kept: list[str] = []
    for w in sorted(words, key=len, reverse=True):
        if not any(w in k for k in kept):
            kept.append(w)
    order = {w: i for i, w in enumerate(words)}
    return sorted(kept, key=order.__getitem__)
