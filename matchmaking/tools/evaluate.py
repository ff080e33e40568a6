"""Evaluate the matcher on a BEIR set: python -m matchmaking.evaluate SET_DIR [--method ...] [--json]."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matchmaking.encoders import QUANTIZE_CHOICES
from matchmaking.engine import METHODS
DEFAULT_MODEL = Path("instance/models/multilingual-e5-small")
DEFAULT_CACHE = Path("instance/cache/vectors")
DEFAULT_ADAPTED = Path("instance/models/adapted")  # --adapt: one folder per (corpus, base model, recipe)


class BeirFormatError(ValueError):
    """A BEIR set that is missing a file or holds a malformed line."""


@dataclass
class BeirSet:
    """A BEIR retrieval set: corpus, queries and graded relevance judgements."""

    corpus: dict[str, tuple[str, str]]  # _id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _read_jsonl(path: Path, fields: Sequence[str]) -> list[dict]:
    if not path.is_file():
        raise BeirFormatError(f"missing file {path} / 缺少文件 {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or any(not isinstance(row.get(f, ""), str) for f in fields) \
                    or "_id" not in row:
                raise BeirFormatError(f"{path}:{n}: malformed line / 第 {n} 行格式错误")
            rows.append(row)
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise BeirFormatError(f"missing file {path} / 缺少文件 {path}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and parts[:1] == ["query-id"]:
                continue
            if not line.strip():
                continue
            try:
                qid, did, score = parts
                qrels.setdefault(qid, {})[did] = int(score)
            except ValueError:
                raise BeirFormatError(f"{path}:{n}: malformed line / 第 {n} 行格式错误") from None
    return qrels


def load_beir(set_dir: str | Path) -> BeirSet:
    """Read corpus.jsonl, queries.jsonl and qrels/test.tsv from a BEIR folder."""
    root = Path(set_dir)
    if not root.is_dir():
        raise BeirFormatError(f"no such directory {root} / 目录不存在 {root}")
    corpus = {str(r["_id"]): (r.get("title", ""), r.get("text", ""))
              for r in _read_jsonl(root / "corpus.jsonl", ("title", "text"))}
    queries = {str(r["_id"]): r.get("text", "") for r in _read_jsonl(root / "queries.jsonl", ("text",))}
    qrels = _read_qrels(root / "qrels" / "test.tsv")
    return BeirSet(corpus, queries, qrels)


def ndcg_at(ranked: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with gain 2^rel - 1 and log2(rank + 1) discount."""
    dcg = sum((2 ** rels.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def _top_grade(rels: Mapping[str, int]) -> set[str]:
    top = max(rels.values(), default=0)
    return {d for d, r in rels.items() if r == top and r > 0}


def mrr_at(ranked: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first top-grade document within k."""
    best = _top_grade(rels)
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if d in best), 0.0)


def recall_at(ranked: Sequence[str], rels: Mapping[str, int], k: int = 100) -> float:
    """Share of the top-grade documents retrieved within k."""
    best = _top_grade(rels)
    return len(best.intersection(ranked[:k])) / len(best) if best else 0.0


def score_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> dict:
    """Mean nDCG@k, MRR@k and Recall@100 over the judged queries of a run."""
    qids = [q for q in qrels if q in run and any(v > 0 for v in qrels[q].values())]
    n = max(len(qids), 1)
    return {
        f"ndcg@{k}": sum(ndcg_at(run[q], qrels[q], k) for q in qids) / n,
        f"mrr@{k}": sum(mrr_at(run[q], qrels[q], k) for q in qids) / n,
        "recall@100": sum(recall_at(run[q], qrels[q], 100) for q in qids) / n,
        "queries": len(qids),
    }


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in English and Chinese, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(f"bad arguments: {message} / 参数错误：{message}")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _Parser(prog="python -m matchmaking.evaluate", description="nDCG@10 / MRR@10 / Recall@100 on a BEIR set")
    p.add_argument("set_dir", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--method", choices=METHODS, default="hybrid")
    p.add_argument("--k", type=int, default=10, help="cut-off for nDCG and MRR")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL", str(DEFAULT_MODEL)))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="vector cache folder")
    p.add_argument("--adapt", action="store_true",
                   help="adapt the model on this set's corpus texts first (never its queries or judgements), as the "
                        "platform adapts on its listings (`flask model adapt`); report the adapted and the stock figures")
    p.add_argument("--adapt-dir", default=str(DEFAULT_ADAPTED), help="where adapted models are kept, by corpus digest")
    p.add_argument("--adapt-budget", type=float, default=None, help="stop training after this many seconds")
    p.add_argument("--adapt-max-pairs", type=int, default=None, help="training pairs at most (default: the platform's)")
    p.add_argument("--adapt-batch-size", type=int, default=None, help="pairs per step (default: the platform's)")
    p.add_argument("--adapt-scale", type=float, default=None, help="inverse temperature of the loss (ablations)")
    p.add_argument("--adapt-trained-layers", type=int, default=None,
                   help="train only the top N transformer layers, 0 for all (default: the platform's)")
    p.add_argument("--adapt-hard-negatives", choices=("yes", "no"), default=None,
                   help="add a BM25-mined hard negative per pair (default: the platform's)")
    p.add_argument("--adapt-learning-rate", type=float, default=None, help="AdamW learning rate (ablations)")
    encoder_args(p)
    args = p.parse_args(argv)
    if args.k < 1:
        p.error("--k must be >= 1")
    if args.adapt and args.method == "lexical":
        p.error("--adapt needs a method that uses the model (dense, rrf, hybrid)")
    if args.adapt:
        from matchmaking.adapt import AdaptError

        try:
            adapt_options(args).check()
        except AdaptError as exc:
            p.error(f"--adapt: {exc}")
    return args


def adapt_options(args: argparse.Namespace):
    """The adaptation's options: the platform's defaults (`flask model adapt`) unless given."""
    from matchmaking.adapt import AdaptOptions

    defaults = AdaptOptions()
    return AdaptOptions(time_budget_s=args.adapt_budget,
                        max_pairs=defaults.max_pairs if args.adapt_max_pairs is None else args.adapt_max_pairs,
                        batch_size=defaults.batch_size if args.adapt_batch_size is None else args.adapt_batch_size,
                        scale=defaults.scale if args.adapt_scale is None else args.adapt_scale,
                        learning_rate=defaults.learning_rate if args.adapt_learning_rate is None
                        else args.adapt_learning_rate,
                        trained_layers=defaults.trained_layers if args.adapt_trained_layers is None
                        else args.adapt_trained_layers,
                        hard_negatives=defaults.hard_negatives if args.adapt_hard_negatives is None
                        else args.adapt_hard_negatives == "yes")


def encoder_args(p: argparse.ArgumentParser) -> None:
    """--backend and --quantize, defaulting to the platform's EMBEDDING_BACKEND / EMBEDDING_QUANTIZE."""
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default=os.environ.get("EMBEDDING_BACKEND") or "auto",
                   help="encoder backend, as EMBEDDING_BACKEND (default auto: torch bf16 where the CPU has native bf16, "
                        "else ONNX Runtime int8 passages when exported, else torch)")
    p.add_argument("--quantize", choices=("auto", "none", *QUANTIZE_CHOICES),
                   default=os.environ.get("EMBEDDING_QUANTIZE") or "auto",
                   help="as EMBEDDING_QUANTIZE (default auto: bf16 on torch where the CPU has it, int8 on onnx, else fp32); onnx + int8: "
                        "int8 passages, fp32 queries; bf16: torch only")
    p.add_argument("--parallel", type=int, default=os.environ.get("ENCODER_PARALLEL") or "1",
                   help="as ENCODER_PARALLEL: model copies encoding passages together, one thread each (torch)")
    p.add_argument("--query-backend", choices=("auto", "torch", "onnx"),
                   default=os.environ.get("EMBEDDING_QUERY_BACKEND") or "auto",
                   help="as EMBEDDING_QUERY_BACKEND: queries through ONNX Runtime fp32 (auto: when exported) or torch")


def _load_encoder(path: str, backend: str = "auto", quantize: str | None = None, parallel: int = 1,
                  query_backend: str = "auto"):
    """The platform's encoder for these settings (imported lazily: lexical runs need no torch)."""
    from matchmaking.encoders import build_encoder

    if not Path(path).exists():
        _fail(f"model not found at {path} (set --model or EMBEDDING_MODEL) / 找不到模型 {path}")
    try:
        return build_encoder(path, backend=backend, quantize=None if quantize in (None, "none") else quantize,
                             parallel=parallel, query_backend=query_backend)
    except (RuntimeError, ValueError) as exc:  # ModelNotReady / OnnxNotReady carry a bilingual how-to
        _fail(str(exc))


@dataclass
class SetMatcher:
    """A BEIR set indexed as the platform indexes listings: corpus papers as achievements, queries as demands."""

    matcher: Any
    dids: list[str]
    qids: list[str]
    queries: list[Any]
    qvecs: Any

    def rank(self, j: int, depth: int, method: str = "hybrid") -> list:
        return self.matcher.rank(self.queries[j], depth, None, None if self.qvecs is None else self.qvecs[j],
                                 method)[0]


def build_set(data: BeirSet, method: str, model: str, cache_dir: str | None, progress: bool = False,
              backend: str = "auto", quantize: str | None = None, parallel: int = 1,
              query_backend: str = "auto") -> SetMatcher:
    """Index a set's corpus through HybridMatcher (vectors from the cache when there)."""
    from matchmaking.documents import Listing
    from matchmaking.engine import HybridMatcher
    from matchmaking.lexical import LexicalIndex
    from matchmaking.vectorcache import VectorCache, cached_encode
    from matchmaking.vectorstore import FaissStore

    dids = list(data.corpus)
    docs = {i: Listing(i, "achievement", data.corpus[d][0], data.corpus[d][1]) for i, d in enumerate(dids)}
    qids = [q for q in data.queries if q in data.qrels]
    queries = [Listing(j, "demand", "", data.queries[q]) for j, q in enumerate(qids)]
    texts = [docs[i].embed_text() for i in range(len(dids))]
    encoder, qvecs = None, None
    store = FaissStore(1)
    if method != "lexical":
        encoder = _load_encoder(model, backend, quantize, parallel, query_backend)
        cache = (lambda role: VectorCache(cache_dir, encoder.model_key, role)) if cache_dir else (lambda r: None)
        report = (lambda a, b: print(f"encoded {a}/{b}", file=sys.stderr)) if progress else None
        pvecs = cached_encode(encoder.encode_passages, texts, cache("passage"), progress=report)
        qvecs = cached_encode(encoder.encode_queries, [q.embed_text() for q in queries], cache("query"))
        store = FaissStore(encoder.dim, encoder.model_key)
        store.upsert(list(range(len(dids))), pvecs)
    matcher = HybridMatcher(encoder, store, LexicalIndex.build(list(range(len(dids))), texts), docs)
    return SetMatcher(matcher, dids, qids, queries, qvecs)


def run_set(data: BeirSet, method: str, k: int, model: str, cache_dir: str | None,
            progress: bool = False, backend: str = "auto", quantize: str | None = None,
            parallel: int = 1, query_backend: str = "auto") -> dict[str, list[str]]:
    """Rank every query's corpus through HybridMatcher; returns query id -> ranked corpus ids."""
    sm = build_set(data, method, model, cache_dir, progress, backend, quantize, parallel, query_backend)
    depth = max(k, 100)
    return {q: [sm.dids[r.id] for r in sm.rank(j, depth, method)] for j, q in enumerate(sm.qids)}


def _evaluate(data: BeirSet, args: argparse.Namespace, model: str) -> dict:
    """Run and score the set with this model; "auto" settings reported as what they resolved to here."""
    from matchmaking.encoders import resolve_setup

    start = time.perf_counter()
    run = run_set(data, args.method, args.k, model, args.cache_dir, progress=not args.json,
                  backend=args.backend, quantize=args.quantize, parallel=args.parallel,
                  query_backend=args.query_backend)
    result = score_run(run, data.qrels, args.k)
    backend, quantize = resolve_setup(model, args.backend, args.quantize)
    result.update(method=args.method, backend=backend, quantize=quantize or "none",
                  seconds=round(time.perf_counter() - start, 2))
    return result


def adapted_model(data: BeirSet, args: argparse.Namespace) -> tuple[Path, float, bool]:
    """The model adapted on this set's corpus (titles and texts only), from --adapt-dir when an earlier run made
    it (same corpus, base model and recipe), else trained now and exported to ONNX as `make model` does.
    Returns (folder, seconds the adaptation took, whether it came from the cache)."""
    from matchmaking import adapt as adapt_module
    from matchmaking.adapt import MARKER, AdaptError, adapt, corpus_digest
    from matchmaking.model_folder import model_key_for

    base = Path(args.model).expanduser()
    if not (base / "modules.json").is_file():
        _fail(f"--adapt needs a local model folder; {base} is not one (set --model) / "
              f"--adapt 需要本地模型目录，{base} 不是")
    docs = [data.corpus[d] for d in sorted(data.corpus)]
    options = adapt_options(args)
    digest = corpus_digest(docs, model_key_for(base), options)
    folder = Path(args.adapt_dir) / f"{base.resolve().name}-adapted-{digest[:12]}"
    if (folder / "modules.json").is_file():
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return folder, float(marker.get("total_seconds", marker.get("seconds", 0))), True
    start = time.perf_counter()
    report = None if args.json else (lambda s, n, loss: print(f"adapt step {s}/{n} loss {loss:.3f}", file=sys.stderr)
                                     if s % 20 == 0 or s == n else None)
    try:
        result = adapt(base, docs, folder, options, progress=report)
    except AdaptError as exc:
        _fail(str(exc))
    from matchmaking.encoders import resolve_setup

    if resolve_setup(str(base), args.backend, args.quantize)[0] == "onnx":  # the stock model runs on onnx here
        why = adapt_module.export_onnx(folder)
        if why:
            print(f"ONNX export of {folder} skipped ({why}); it runs on torch", file=sys.stderr)
    # re-encoding the corpus with the adapted model is part of the adaptation's cost (issue 19): timed here
    encode_start = time.perf_counter()
    build_set(data, "dense", str(folder), args.cache_dir, False, args.backend, args.quantize, args.parallel,
              args.query_backend)
    total = round(time.perf_counter() - start, 1)
    marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    marker.update(total_seconds=total, encode_seconds=round(time.perf_counter() - encode_start, 1),
                  train_seconds=result.seconds)
    (folder / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder, total, False


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    args = _args(argv)
    try:
        data = load_beir(args.set_dir)
    except BeirFormatError as exc:
        _fail(str(exc))
    if not data.qrels or not data.corpus:
        _fail(f"{args.set_dir}: empty corpus or qrels / 语料或相关性标注为空")
    result = _evaluate(data, args, args.model)
    if args.adapt:
        stock = result
        folder, seconds, cached = adapted_model(data, args)
        result = _evaluate(data, args, str(folder))
        result.update(stock=stock, adapt_seconds=seconds, adapt_cached=cached, adapted_model=str(folder))
    if args.json:
        print(json.dumps(result))
        return 0
    if args.adapt:
        s = result["stock"]
        print(f"stock   nDCG@{args.k}={s[f'ndcg@{args.k}']:.4f} MRR@{args.k}={s[f'mrr@{args.k}']:.4f} "
              f"R@100={s['recall@100']:.4f}")
        print(f"adapted on the corpus in {result['adapt_seconds']} s{' (cached)' if result['adapt_cached'] else ''}:"
              f" {result['adapted_model']}")
    print(f"{args.set_dir} [{args.method}] queries={result['queries']} "
          f"nDCG@{args.k}={result[f'ndcg@{args.k}']:.4f} MRR@{args.k}={result[f'mrr@{args.k}']:.4f} "
          f"R@100={result['recall@100']:.4f} ({result['seconds']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
