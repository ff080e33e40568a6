"""BM25 index over jieba tokens, keyed by database ids, with per-sentence term data.

Tokenising is the slow part of a build (jieba: ~2.5 ms a listing), so an index can be built from a previous
one (only new or changed texts are tokenised) and saved to / loaded from a folder (a snapshot)."""
from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jieba
import numpy as np
import scipy.sparse as sp

from matchmaking import text as _text
from matchmaking.terms import generic_df, is_informative
from matchmaking.text import is_term, split_sentences, tokenize
from matchmaking.vectorstore import _atomic_write, _dir_lock, _fsync_dir

K1 = 1.2  # Lucene's defaults; the dev sets showed no gain from moving them (docs/evaluation.md)
B = 0.75
SNAPSHOT_FORMAT = 1
QUERY_TOKENS_MEMO = 4096  # query texts whose tokens are kept (a listing's text is a few KB)
SNAPSHOT_MANIFEST = "manifest.json"
# tokens saved by one version of the segmentation code are not reused by another (stop words, patterns)
TOKENIZER = hashlib.sha256(
    Path(_text.__file__).read_bytes() + f"|jieba {jieba.__version__}|split_sentences".encode()
).hexdigest()[:16]


class SnapshotError(ValueError):
    """A lexical snapshot that is missing, partial, corrupt or made by other code: rebuild from scratch."""


@dataclass(frozen=True)
class QueryTerms:
    """A query's distinct in-vocabulary term ids with their IDF weights."""

    ids: np.ndarray  # int32, distinct, sorted
    idf: np.ndarray  # float32, same order
    tokens: tuple[str, ...]
    words: frozenset[str] = frozenset()  # the query's whole words (precise segmentation), for display

    @property
    def mass(self) -> float:
        """Total IDF of the query's known terms (the denominator of coverage)."""
        return float(self.idf.sum())


