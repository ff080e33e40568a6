"""On-disk cache of text vectors keyed by (model_key, role, sha256 of the text), as .npz shards."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path("instance/cache/vectors")
ROLES = ("query", "passage")
CHUNK = 256  # encode and persist in chunks so an interrupted run resumes where it stopped


def text_sha256(text: str) -> bytes:
    """Raw sha256 digest of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class VectorCache:
    """Vectors of one model and one role (query/passage prompts give different vectors)."""

    def __init__(self, root: str | os.PathLike, model_key: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_key) or "model"
        self.dir = Path(root) / safe / role
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[bytes, tuple[int, int]]:
        if self._index is None:
            self._index = {}
            for path in sorted(self.dir.glob("shard-*.npz")) if self.dir.is_dir() else []:
                self._add_shard(*_read_shard(path))
        return self._index

    def _add_shard(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        s = len(self._shards)
        self._shards.append(vecs)
        assert self._index is not None
        for r, key in enumerate(keys):
            self._index[key.tobytes()] = (s, r)

    def __len__(self) -> int:
        return len(self._load())

    def get(self, digests: Sequence[bytes]) -> tuple[list[np.ndarray | None], list[int]]:
        """Cached vector (or None) per digest, and the positions that are missing."""
        index = self._load()
        out: list[np.ndarray | None] = []
        missing = []
        for i, d in enumerate(digests):
            hit = index.get(d)
            out.append(self._shards[hit[0]][hit[1]] if hit else None)
            if hit is None:
                missing.append(i)
        return out, missing

    def put(self, digests: Sequence[bytes], vecs: np.ndarray) -> None:
        """Persist new vectors as one shard (temp file + os.replace)."""
        if not len(digests):
            return
        self._load()
        # raw uint8 rows: an "S32" dtype would strip trailing NUL bytes from digests
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.dir / f"shard-{uuid.uuid4().hex}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=keys, vecs=vecs)
        os.replace(tmp, target)
        self._add_shard(keys, vecs)


def _read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return np.ascontiguousarray(z["keys"]).view(np.uint8).reshape(-1, 32), z["vecs"]


def cached_encode(
    encode: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    cache: VectorCache | None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Vectors for texts, encoding (and caching) only the distinct texts not cached yet."""
    if cache is None:
        return encode(list(texts))
    digests = [text_sha256(t) for t in texts]
    found, missing = cache.get(digests)
    todo = list(dict.fromkeys(digests[i] for i in missing))
    text_of = {digests[i]: texts[i] for i in missing}
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        cache.put(chunk, encode([text_of[d] for d in chunk]))
        if progress:
            progress(min(start + CHUNK, len(todo)), len(todo))
    if missing:
        found, _ = cache.get(digests)
    return np.stack(found).astype(np.float32) if found else np.zeros((0, 0), np.float32)
