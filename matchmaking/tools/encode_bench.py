"""Passage-encoding throughput and agreement: torch fp32 vs other variants, alternating in one process.

Usage::

    python -m matchmaking.encode_bench --model instance/models/multilingual-e5-small \\
        [--onnx-dir DIR] [--texts corpus.jsonl] [--n 400] [--batch 32 | --batch 16,32] [--threads 2] [--rounds 2] \\
        [--variants torch,torch-int8,torch-bf16,onnx,onnx-int8,onnx-backend] [--json]

Texts are the first ``--n`` ``title + "\\n" + text`` of a BEIR corpus, encoded as passages
(``passage: `` prompt). Each round encodes them once with every variant in turn; the figures are
abstracts/s (wall clock) and CPU seconds of the process, plus each variant's mean / min cosine
against torch fp32. On a shared machine the ratio to torch fp32 within a round is the robust figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DEFAULT_TEXTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "bench" / "dev" / "field" / "corpus.jsonl"
# onnx-backend: build_encoder(backend="onnx", quantize="int8"), the platform's EMBEDDING_BACKEND=onnx path
# (needs the export beside --model: `make model`); its passages run the same graph as onnx-int8
# torch-bf16: build_encoder(quantize="bf16"), torch.autocast bfloat16 (needs a CPU with native bf16)
# auto: build_encoder(backend="auto", quantize="auto"), what the platform runs on this CPU by default
VARIANTS = ("torch", "torch-int8", "torch-bf16", "onnx", "onnx-int8", "onnx-backend", "auto")


def read_passages(path: str | os.PathLike, n: int) -> list[str]:
    """First ``n`` ``title + "\\n" + text`` of a BEIR corpus.jsonl."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(f"{row.get('title', '')}\n{row.get('text', '')}")
                if len(out) >= n:
                    break
    return out


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def build(variant: str, model: str, onnx_dir: str | None, threads: int, parallel: int = 1) -> Any:
    """An encoder for one variant name (torch variants: ``parallel`` copies, one thread each, when > 1)."""
    from matchmaking.encoders import build_encoder

    if variant == "torch":
        return build_encoder(model, threads=threads, parallel=parallel)
    if variant in ("torch-int8", "torch-bf16"):
        return build_encoder(model, quantize=variant.removeprefix("torch-"), threads=threads, parallel=parallel)
    if variant == "onnx-backend":
        return build_encoder(model, backend="onnx", quantize="int8", threads=threads, parallel=parallel)
    if variant == "auto":
        return build_encoder(model, backend="auto", quantize="auto", threads=threads, parallel=parallel)
    from matchmaking.onnx_encoder import OnnxEncoder, default_onnx_dir
    from matchmaking.tools.onnx_export import export

    folder = export(model, onnx_dir or default_onnx_dir(model), quiet=True)
    return OnnxEncoder(folder, quantize="int8" if variant == "onnx-int8" else None, threads=threads)


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """(result, wall seconds, process CPU seconds)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def run(model: str, onnx_dir: str | None, texts: Sequence[str], variants: Sequence[str], batch: int | Sequence[int],
        threads: int, rounds: int, log: Callable[[str], None], parallel: int = 1) -> dict:
    """Alternate the variants ``rounds`` times over ``texts``; torch fp32 is always included, first.

    Several batch sizes run every variant at each of them in turn, labelled ``variant@batch``; the
    reference (``x_torch``, cosine) is then torch fp32 at the first batch size.
    """
    batches = [batch] if isinstance(batch, int) else list(batch)
    names = ["torch", *[v for v in variants if v != "torch"]]
    encoders = {v: build(v, model, onnx_dir, threads, parallel) for v in names}
    runs = {(v if len(batches) == 1 else f"{v}@{b}"): (encoders[v], b) for v in names for b in batches}
    for enc, b in runs.values():  # warm-up: first-call allocations, lazy kernels
        enc.encode_passages(list(texts[:b]), batch_size=b)
    result: dict[str, Any] = {"n": len(texts), "batch": batch if isinstance(batch, int) else batches,
                              "threads": 1 if parallel > 1 else threads, "parallel": parallel,
                              "model_keys": {v: e.model_key for v, e in encoders.items()},
                              "load_before": _loadavg(), "rounds": []}
    ref_name = next(iter(runs))
    vecs: dict[str, np.ndarray] = {}
    for r in range(rounds):
        row = {}
        for v, (enc, b) in runs.items():
            out, wall, cpu = timed(lambda: enc.encode_passages(list(texts), batch_size=b))
            vecs.setdefault(v, out)
            row[v] = {"per_s": round(len(texts) / wall, 2), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
            log(f"round {r + 1} {v:>13}: {row[v]['per_s']:7.2f} abstracts/s  wall {wall:6.1f} s  cpu {cpu:6.1f} s"
                f"  load {_loadavg()}")
        for v in row:
            row[v]["x_torch"] = round(row[v]["per_s"] / row[ref_name]["per_s"], 2)
        result["rounds"].append(row)
    ref = vecs[ref_name]
    result["cosine_vs_torch"] = {v: {"mean": round(float((x * ref).sum(1).mean()), 6),
                                     "min": round(float((x * ref).sum(1).min()), 6)}
                                 for v, x in vecs.items() if v != ref_name}
    result["load_after"] = _loadavg()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(prog="python -m matchmaking.encode_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL", "instance/models/multilingual-e5-small"))
    ap.add_argument("--onnx-dir", default=None, help="exported ONNX folder (made if missing; default <model>-onnx)")
    ap.add_argument("--texts", default=str(DEFAULT_TEXTS), help="BEIR corpus.jsonl")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--batch", default="32", help="batch size, or several (16,32) to alternate them too")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=1,
                    help="torch variants: copies of the model encoding a batch together, one thread each")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="torch,onnx,onnx-int8",
                    help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if bad := [v for v in variants if v not in VARIANTS]:
        ap.error(f"unknown variants {bad}")
    try:
        batches = [int(b) for b in args.batch.split(",") if b.strip()]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        ap.error(f"--batch: positive integers, not {args.batch!r}")
    if args.parallel < 1:
        ap.error("--parallel must be >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = read_passages(args.texts, args.n)
    result = run(args.model, args.onnx_dir, texts, variants, batches[0] if len(batches) == 1 else batches,
                 args.threads, args.rounds,
                 lambda s: print(s, file=sys.stderr, flush=True), parallel=args.parallel)
    if args.json:
        print(json.dumps(result))
    else:
        for v, c in result["cosine_vs_torch"].items():
            print(f"{v:>10}: cosine vs torch fp32 mean {c['mean']:.6f} min {c['min']:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