class LexicalIndex:
    """BM25 over search-mode jieba tokens; keeps each document's term ids split by sentence."""

    def __init__(
        self,
        ids: np.ndarray,
        vocab: dict[str, int] | list[str],
        tok: np.ndarray,
        sent_ptr: np.ndarray,
        doc_sent: np.ndarray,
        shas: list[bytes] | None = None,
    ) -> None:
        self._ids = ids
        self._row = {int(i): r for r, i in enumerate(ids.tolist())}
        if isinstance(vocab, dict):
            self._vocab, self._terms = vocab, sorted(vocab, key=vocab.__getitem__)
        else:
            self._terms, self._vocab = vocab, {t: i for i, t in enumerate(vocab)}
        self._tok = tok            # all token ids, document after document
        self._sent_ptr = sent_ptr  # token offset of every sentence (+ end)
        self._doc_sent = doc_sent  # first sentence of every document (+ end)
        self._shas = shas          # sha256 of every document's text (None: built from tokens, not reusable)
        df, self._data, self._indices, self._indptr = _bm25_matrix(tok, np.diff(sent_ptr[doc_sent]), len(self._terms))
        n = len(ids)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        # per term: 1 may explain a match, 0 generic or a place, -1 not looked at yet (filled as queries need it)
        self._informative: np.ndarray | None = None

    @classmethod
    def build(
        cls, ids: Sequence[int], texts: Sequence[str], previous: LexicalIndex | None = None
    ) -> LexicalIndex:
        """Tokenize texts sentence by sentence and index them; texts a previous index holds are not
        tokenised again (the result is the same as a build from scratch)."""
        shas = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
        if previous is None or previous._shas is None:
            docs = ([tokenize(s) for s in split_sentences(t)] for t in texts)
            index = cls.from_sentence_tokens(ids, docs)
            index._shas = shas
            return index
        if shas == previous._shas and np.array_equal(np.asarray(ids, dtype=np.int64), previous._ids):
            return previous  # the same texts under the same ids: an index is never changed in place
        return previous._rebuilt(ids, texts, shas)

    def _rebuilt(self, ids: Sequence[int], texts: Sequence[str], shas: list[bytes]) -> LexicalIndex:
        """A new index over these texts, reusing this one's token ids for the texts it holds."""
        old_row = {s: r for r, s in enumerate(self._shas or ())}
        src = np.asarray([old_row.get(s, -1) for s in shas], dtype=np.int64)
        id_arr = _check_ids(ids, len(src))
        terms, vocab = list(self._terms), dict(self._vocab)
        fresh: dict[int, list[list[int]]] = {}  # row -> token ids per sentence, for texts tokenised now
        for r in np.flatnonzero(src < 0).tolist():
            sents = [tokenize(x) for x in split_sentences(texts[r])]
            for sent in sents:
                for t in sent:
                    if t not in vocab:
                        vocab[t] = len(terms)
                        terms.append(t)
            fresh[r] = [[vocab[t] for t in sent] for sent in sents]
        kept = np.flatnonzero(src >= 0)
        old_bounds = self._sent_ptr[self._doc_sent]
        # per new row: its token count and sentence count, from the old index or from the fresh tokens
        n_tok = np.zeros(len(src), dtype=np.int64)
        n_sent = np.zeros(len(src), dtype=np.int64)
        n_tok[kept] = np.diff(old_bounds)[src[kept]]
        n_sent[kept] = np.diff(self._doc_sent)[src[kept]]
        for r, sents in fresh.items():
            n_tok[r], n_sent[r] = sum(len(x) for x in sents), len(sents)
        tok_at, sent_at = _offsets(n_tok), _offsets(n_sent)
        tok = np.empty(int(tok_at[-1]), dtype=np.int32)
        sent_len = np.empty(int(sent_at[-1]), dtype=np.int64)
        tok[_ranges(tok_at[kept], n_tok[kept])] = self._tok[_ranges(old_bounds[src[kept]], n_tok[kept])]
        old_sent_len = np.diff(self._sent_ptr)
        sent_len[_ranges(sent_at[kept], n_sent[kept])] = \
            old_sent_len[_ranges(self._doc_sent[src[kept]], n_sent[kept])]
        for r, sents in fresh.items():
            tok[tok_at[r] : tok_at[r + 1]] = [t for x in sents for t in x]
            sent_len[sent_at[r] : sent_at[r + 1]] = [len(x) for x in sents]
        # renumber terms by first appearance, as a build from scratch does (and drop terms no text has)
        first = np.full(len(terms), len(tok), dtype=np.int64)
        np.minimum.at(first, tok, np.arange(len(tok), dtype=np.int64))  # first position of every term
        present = np.flatnonzero(first < len(tok))
        order = present[np.argsort(first[present])]
        remap = np.full(len(terms), -1, dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        return LexicalIndex(id_arr, [terms[i] for i in order.tolist()], remap[tok], _offsets(sent_len),
                            sent_at, shas)

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
        id_arr = _check_ids(ids, len(doc_sent) - 1)
        tok_arr = np.asarray(tok, dtype=np.int32)
        return cls(id_arr, vocab, tok_arr, np.asarray(sent_ptr, dtype=np.int64),
                   np.asarray(doc_sent, dtype=np.int64))

    # -- snapshots -----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write a snapshot (ids, text hashes, vocabulary, token ids, sentence pointers): the data file under
        a new name, then the manifest naming it (os.replace), so a reader sees the old or the new one."""
        if self._shas is None:
            raise ValueError("an index built from tokens has no text hashes to save")
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, ids=self._ids, shas=np.frombuffer(b"".join(self._shas), dtype=np.uint8),
                 terms=np.frombuffer(json.dumps(self._terms, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                 tok=self._tok, sent_ptr=self._sent_ptr, doc_sent=self._doc_sent)
        blob = buf.getvalue()
        with _dir_lock(root):
            name = f"lexical-{time.time_ns():x}-{os.getpid()}.npz"
            _atomic_write(root / name, lambda p: Path(p).write_bytes(blob))
            manifest = {"format": SNAPSHOT_FORMAT, "tokenizer": TOKENIZER, "count": len(self._ids),
                        "vocab": len(self._terms), "tokens": len(self._tok), "data_file": name,
                        "data_sha256": hashlib.sha256(blob).hexdigest()}
            _fsync_dir(root)
            _atomic_write(root / SNAPSHOT_MANIFEST, lambda p: Path(p).write_text(json.dumps(manifest, indent=2)))
            _fsync_dir(root)
            for path in root.iterdir():  # older data files, and temp files of writers that died
                stale = path.name.startswith("lexical-") and path.name != name
                if stale or (path.name.startswith(".") and path.name.endswith(".tmp")):
                    path.unlink(missing_ok=True)
        return root

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LexicalIndex:
        """Load a snapshot; SnapshotError when it is missing, partial, corrupt or from other tokenizer code."""
        root = Path(directory)
        for _ in range(3):  # a concurrent save may remove the file a manifest just read named: read again
            try:
                return cls._load_once(root)
            except FileNotFoundError as exc:
                missing = exc
        raise SnapshotError(f"no lexical snapshot in {root}: {missing}")

    @classmethod
    def _load_once(cls, root: Path) -> LexicalIndex:
        try:
            manifest = json.loads((root / SNAPSHOT_MANIFEST).read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise SnapshotError("manifest is not an object")
            if manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("tokenizer") != TOKENIZER:
                raise SnapshotError("made by another version of the tokenizer or of this format")
            name = str(manifest.get("data_file", ""))
            if not name.startswith("lexical-") or "/" in name or "\\" in name:
                raise SnapshotError(f"manifest names a bad file {name!r}")
            blob = (root / name).read_bytes()
            if hashlib.sha256(blob).hexdigest() != manifest.get("data_sha256"):
                raise SnapshotError("data file does not match the manifest's hash")
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("ids", "shas", "terms", "tok", "sent_ptr", "doc_sent")}
            terms = json.loads(arrays["terms"].tobytes().decode("utf-8"))
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise SnapshotError("malformed vocabulary")
            return cls._from_arrays(root, manifest, arrays, terms)
        except (SnapshotError, FileNotFoundError):
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"unreadable lexical snapshot in {root}: {exc}") from exc

    @classmethod
    def _from_arrays(cls, root: Path, manifest: dict, a: dict[str, np.ndarray], terms: list) -> LexicalIndex:
        ids, tok, sent_ptr, doc_sent, shas = a["ids"], a["tok"], a["sent_ptr"], a["doc_sent"], a["shas"]
        n = len(ids)
        ok = (all(x.ndim == 1 for x in a.values()) and ids.dtype == np.int64 and tok.dtype == np.int32 and sent_ptr.dtype == np.int64
              and doc_sent.dtype == np.int64 and shas.size == 32 * n
              and n == manifest.get("count") and len(terms) == manifest.get("vocab") == len(set(terms))
              and len(doc_sent) == n + 1 and len(sent_ptr) >= 1 and doc_sent[0] == 0
              and doc_sent[-1] == len(sent_ptr) - 1 and sent_ptr[0] == 0 and sent_ptr[-1] == len(tok)
              and bool(np.all(np.diff(sent_ptr) >= 0)) and bool(np.all(np.diff(doc_sent) >= 0))
              and (not len(tok) or (int(tok.min()) >= 0 and int(tok.max()) < len(terms)))
              and len(np.unique(ids)) == n)
        if not ok:
            raise SnapshotError(f"inconsistent lexical snapshot in {root}")
        raw = shas.tobytes()
        return cls(ids, terms, tok, sent_ptr, doc_sent, [raw[i * 32 : i * 32 + 32] for i in range(n)])

    def __len__(self) -> int:
        return len(self._ids)

    def query_terms(self, text: str) -> QueryTerms:
        """Distinct known terms of a query text with their IDF."""
        toks, words = _query_tokens(text)
        known = sorted({self._vocab[t] for t in toks if t in self._vocab})
        arr = np.asarray(known, dtype=np.int32)
        return QueryTerms(arr, self.idf[arr] if len(arr) else np.zeros(0, np.float32), toks, words)

    def doc_shares(self, words: Sequence[str]) -> list[float]:
        """The share of indexed listings holding each word (0 for a word the index does not know)."""
        n = max(len(self._ids), 1)
        out = []
        for w in words:
            t = self._vocab.get(w)
            out.append(0.0 if t is None else float(self._indptr[t + 1] - self._indptr[t]) / n)
        return out

    def scores(self, terms: QueryTerms, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every indexed row (row order = ids())."""
        if not len(terms.ids):
            return np.zeros(len(self._ids), dtype=np.float32)
        # bm25s' own sum (posting list after posting list, in term id order), on the matrix built here
        out = np.zeros(len(self._ids), dtype=np.float32)
        for t in terms.ids.tolist():
            lo, hi = self._indptr[t], self._indptr[t + 1]
            np.add.at(out, self._indices[lo:hi], self._data[lo:hi])
        if mask is not None:
            out *= mask
        return out

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

    def unknown_mass(self, terms: QueryTerms) -> float:
        """IDF mass of the query's words that no indexed document holds (each as rare as a word can be): what a
        coverage over known terms leaves out, so a small catalogue does not read one shared word as full cover."""
        unknown = {t for t in terms.tokens if t not in self._vocab and is_term(t)}
        return len(unknown) * math.log1p((len(self._ids) + 0.5) / 0.5)

    def coverage_all(self, terms: QueryTerms) -> np.ndarray:
        """Share of the query's IDF mass present in every row, from the BM25 postings."""
        out = np.zeros(len(self._ids), dtype=np.float32)
        if terms.mass <= 0:
            return out
        indptr, indices = self._indptr, self._indices
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
        """Displayable informative query terms found in the document, rarest first."""
        if int(doc_id) not in self._row or not len(terms.ids):
            return []
        hit = np.isin(terms.ids, self.doc_terms(doc_id))
        weight = self.explaining_idf(terms)
        found = [(float(w), self._terms[t]) for t, w, h in zip(terms.ids, weight, hit) if h and w > 0]
        words = [t for _, t in sorted(found, key=lambda x: (-x[0], -len(x[1])))]
        # search mode also cuts words into pieces (碳化硅 -> 化硅): a piece the query never says whole is not shown
        whole = terms.words
        return _drop_contained([w for w in words if is_term(w) and (not whole or w in whole)])[:limit]

    def head_coverage(self, terms: QueryTerms, doc_ids: Sequence[int], head_sentences: Sequence[int]) -> np.ndarray:
        """Share of each document's head (its first sentences: title and keywords) IDF mass that the query's
        terms hold: how much of what the counterpart is about, the query asks for (0 for unknown ids).
        One vectorised pass over all documents (a loop of per-document set operations cost ~0.1 ms each)."""
        out = np.zeros(len(doc_ids), dtype=np.float32)
        keep, owner, toks = self._head_pairs(doc_ids, head_sentences)
        if not len(keep):
            return out
        w = self.idf[toks].astype(np.float64)
        mass = np.bincount(owner, weights=w, minlength=len(keep))
        held = np.bincount(owner, weights=w * np.isin(toks, terms.ids), minlength=len(keep))
        out[keep] = np.where(mass > 0, held / np.where(mass > 0, mass, 1.0), 0.0)
        return out

    def head_terms(self, doc_ids: Sequence[int], head_sentences: Sequence[int]) -> tuple[sp.csr_matrix, np.ndarray]:
        """documents x term ids: the IDF of each distinct term of each document's head (an empty row for an unknown
        id or a document without a head), and each head's IDF mass. head_coverage of many queries against the same
        documents is then one sparse product per query: (heads @ indicator of terms.ids) / mass."""
        keep, owner, toks = self._head_pairs(doc_ids, head_sentences)
        owner = keep[owner]
        w = self.idf[toks].astype(np.float64)
        heads = sp.csr_matrix((w, (owner, toks)), shape=(len(doc_ids), len(self.idf) + 1))
        return heads, np.bincount(owner, weights=w, minlength=len(doc_ids))

    def _head_pairs(self, doc_ids: Sequence[int],
                    head_sentences: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The documents with a head (positions in doc_ids), and each distinct (document, term) of their heads once:
        the document as an index into those positions, the term id."""
        rows = self.rows(doc_ids)
        n = np.asarray(head_sentences, dtype=np.int64)
        keep = np.flatnonzero((rows >= 0) & (n > 0))
        if not len(keep):
            empty = np.zeros(0, dtype=np.int64)
            return keep, empty, empty
        s0 = self._doc_sent[rows[keep]].astype(np.int64)
        s1 = np.minimum(s0 + n[keep], self._doc_sent[rows[keep] + 1].astype(np.int64))
        lo, hi = self._sent_ptr[s0].astype(np.int64), self._sent_ptr[s1].astype(np.int64)
        lengths = hi - lo
        toks = self._tok[_ranges(lo, lengths)].astype(np.int64)
        owner = np.repeat(np.arange(len(keep)), lengths)
        pairs = np.unique(owner * (len(self.idf) + 1) + toks)  # each distinct (document, term) once
        return keep, pairs // (len(self.idf) + 1), pairs % (len(self.idf) + 1)

    def sentence_scores(self, terms: QueryTerms, doc_id: int) -> np.ndarray:
        """IDF-weighted overlap of each sentence with the query's informative terms (distinct per sentence)."""
        r = self._row[int(doc_id)]
        s0, s1 = int(self._doc_sent[r]), int(self._doc_sent[r + 1])
        out = np.zeros(s1 - s0, dtype=np.float32)
        if not len(terms.ids):
            return out
        weight = self.explaining_idf(terms)
        for j in range(s0, s1):
            toks = self._tok[self._sent_ptr[j] : self._sent_ptr[j + 1]]
            out[j - s0] = weight[np.isin(terms.ids, toks)].sum()
        return out

    def explaining_idf(self, terms: QueryTerms) -> np.ndarray:
        """The query terms' IDF where a term may explain a match, else 0: generic words (curated, or in a large
        share of this index's documents), places, and pieces of those (search mode cuts 长三角 into 长三 and
        三角) explain nothing. For display only: scores and coverage keep every term."""
        ok = self.informative(terms.ids)
        if not ok.all():
            dropped = "\0".join(self._terms[t] for t in terms.ids[~ok].tolist())  # \0: no match spans two words
            ok &= np.asarray([self._terms[t] not in dropped for t in terms.ids.tolist()], dtype=bool)
        return np.where(ok, terms.idf, np.float32(0)).astype(np.float32)

    def informative(self, term_ids: np.ndarray) -> np.ndarray:
        """Whether each term id may be shown as what two listings have in common (see matchmaking.terms)."""
        state = self._informative
        if state is None:  # once per index: an index never changes after it is built or loaded
            state = np.full(len(self._terms), -1, dtype=np.int8)
            state[np.diff(self._indptr) >= generic_df(len(self._ids))] = 0
            self._informative = state
        for t in term_ids[state[term_ids] < 0].tolist():
            state[t] = is_informative(self._terms[t])
        return state[term_ids] == 1


@functools.lru_cache(maxsize=QUERY_TOKENS_MEMO)
def _query_tokens(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A query text's tokens (search mode) and whole words, memoised: a match page asks for the same listing's
    terms several times (ranking, its title, near duplicates), and jieba takes ~10 ms per listing text."""
    return tuple(tokenize(text)), frozenset(tokenize(text, search_mode=False))


def _check_ids(ids: Sequence[int], n_docs: int) -> np.ndarray:
    id_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    if n_docs != len(id_arr):
        raise ValueError("ids and texts differ in length")
    if len(np.unique(id_arr)) != len(id_arr):
        raise ValueError("duplicate ids in lexical index")
    return id_arr


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Start of every run of counts (+ the end): [0, c0, c0 + c1, ...]."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s + n) for every (s, n), without a Python loop."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - lengths), lengths) + np.arange(total)


def _bm25_matrix(
    tok: np.ndarray, doc_len: np.ndarray, n_vocab: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Document frequencies and the BM25 (Lucene) score matrix in CSC form (data, row indices, indptr), the
    same numbers as bm25s' BM25(k1, b).index() computes document by document in Python, vectorised."""
    n = len(doc_len)
    # term counts per (document, term), ordered by term then document (CSC): scipy's counting sort, no argsort
    rows = np.repeat(np.arange(n, dtype=np.int32), doc_len)
    counts = sp.csc_matrix((np.ones(len(tok), dtype=np.int32), (rows, tok)), shape=(n, n_vocab))
    counts.sum_duplicates()
    indptr = counts.indptr.astype(np.int64)
    df = np.diff(indptr)
    doc, tf = counts.indices.astype(np.int32), counts.data
    term = np.repeat(np.arange(n_vocab, dtype=np.int64), df)
    distinct, which = np.unique(df, return_inverse=True)
    idf = np.asarray([math.log(1 + (n - d + 0.5) / (d + 0.5)) if d else 0.0 for d in distinct.tolist()],
                     dtype=np.float32)[which] if n_vocab else np.zeros(0, np.float32)
    avg = np.asarray(doc_len, dtype=np.int64).mean() if n else 0.0
    tf32 = tf.astype(np.float32)
    # bm25s: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in float64, times the float32 idf, stored float32
    tfc = tf32 / (K1 * ((1 - B) + B * doc_len[doc] / avg) + tf32) if len(doc) else np.zeros(0)
    return df, (idf[term] * tfc).astype(np.float32), doc, indptr


def _drop_contained(words: list[str]) -> list[str]:
    """Drop terms that are part of a longer kept term (search mode yields 姿态 and 姿态控制)."""
    kept: list[str] = []
    for w in sorted(words, key=len, reverse=True):
        if not any(w in k for k in kept):
            kept.append(w)
    order = {w: i for i, w in enumerate(words)}
    return sorted(kept, key=order.__getitem__)
