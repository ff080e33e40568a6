"""A model folder's identity (the digest of its files, the model key vectors are stored under) and the error
raised when it is missing. Shared by the torch and ONNX Runtime encoders."""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from matchmaking.errors import MatchingUnavailable

# files that do not change the vectors: the model card, our conversion and adaptation markers, a version's
# own score calibration (matchmaking/versions.py)
MARKER = "adaptation.json"  # an adapted folder's record (matchmaking/adapt.py), its cosine anchors included
ANCHORS = ("cos_floor", "cos_ceil")  # the engine's Fusion fields an adapted folder may carry
_DIGEST_SKIP = {"README.md", "conversion.json", MARKER, "calibration.json"}


class ModelNotReady(MatchingUnavailable):
    """The model folder is missing; the message (zh-CN, then en) says how to create it."""

    def __init__(self, path: str | os.PathLike) -> None:
        cmd = f"python -m matchmaking.convert --out {path}"
        super().__init__(f"找不到嵌入模型目录 {path}，请先运行 `make setup` 或 `{cmd}`。\n"
                         f"Embedding model folder {path} is missing; run `make setup` or `{cmd}` first.")
        self.path = Path(path)


def _digest_files(folder: Path) -> list[Path]:
    """The files whose bytes define the model (weights, configs, tokenizer), sorted."""
    files = (p for p in folder.rglob("*") if p.is_file())
    return sorted(p for p in files if p.name not in _DIGEST_SKIP and not p.name.startswith("."))


@functools.lru_cache(maxsize=16)
def _digest_cached(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """sha256 over (relative path, content) of each model file; ``stamp`` invalidates the cache."""
    h = hashlib.sha256()
    for rel, _size, _mtime in stamp:
        h.update(rel.encode() + b"\0")
        with open(Path(folder) / rel, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()


def folder_digest(folder: str | os.PathLike) -> str:
    """Hex sha256 of a model folder's weights, configs and tokenizer (not its README or marker)."""
    root = Path(folder).resolve()
    stamp = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in _digest_files(root))
    return _digest_cached(str(root), stamp)


def model_key_for(folder: str | os.PathLike, quantize: str | None = None) -> str:
    """``<folder name>@<12 hex of its digest>[+int8]``: vectors of different keys never mix."""
    key = f"{Path(folder).resolve().name}@{folder_digest(folder)[:12]}"
    return f"{key}+{quantize}" if quantize else key


def fusion_overrides(folder: str | os.PathLike) -> dict[str, float]:
    """The engine's cosine anchors an adapted model folder carries (empty for any other model)."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
        return {k: float(v) for k, v in (marker.get("fusion") or {}).items() if k in ANCHORS}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
