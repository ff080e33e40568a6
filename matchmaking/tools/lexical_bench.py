"""Lexical index build times: python -m matchmaking.lexical_bench [--docs N] [--json].

From scratch (jieba over every text) vs from a previous index with one text changed vs loading a snapshot,
and the BM25 matrix alone (vectorised here) vs bm25s' own index() over the same token ids."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence

import bm25s
import numpy as np

from matchmaking.tools.bench import DEFAULT_SET, SyntheticDocs, rss_mb
from matchmaking.documents import Listing
from matchmaking.tools.evaluate import BeirFormatError, load_beir
from matchmaking.lexical import B, K1, LexicalIndex, _bm25_matrix


def _since(t: float) -> float:
    return round(time.perf_counter() - t, 3)


def run(n: int, set_dir: str, seed: int = 0) -> dict:
    """Timings in seconds for one corpus of n synthetic listings built from a BEIR set's abstracts."""
    data = load_beir(set_dir)
    real = [Listing(i, "achievement", t, x) for i, (t, x) in enumerate(data.corpus.values())]
    docs = SyntheticDocs(real, n, np.random.default_rng(seed))
    ids, texts = list(range(n)), [docs[i].embed_text() for i in range(n)]
    out: dict = {"docs": n, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                 "load_average": os.getloadavg()}
    t = time.perf_counter()
    scratch = LexicalIndex.build(ids, texts)
    out["scratch_build_s"] = _since(t)
    out.update(vocab=len(scratch._terms), tokens=len(scratch._tok))
    doc_len = np.diff(scratch._sent_ptr[scratch._doc_sent])
    t = time.perf_counter()
    _bm25_matrix(scratch._tok, doc_len, len(scratch._terms))
    out["bm25_matrix_vectorised_s"] = _since(t)
    t = time.perf_counter()
    LexicalIndex(scratch._ids, scratch._terms, scratch._tok, scratch._sent_ptr, scratch._doc_sent, scratch._shas)
    out["index_from_token_ids_s"] = _since(t)
    bounds = scratch._sent_ptr[scratch._doc_sent]
    t = time.perf_counter()
    per_doc = [scratch._tok[bounds[i] : bounds[i + 1]].tolist() for i in range(n)]
    bm25s.BM25(k1=K1, b=B).index((per_doc, dict(scratch._vocab)), show_progress=False)
    out["bm25s_index_s"] = _since(t)
    changed = list(texts)
    changed[n // 2] = texts[n // 2] + "新增一句：石墨烯导热膜的卷对卷制备。"
    t = time.perf_counter()
    LexicalIndex.build(ids, changed, previous=scratch)
    out["incremental_1_changed_s"] = _since(t)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        scratch.save(tmp)
        out["save_s"] = _since(t)
        out["snapshot_mb"] = round(sum(f.stat().st_size for f in os.scandir(tmp) if f.is_file()) / 2**20, 1)
        t = time.perf_counter()
        loaded = LexicalIndex.load(tmp)
        out["load_s"] = _since(t)
        t = time.perf_counter()
        LexicalIndex.build(ids, changed, previous=loaded)
        out["load_then_1_changed_s"] = round(out["load_s"] + _since(t), 3)
    out["rss_mb"] = rss_mb()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(prog="python -m matchmaking.lexical_bench", description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=20_000)
    p.add_argument("--set-dir", default=str(DEFAULT_SET), help="BEIR set giving real abstracts")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.docs < 1:
        p.error("--docs must be >= 1 / --docs 必须 >= 1")
    try:
        out = run(args.docs, args.set_dir)
    except BeirFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out) if args.json else "\n".join(f"{k:>26}: {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
