"""Benchmark: python -m matchmaking.bench [--docs N] [--queries Q] [--json]."""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from matchmaking.documents import Listing
from matchmaking.encoders import cpu_flags
from matchmaking.engine import HybridMatcher
from matchmaking.tools.evaluate import DEFAULT_CACHE, DEFAULT_MODEL, BeirFormatError, encoder_args, load_beir
from matchmaking.lexical import LexicalIndex
from matchmaking.text import split_sentences, tokenize
from matchmaking.vectorcache import VectorCache, cached_encode
from matchmaking.vectorstore import FaissStore

DEFAULT_SET = Path("../shared/data/bench/dev/field")
# Per-dimension noise of synthetic vectors. 0.01 keeps them near the span of real pairs (as real
# embeddings lie on a low-dimensional manifold); 0.03 (a 0.6-norm isotropic cloud) gave near-ties
# everywhere and ANN recall@10 0.46 at 1M (docs/benchmarks.md).
NOISE = 0.01
SYNTHESIS = ("listings beyond the real corpus are synthetic: vector = normalise(real_i + 0.5 real_j + "
             f"N(0, {NOISE}^2) per dim), text = title of real_i + 3-6 sentences drawn from random real abstracts")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(f"bad arguments: {message} / 参数错误：{message}")


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _Parser(prog="python -m matchmaking.bench", description="encoding, index and search benchmark")
    p.add_argument("--docs", type=int, default=100_000, help="listings in the index")
    p.add_argument("--queries", type=int, default=200, help="timed queries")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL", str(DEFAULT_MODEL)))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    p.add_argument("--set-dir", default=str(DEFAULT_SET), help="BEIR set giving real abstracts and queries")
    p.add_argument("--encode-sample", type=int, default=300, help="abstracts encoded for throughput")
    p.add_argument("--hybrid-limit", type=int, default=200_000,
                   help="skip the full hybrid match above this many listings (lexical index RAM)")
    p.add_argument("--query-quantize", choices=("int8", "bf16"), default=None,
                   help="encode the timed queries with this quantisation (latency only: the index keeps "
                        "fp32 passage vectors, so ranking quality of the mix is not measured here)")
    encoder_args(p)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.docs < 1 or args.queries < 1 or args.encode_sample < 0:
        p.error("--docs and --queries must be >= 1")
    return args


