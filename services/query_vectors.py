"""Query embeddings for the matching runtime: a listing's text and title, and free-text searches, each encoded
once per process (LRU) and, for listings, once per cluster through the shared cache."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from .indexing import text_sha256

QVEC_LRU = 20_000  # query vectors kept per process: 384 float32 = 1.5 KB each, so ~30 MB at most
QVEC_TTL = 30 * 24 * 3600  # in the shared cache: a vector of (model, exact text) never goes stale
SEARCH_LRU = 2_000  # search query vectors kept per process (1.5 KB each)


class QueryVectors:
    """encoder() is the configured encoder (loaded on first use); cache the shared cache (services/cache)."""

    def __init__(self, encoder: Callable[[], Any], cache: Any) -> None:
        self.encoder, self.cache = encoder, cache
        self._lock = threading.Lock()
        self._qvecs: "OrderedDict[str, np.ndarray]" = OrderedDict()  # query vectors by (model, text hash)
        self._search_vecs: "OrderedDict[str, np.ndarray]" = OrderedDict()  # search queries' vectors (LRU)

    def of(self, doc: Any) -> tuple[Any, Any]:
        """(text, title) query embeddings of a listing's engine view: what HybridMatcher.rank takes as
        query_vec and title_vec."""
        return self.text(doc), self.title(doc)

    def title(self, doc: Any) -> Any:
        """The listing title's query embedding (the calibration compares it with each counterpart)."""
        title = doc.title.strip()
        return self._encode_query(title, f"title:{hashlib.sha256(title.encode()).hexdigest()}") if title else None

    def text(self, doc: Any) -> Any:
        """The listing's query embedding (see _encode_query)."""
        return self._encode_query(doc.embed_text(), text_sha256(doc))

    def search(self, text: str) -> Any:
        """A search query's embedding: kept in a small LRU of its own, never in the shared cache, so anonymous
        queries neither fill the cache for a month nor push out the listings' vectors."""
        key = hashlib.sha256(text.encode()).hexdigest()
        with self._lock:
            vec = self._search_vecs.get(key)
            if vec is not None:
                self._search_vecs.move_to_end(key)
                return vec
        vec = self.encoder().encode_queries([text])[0]
        with self._lock:
            self._search_vecs[key] = vec
            while len(self._search_vecs) > SEARCH_LRU:
                self._search_vecs.popitem(last=False)
        return vec

    def _encode_query(self, text: str, digest: str) -> Any:
        """A query embedding. Encoding is most of an uncached match page's time (~30-250 ms on one CPU thread),
        and a vector depends only on (model, exact text): kept in this process (LRU) and in the shared cache,
        so a text is encoded once per process at most, once per cluster with CACHE_URL=redis."""
        enc = self.encoder()
        key = f"techmatch:qvec:v1:{enc.model_key}:{digest}"
        with self._lock:
            vec = self._qvecs.get(key)
            if vec is not None:
                self._qvecs.move_to_end(key)
                return vec
        hit = self.cache.get(key)
        if hit is not None:
            vec = np.asarray(hit, dtype=np.float32)
        else:
            vec = enc.encode_queries([text])[0]
            self.cache.set(key, [float(x) for x in vec], ttl=QVEC_TTL)  # keyed by content: never stale
        with self._lock:
            self._qvecs[key] = vec
            while len(self._qvecs) > QVEC_LRU:
                self._qvecs.popitem(last=False)
        return vec
