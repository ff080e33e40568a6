"""ONNX Runtime variant of the default encoder: an Encoder over the graphs exported beside a model folder.

The export itself (trace, graph optimisation, int8) is a set-up step: ``matchmaking/tools/onnx_export.py``
(``python -m matchmaking.onnx_export``, run by ``make model``). This module only reads its output.

``load_encoder`` is the ``EMBEDDING_BACKEND=onnx`` backend of ``build_encoder``: with
``quantize="int8"`` passages run the int8 graph and queries the fp32 graph, which kept dense
nDCG@10 within 0.005 of fp32 on all three dev sets (int8 on both sides lost 0.0056 on ``gap``) at
1.5-1.6x torch fp32 on passages on a quiet machine (about 2x under load); ORT fp32 alone was only 1.24-1.36x (docs/model.md, "ONNX Runtime").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from matchmaking.model_folder import ModelNotReady, folder_digest, model_key_for

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model-int8.onnx"
MARKER = "export.json"
# 2: int8 weights in 7 bits (reduce_range), the same vectors on every CPU (matchmaking/tools/onnx_export.py)
EXPORT_VERSION = 2


def default_onnx_dir(model_dir: str | os.PathLike) -> Path:
    """``<model folder>-onnx`` beside the sentence-transformers folder (never inside it)."""
    p = Path(model_dir).expanduser().resolve()
    return p.with_name(p.name + "-onnx")


def is_complete(out: Path, source_digest: str | None = None) -> bool:
    """True when ``out`` has both graphs and a marker (for ``source_digest``, when given)."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not all((out / f).is_file() for f in (ONNX_FP32, ONNX_INT8)) or marker.get("export_version") != EXPORT_VERSION:
        return False
    return source_digest is None or marker.get("source_digest") == source_digest


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


SAME = "same"  # query_quantize default: queries use the passages' graph


def _session(path: Path, threads: int | None, spinning: bool) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or 0
    so.inter_op_num_threads = 1
    # no busy-waiting: a spinning pool burns a shared core between ops (all figures in docs/model.md ran with 0)
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def graph_digest(path: str | os.PathLike) -> str:
    """Hex sha256 of a graph file (cached per path, size and mtime)."""
    st = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


# tokens (batch rows x padded width) per ONNX run: small batches stay in the CPU's caches. On 2 AVX2 cores
# (AMD EPYC), 300 dev abstracts, two runs at once: 32 texts a batch 14.6/s, 8 texts 22/s, 256 tokens 26-28/s,
# at or above 384-1024 tokens in every alternating round (docs/model.md, "int8 on CPUs without VNNI")
MAX_BATCH_TOKENS = 256


