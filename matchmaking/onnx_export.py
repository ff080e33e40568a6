"""ONNX Runtime variant of the default encoder: export, graph optimisation, int8, and an Encoder.

Usage: ``python -m matchmaking.onnx_export --model instance/models/multilingual-e5-small
[--out DIR] [--force]``. It writes ``model.onnx`` (fp32) and ``model-int8.onnx`` (dynamic int8) into
``DIR`` (default: the model folder's sibling ``<name>-onnx``). The model folder itself is not touched,
so its digest and torch ``model_key`` do not change. Nothing is downloaded: the graph is traced from
the local sentence-transformers folder with ``torch.onnx.export`` (TorchScript exporter).

Steps (see docs/model.md, "ONNX Runtime"):

1. Trace BERT + mean pooling + L2 normalisation with eager attention (the SDPA path traces into
   IsNaN/Where nodes that ONNX Runtime's BERT fusions do not recognise), dynamic batch and sequence.
2. ``onnxruntime.transformers.optimizer.optimize_model(model_type="bert")``: fused Attention,
   EmbedLayerNormalization, SkipLayerNormalization and BiasGelu.
3. int8: ``onnxruntime.quantization.quantize_dynamic`` with per-channel 7-bit int8 weights on MatMul
   and the fused Attention (no saturation on AVX2 without VNNI, see ``_quantise``), except the FFN
   output MatMuls whose inputs carry outliers (the same
   calibration as the torch int8 path, ``encoders._outlier_linears``).

``load_encoder`` is the ``EMBEDDING_BACKEND=onnx`` backend of ``build_encoder``: with
``quantize="int8"`` passages run the int8 graph and queries the fp32 graph, which kept dense
nDCG@10 within 0.005 of fp32 on all three dev sets (int8 on both sides lost 0.0056 on ``gap``) at
1.5-1.6x torch fp32 on passages on a quiet machine (about 2x under load); ORT fp32 alone was only 1.24-1.36x (docs/model.md, "ONNX Runtime").
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from matchmaking.encoders import ModelNotReady

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model-int8.onnx"
MARKER = "export.json"
# 2: int8 weights in 7 bits (reduce_range), the same vectors on every CPU (see _quantise)
EXPORT_VERSION = 2
OPSET = 17
# copied next to the graphs: everything the ONNX encoder needs besides onnxruntime
_AUX_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "config_sentence_transformers.json",
              "sentence_bert_config.json")


def default_onnx_dir(model_dir: str | os.PathLike) -> Path:
    """``<model folder>-onnx`` beside the sentence-transformers folder (never inside it)."""
    p = Path(model_dir).expanduser().resolve()
    return p.with_name(p.name + "-onnx")


def _onnx_node_for(linear_name: str) -> str | None:
    """TorchScript node name of the MatMul of a BERT nn.Linear, e.g. layer.4 FFN output dense."""
    m = re.search(r"encoder\.layer\.(\d+)\.(.+)$", linear_name)
    return f"/b/encoder/layer.{m.group(1)}/{m.group(2).replace('.', '/')}/MatMul" if m else None


class _Pooled:  # built lazily so importing this module does not import torch
    @staticmethod
    def wrap(bert: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            """BERT -> mean over unmasked tokens -> L2 normalise (what the ST folder's modules do)."""

            def __init__(self, b: Any) -> None:
                super().__init__()
                self.b = b

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                h = self.b(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(h.dtype)
                v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(v, p=2, dim=1)

        return Pooled(bert).eval()


def _export_fp32(model: Any, dest: Path) -> None:
    """Trace the sentence-transformers model into an ONNX graph with dynamic batch/sequence axes."""
    import torch

    bert = model[0].auto_model.eval()
    bert.set_attn_implementation("eager")
    wrapped = _Pooled.wrap(bert)
    ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "sentence_embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes on shape checks
        torch.onnx.export(wrapped, (ids, mask), str(dest), input_names=["input_ids", "attention_mask"],
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    bert.set_attn_implementation("sdpa")


def _optimise(src: Path, dest: Path, num_heads: int, hidden: int) -> dict[str, int]:
    """ONNX Runtime's offline BERT fusions; returns the fused-operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden, opt_level=0)
    opt.save_model_to_file(str(dest))
    return {k: v for k, v in opt.get_fused_operator_statistics().items() if v}


def _quantise(src: Path, dest: Path, exclude: Sequence[str]) -> None:
    """Dynamic int8, per-channel weights, on MatMul and Attention except the excluded nodes. Weights use 7 bits
    (reduce_range): on AVX2 CPUs without VNNI, ONNX Runtime multiplies uint8 activations by int8 weights with
    VPMADDUBSW, whose 16-bit pair sums saturate for full-range weights (255 x 127 x 2 > 32767) but not for 7-bit
    ones (255 x 64 x 2 < 32767). Full range lost 0.0063 dense nDCG@10 on the dev `gap` set on an AMD EPYC
    (AVX2) against 0.0039 on an Intel CPU with VNNI; 7 bits lost 0.0041 on the AMD one at the same speed, and
    give the same arithmetic on every CPU (docs/model.md, "int8 on CPUs without VNNI")."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice, not applicable here
    quantize_dynamic(str(src), str(dest), per_channel=True, weight_type=QuantType.QInt8, reduce_range=True,
                     op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=list(exclude),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def is_complete(out: Path, source_digest: str | None = None) -> bool:
    """True when ``out`` has both graphs and a marker (for ``source_digest``, when given)."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not all((out / f).is_file() for f in (ONNX_FP32, ONNX_INT8)) or marker.get("export_version") != EXPORT_VERSION:
        return False
    return source_digest is None or marker.get("source_digest") == source_digest


def export(model_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, force: bool = False,
           quiet: bool = False) -> Path:
    """Export ``model_dir`` to ONNX (fp32 + int8) in ``out``; a no-op when it is already done."""
    from matchmaking.encoders import _load, _outlier_linears, folder_digest

    src = Path(model_dir).expanduser().resolve()
    if not (src / "modules.json").is_file():
        from matchmaking.encoders import ModelNotReady

        raise ModelNotReady(src)
    dest = Path(out).expanduser().resolve() if out else default_onnx_dir(src)
    digest = folder_digest(src)
    if not force and is_complete(dest, digest):
        return dest
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    import onnxruntime
    import torch

    t0 = time.perf_counter()
    model = _load(str(src), local=True)
    cfg = model[0].auto_model.config
    keep_fp32 = sorted(n for n in map(_onnx_node_for, _outlier_linears(model)) if n)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    try:
        raw = tmp / "raw.onnx"
        _export_fp32(model, raw)
        say(f"exported {raw.stat().st_size >> 20} MB in {time.perf_counter() - t0:.0f} s")
        fused = _optimise(raw, tmp / ONNX_FP32, cfg.num_attention_heads, cfg.hidden_size)
        raw.unlink()
        say(f"optimised: {fused}")
        _quantise(tmp / ONNX_FP32, tmp / ONNX_INT8, keep_fp32)
        say(f"int8 written; fp32 MatMuls kept: {keep_fp32}")
        for name in _AUX_FILES:
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        import onnx

        marker = {"export_version": EXPORT_VERSION, "source": str(src), "source_digest": digest,
                  "opset": OPSET, "int8_fp32_nodes": keep_fp32, "fused": fused,
                  "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                               "onnx": onnx.__version__},
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {time.perf_counter() - t0:.0f} s -> {dest}")
    return dest


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
    from matchmaking.encoders import ModelNotReady, folder_digest, model_key_for

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


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: export a sentence-transformers folder to ONNX (fp32 + int8)."""
    ap = argparse.ArgumentParser(prog="python -m matchmaking.onnx_export", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL", "instance/models/multilingual-e5-small"))
    ap.add_argument("--out", default=None, help="output folder (default: <model>-onnx beside it)")
    ap.add_argument("--force", action="store_true", help="export again even if --out is complete")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        print(export(args.model, args.out, force=args.force))
    except Exception as exc:  # noqa: BLE001 - one bilingual line, exit 2, like matchmaking.convert
        print(f"ONNX 导出失败 / ONNX export failed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
