"""Shared by the industry-chain tests: a deterministic stand-in encoder (character bigrams hashed into a unit
vector; the real model is not what these tests are about) and listings saved without the index sync."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import numpy as np

DIM = 512


class StandInEncoder:
    """Texts sharing Chinese character pairs get similar vectors; same text, same vector, in every process."""

    model_key = "chain-stand-in"
    dim = DIM

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = [c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum()]
            for a, b in zip(chars, chars[1:]):
                out[row, int(hashlib.md5((a + b).encode()).hexdigest()[:8], 16) % DIM] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    encode_queries = encode_passages


def load_seed_chains(session: Any) -> int:
    from services import chains
    from services.seed import DATA

    return chains.load_chains(session, json.loads((DATA / "industry_chains.json").read_text(encoding="utf-8")))


def no_index_sync(app: Any, monkeypatch: Any) -> None:
    """Saving a listing does not encode it with the real model, nor place it after the commit (placement
encodes with the stand-in)."""
    monkeypatch.setattr(app.extensions["matching"].indexing, "_job", lambda changed: None)
    monkeypatch.setitem(app.extensions, "chains_autoplace", None)  # nor places it after commit (inline mode)