def token_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices of texts grouped longest first into batches of at most ``batch_size`` texts and, padding
    included, ``max_tokens`` tokens (a text longer than that alone), so padding and activations stay small."""
    order = np.argsort([-n for n in lengths], kind="stable")
    batches, start = [], 0
    while start < len(order):
        rows = max(1, min(max(1, batch_size), max_tokens // max(1, lengths[order[start]])))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def _padded(ids: Sequence[Sequence[int]], idx: np.ndarray, pad: int) -> dict[str, np.ndarray]:
    """The ONNX inputs of one batch: token ids padded to its longest text, and the attention mask."""
    width = max(len(ids[i]) for i in idx)
    batch = np.full((len(idx), width), pad, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for r, i in enumerate(idx):
        batch[r, :len(ids[i])] = ids[i]
        mask[r, :len(ids[i])] = 1
    return {"input_ids": batch, "attention_mask": mask}


class OnnxEncoder:
    """An :class:`~matchmaking.encoders.Encoder` over an exported graph run by ONNX Runtime.

    Texts are tokenised with the model folder's own fast tokenizer (same prompts, truncation at
    512 tokens), sorted by token count and batched, so padding stays small. ``quantize`` picks the
    passage graph; ``query_quantize`` the query graph (default: the same one). int8 passages with
    fp32 queries is the platform's ``EMBEDDING_BACKEND=onnx`` (docs/model.md, "ONNX Runtime").
    """

    def __init__(self, onnx_dir: str | os.PathLike, *, quantize: str | None = None,
                 query_quantize: str | None = SAME, threads: int | None = None,
                 model_key: str | None = None, spinning: bool = False, workers: int = 1,
                 max_batch_tokens: int = MAX_BATCH_TOKENS) -> None:
        from transformers import AutoTokenizer

        self.dir = Path(onnx_dir).expanduser().resolve()
        graph = {None: ONNX_FP32, "int8": ONNX_INT8}
        self.path = self.dir / graph[quantize]
        self.query_path = self.dir / graph[quantize if query_quantize == SAME else query_quantize]
        # workers > 1: that many batches run at once on one session (ORT's run is thread-safe), one thread each;
        # on 2 AVX2 cores this beat one run on two threads (docs/benchmarks.md, "Encoding without bf16")
        self.workers = max(1, int(workers))
        self.max_batch_tokens = max(1, int(max_batch_tokens))
        self.session = _session(self.path, 1 if self.workers > 1 else threads, spinning)
        self.query_session = (self.session if self.query_path == self.path
                              else _session(self.query_path, threads, spinning))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="onnx") if self.workers > 1 else None
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.dir), local_files_only=True)
        self.max_length = 512
        st_cfg = self.dir / "config_sentence_transformers.json"
        prompts = json.loads(st_cfg.read_text(encoding="utf-8")).get("prompts", {}) if st_cfg.is_file() else {}
        self.prompts = {"query": prompts.get("query", ""),
                        "passage": prompts.get("passage") or prompts.get("document") or ""}
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self.model_key = model_key or f"{self.dir.name}@{graph_digest(self.path)[:12]}"
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode search queries with the ``query: `` prompt."""
        return self._encode(texts, "query", batch_size)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode documents with the ``passage: `` prompt."""
        return self._encode(texts, "passage", batch_size)

    def _encode(self, texts: Sequence[str], role: str, batch_size: int) -> np.ndarray:
        session = self.query_session if role == "query" else self.session
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single str")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prompts[role]
        clean = [prefix + (t if isinstance(t, str) else "") for t in texts]
        with self._lock:  # HF fast tokenizers raise "Already borrowed" under concurrent use
            ids = self.tokenizer(clean, truncation=True, max_length=self.max_length)["input_ids"]
        out = np.empty((len(clean), self.dim), dtype=np.float32)
        batches = token_batches([len(x) for x in ids], batch_size, self.max_batch_tokens)

        def run(idx: np.ndarray) -> None:
            out[idx] = session.run(None, _padded(ids, idx, self.tokenizer.pad_token_id))[0]

        if self._pool is not None and role == "passage" and len(batches) > 1:
            list(self._pool.map(run, batches))
        else:
            for idx in batches:
                run(idx)
        return out

    def __repr__(self) -> str:
        return (f"OnnxEncoder({self.model_key!r}, {self.path.name}, queries {self.query_path.name}, dim={self.dim}, "
                f"workers={self.workers}, max_batch_tokens={self.max_batch_tokens})")


class OnnxNotReady(ModelNotReady):
    """The ONNX export of a model folder is missing or stale; the message (zh-CN, then en) says how to make it.
    A ModelNotReady, so every page that reports "matching is not available" for a missing model does so for a
    missing export too, instead of failing."""

    def __init__(self, model_dir: str | os.PathLike, onnx_dir: str | os.PathLike) -> None:
        cmd = f"python -m matchmaking.onnx_export --model {model_dir}"
        RuntimeError.__init__(self, f"ONNX 模型 {onnx_dir} 不存在或已过期，请先运行 `make model` 或 `{cmd}`。\n"
                              f"ONNX export {onnx_dir} is missing or stale; run `make model` or `{cmd}` first.")


def load_encoder(model_dir: str | os.PathLike, quantize: str | None = None, threads: int | None = None,
                 workers: int = 1) -> OnnxEncoder:
    """The ``EMBEDDING_BACKEND=onnx`` encoder of a model folder, from its export beside it.

    ``quantize="int8"``: passages through the int8 graph, queries through the fp32 graph (the pair that
    kept dense nDCG@10 within 0.005 of fp32 on every dev set); ``None``: fp32 for both. The model key
    names the source folder, the variant and the passage graph's digest, so these vectors never share an
    index or a cache with torch's or another variant's.
    """
    src = Path(model_dir).expanduser().resolve()
    if not (src / "modules.json").is_file():
        raise ModelNotReady(src)
    out = default_onnx_dir(src)
    if not is_complete(out, folder_digest(src)):
        raise OnnxNotReady(src, out)
    graph = out / (ONNX_INT8 if quantize == "int8" else ONNX_FP32)
    variant = "int8p" if quantize == "int8" else "fp32"
    key = f"{model_key_for(src)}+onnx-{variant}-{graph_digest(graph)[:8]}"
    return OnnxEncoder(out, quantize=quantize, query_quantize=None, threads=threads, model_key=key, workers=workers)

