"""What the matching runtime remembers of its answers: ranked results in the shared cache, rendered pages
(services/pagecache), and derived figures memoised in this process. Every key names all a result depends on,
so nothing is ever invalidated by hand: a change makes a new key."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable, Mapping, Optional

from models import Achievement, Demand

from .cache import NoCache, cache_for
from .indexing import doc_fingerprint
from .pagecache import PageCache

MEMO_SIZE = 256  # remember() entries per process


class ResultCache:
    """cache: the shared cache (CACHE_URL); pages: rendered match pages keyed by a version that commits and
    index writes bump (its install() puts listeners on the session factory)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.cache = cache_for(config)
        self.pages = PageCache(self.cache, int(config.get("CACHE_TTL", 600)))
        self._lock = threading.Lock()
        self._memo: "OrderedDict[tuple, Any]" = OrderedDict()

    def key(self, what: str, other: str, item: Demand | Achievement, k: int, *, stamp: int, model_key: str,
            calibration: str, shared: bool = True) -> Optional[str]:
        """Everything a result depends on: the listing's full engine view (text and structured fields), its
        owner and organisation, the model, the calibration, the counterpart index's stamp (of the matcher that
        answers) and k; None when not cacheable (shared=False: a key for this process's memo, which needs no
        shared store)."""
        if not stamp or (shared and isinstance(self.cache, NoCache)):
            return None
        doc = doc_fingerprint(item)[:32]
        calib = hashlib.sha256(calibration.encode()).hexdigest()[:12]
        return (f"techmatch:{what}:v2:{item.kind}:{item.id}:{doc}:{item.owner_id}:{item.organisation_id}:"
                f"{model_key}:{calib}:{other}@{stamp}:{k}")

    def remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A derived figure memoised in this process, keyed by everything it depends on (the index stamps and the
        calibration included by the caller); the oldest of MEMO_SIZE entries go first."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value