def percentiles(ms: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 of timings in milliseconds."""
    arr = np.asarray(ms, dtype=np.float64)
    return round(float(np.percentile(arr, 50)), 3), round(float(np.percentile(arr, 95)), 3)


def timed(fn: Callable[[int], object], n: int, warmup: int = 3) -> list[float]:
    """Milliseconds per call of fn(i) for i in range(n), after a few warm-up calls."""
    for i in range(min(warmup, n)):
        fn(i)
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def rss_mb() -> float:
    """Current resident memory of this process in MB."""
    with open("/proc/self/statm") as fh:
        return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def synth_vectors(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n vectors: the real ones first, then blends of two real vectors plus noise, normalised."""
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    m = min(n, len(real))
    out[:m] = real[:m]
    for start in range(m, n, 100_000):
        stop = min(n, start + 100_000)
        i, j = rng.integers(0, len(real), stop - start), rng.integers(0, len(real), stop - start)
        noise = rng.normal(0, NOISE, (stop - start, real.shape[1])).astype(np.float32)
        block = real[i] + 0.5 * real[j] + noise
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


class SyntheticDocs(Mapping[int, Listing]):
    """Listings built on access from a pool of real titles and sentences (keeps 100k+ in little RAM)."""

    def __init__(self, real: Sequence[Listing], n: int, rng: np.random.Generator) -> None:
        self.real = list(real)
        self.sentences = [s for doc in self.real for s in split_sentences(doc.body)]
        extra = max(0, n - len(self.real))
        self.title_of = rng.integers(0, len(self.real), extra)
        lengths = rng.integers(3, 7, extra)
        self.ptr = np.concatenate([[0], np.cumsum(lengths)])
        self.sent = rng.integers(0, len(self.sentences), int(self.ptr[-1]))
        self.n = n

    def __getitem__(self, i: int) -> Listing:
        if not 0 <= i < self.n:
            raise KeyError(i)
        if i < len(self.real):
            return self.real[i]
        j = i - len(self.real)
        body = "".join(self.sentences[s] for s in self.sent[self.ptr[j] : self.ptr[j + 1]])
        return Listing(i, "achievement", self.real[self.title_of[j]].title, body)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n

    def sentence_tokens(self) -> Iterator[list[tuple[str, ...]]]:
        """Per listing, per sentence tokens (real sentences tokenized once, then reused)."""
        pool = [tuple(tokenize(s)) for s in self.sentences]
        titles = [[tuple(tokenize(t)) for t in split_sentences(d.header())] for d in self.real]
        for i in range(self.n):
            doc = self[i]
            if i < len(self.real):
                yield [tuple(tokenize(s)) for s in split_sentences(doc.embed_text())]
            else:
                j = i - len(self.real)
                yield titles[self.title_of[j]] + [pool[s] for s in self.sent[self.ptr[j] : self.ptr[j + 1]]]


def _load_encoder(path: str, threads: int | None = None, quantize: str | None = None, backend: str = "auto",
                  parallel: int = 1, query_backend: str = "auto"):
    from matchmaking.encoders import build_encoder

    if not Path(path).exists():
        _fail(f"model not found at {path} (set --model or EMBEDDING_MODEL) / 找不到模型 {path}")
    try:
        return build_encoder(path, threads=threads, quantize=None if quantize in (None, "none") else quantize,
                             backend=backend, parallel=parallel, query_backend=query_backend)
    except (RuntimeError, ValueError) as exc:  # ModelNotReady / OnnxNotReady carry a bilingual how-to
        _fail(str(exc))


def _setup(args: argparse.Namespace, encoder) -> dict:
    """What --backend/--quantize ("auto": EMBEDDING_BACKEND/EMBEDDING_QUANTIZE's default) resolved to here."""
    from matchmaking.encoders import resolve_setup

    backend, quantize = resolve_setup(args.model, args.backend, args.quantize)
    return {"backend": backend, "quantize": quantize or "none", "asked": f"{args.backend}/{args.quantize}",
            "encoder": repr(encoder)}


def _demands(data, n: int) -> list[str]:
    """Demand-like query texts: the set's queries (titles or keyword lists), first n."""
    return list(data.queries.values())[:n]


def bench_dense(store: FaissStore, matrix: np.ndarray, qvecs: np.ndarray) -> dict:
    """Dense search latency and recall@10 of the store vs exact numpy search (the baseline)."""
    exact_top = np.argsort(-(qvecs @ matrix.T), axis=1)[:, :10] if len(matrix) <= 200_000 else \
        np.stack([np.argpartition(-(matrix @ q), 10)[:10] for q in qvecs])
    dense_ms = timed(lambda i: store.search(qvecs[i], 10), len(qvecs))
    recall = np.mean([len({i for i, _ in store.search(q, 10)} & set(exact_top[j].tolist())) / 10
                      for j, q in enumerate(qvecs)])
    sweep = _ef_sweep(store, qvecs, exact_top) if store.kind == "hnsw" else []
    nq = min(len(qvecs), 50)  # brute force at 1M costs ~0.1-0.2 s a query
    base_ms = timed(lambda i: np.argpartition(-(matrix @ qvecs[i]), 10)[:10], nq, warmup=1)
    return {"dense_search_ms": dense_ms, "ann_recall@10": round(float(recall), 4), "baseline_ms": base_ms,
            "ef_sweep": sweep}


def _ef_sweep(store: FaissStore, qvecs: np.ndarray, exact_top: np.ndarray) -> list[dict]:
    """Recall@10 and latency of the same HNSW graph at several efSearch values."""
    default, out = store.ef_search, []
    for ef in (64, 128, 256, 512):
        store.ef_search = ef
        ms = timed(lambda i: store.search(qvecs[i], 10), len(qvecs))
        recall = np.mean([len({i for i, _ in store.search(q, 10)} & set(exact_top[j].tolist())) / 10
                          for j, q in enumerate(qvecs)])
        p50, p95 = percentiles(ms)
        out.append({"ef_search": ef, "recall@10": round(float(recall), 4), "p50_ms": p50, "p95_ms": p95})
    store.ef_search = default
    return out


def run(args: argparse.Namespace) -> dict:
    """Run every measurement and return the figures."""
    rng = np.random.default_rng(args.seed)
    data = load_beir(args.set_dir)
    real = [Listing(i, "achievement", t, x) for i, (t, x) in enumerate(data.corpus.values())]
    encoder = _load_encoder(args.model, quantize=args.quantize, backend=args.backend, parallel=args.parallel,
                            query_backend=args.query_backend)
    sample = [d.embed_text() for d in real[: args.encode_sample]]
    t = time.perf_counter()
    if sample:
        encoder.encode_passages(sample)
    encode_rate = len(sample) / (time.perf_counter() - t) if sample else None
    cache = VectorCache(args.cache_dir, encoder.model_key, "passage")
    real_vecs = cached_encode(encoder.encode_passages, [d.embed_text() for d in real], cache)
    queries = _demands(data, args.queries)
    qvecs = cached_encode(encoder.encode_queries, queries, VectorCache(args.cache_dir, encoder.model_key, "query"))
    matrix = synth_vectors(real_vecs, args.docs, rng)
    ids = np.arange(args.docs, dtype=np.int64)
    t = time.perf_counter()
    store = FaissStore(encoder.dim, encoder.model_key)
    store.upsert(ids, matrix)
    build_s = time.perf_counter() - t
    dense = bench_dense(store, matrix, qvecs)
    out = {
        "docs": args.docs, "real_docs": min(args.docs, len(real)),
        "synthetic_docs": max(0, args.docs - len(real)), "synthesis": SYNTHESIS if args.docs > len(real) else None,
        "queries": len(qvecs), "model": encoder.model_key, "index_kind": store.kind,
        "cpu_flags": cpu_flags(), "setup": _setup(args, encoder),
        "encode_docs_per_s": round(encode_rate, 2) if encode_rate else None, "encode_sample": len(sample),
        "build_s": round(build_s, 2),
        "dense_search_p50_ms": percentiles(dense["dense_search_ms"])[0],
        "dense_search_p95_ms": percentiles(dense["dense_search_ms"])[1],
        "ann_recall@10": dense["ann_recall@10"], "ef_search": store.ef_search if store.kind == "hnsw" else None,
        "ef_sweep": dense["ef_sweep"],
    }
    if args.docs <= args.hybrid_limit:
        # one query at a time: a single torch thread avoids OpenMP stalls on a shared 2-core box
        query_encoder = _load_encoder(args.model, threads=1, quantize=args.query_quantize or args.quantize,
                                      backend=args.backend, query_backend=args.query_backend)
        out["query_encoder"] = repr(query_encoder)
        out.update(_bench_hybrid(query_encoder, store, real, args.docs, queries, qvecs, rng))
    else:
        out.update(hybrid_match_p50_ms=None, hybrid_match_p95_ms=None,
                   hybrid_note=f"skipped above --hybrid-limit {args.hybrid_limit}")
    out["rss_mb"] = rss_mb()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    base50, base95 = percentiles(dense["baseline_ms"])
    out["baseline"] = {"kind": "numpy brute force (float32 matrix @ query, argpartition)", "build_s": 0.0,
                       "dense_search_p50_ms": base50, "dense_search_p95_ms": base95, "ann_recall@10": 1.0,
                       "matrix_mb": round(matrix.nbytes / 2**20, 1)}
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"
    return out


def _bench_hybrid(encoder, store: FaissStore, real: Sequence[Listing], n: int, queries: Sequence[str],
                  qvecs: np.ndarray, rng: np.random.Generator) -> dict:
    """Lexical build time and the full hybrid match (query encoding + explanations) latency."""
    docs = SyntheticDocs(real, n, rng)
    t = time.perf_counter()
    lexical = LexicalIndex.from_sentence_tokens(list(range(n)), docs.sentence_tokens())
    lex_s = time.perf_counter() - t
    matcher = HybridMatcher(encoder, store, lexical, docs)
    demands = [Listing(10**9 + i, "demand", "", q) for i, q in enumerate(queries)]
    encode_ms = timed(lambda i: encoder.encode_queries([demands[i].embed_text()]), len(demands))
    match_ms = timed(lambda i: matcher.match(demands[i], k=10, query_vec=qvecs[i]), len(demands))
    full_ms = timed(lambda i: matcher.match(demands[i], k=10), len(demands))
    e50, e95 = percentiles(encode_ms)
    m50, m95 = percentiles(match_ms)
    p50, p95 = percentiles(full_ms)
    return {"lexical_build_s": round(lex_s, 2), "query_encode_p50_ms": e50, "query_encode_p95_ms": e95,
            "match_without_encoding_p50_ms": m50, "match_without_encoding_p95_ms": m95,
            "hybrid_match_p50_ms": p50, "hybrid_match_p95_ms": p95}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    args = _args(argv)
    try:
        out = run(args)
    except BeirFormatError as exc:
        _fail(str(exc))
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
