"""Result caches shared through a configured store: CACHE_URL "none", "memory" (this process) or "redis://...".

A cache is only ever an optimisation: a store that does not answer is a miss (logged, rate-limited), never
an error the user sees. Keys must name everything a value depends on (callers build them)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Optional, Protocol

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0


class Cache(Protocol):
    def get(self, key: str) -> Optional[Any]: ...
    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None: ...
    def counter(self, key: str) -> Optional[int]: ...
    def incr(self, key: str) -> Optional[int]: ...
    def delete(self, key: str) -> None: ...
    def start_counter(self, key: str, value: int) -> None: ...
    def counter_and_get_text(self, counter_key: str, key: str) -> tuple[Optional[int], Optional[str]]: ...
    def set_text(self, key: str, text: str, ttl: Optional[int] = None) -> None: ...


class NoCache:
    """Caching switched off."""

    shared = False  # seen by every process of the deployment (pages may be cached on its counters)

    def get(self, key: str) -> Optional[Any]:
        return None

    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None:
        return None

    def counter(self, key: str) -> Optional[int]:
        """A counter's value (0 when new); None when the store cannot say, so nothing may be cached on it."""
        return None

    def incr(self, key: str) -> Optional[int]:
        """Add one to a counter that never expires (a missing one starts from the clock, never again from a
        count values were stored at before it was lost); its new value, or None when the store did not answer."""
        return None

    def delete(self, key: str) -> None:
        return None

    def start_counter(self, key: str, value: int) -> None:
        """Set a counter that does not exist yet (an existing one is left as it is)."""
        return None

    def counter_and_get_text(self, counter_key: str, key: str) -> tuple[Optional[int], Optional[str]]:
        """(counter(counter_key), the text set_text stored under key), in one round trip where the store has them."""
        return None, None

    def set_text(self, key: str, text: str, ttl: Optional[int] = None) -> None:
        """Store a text as it is (not as JSON)."""
        return None


class MemoryCache:
    """Per-process LRU with a time to live (values stored as JSON, so callers get copies)."""

    shared = False  # another process's commits never reach its counters

    def __init__(self, ttl: int, max_items: int = 10_000) -> None:
        self.ttl, self.max_items = ttl, max_items
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def counter(self, key: str) -> Optional[int]:
        with self._lock:
            return self._counters.get(key, 0)

    def incr(self, key: str) -> Optional[int]:
        with self._lock:
            self._counters[key] = self._counters.get(key, time.time_ns()) + 1
            return self._counters[key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def start_counter(self, key: str, value: int) -> None:
        with self._lock:
            self._counters.setdefault(key, value)

    def counter_and_get_text(self, counter_key: str, key: str) -> tuple[Optional[int], Optional[str]]:
        with self._lock:
            hit = self._items.get(key)
            text = hit[1] if hit is not None and hit[0] >= time.monotonic() else None
        return self.counter(counter_key), text

    def set_text(self, key: str, text: str, ttl: Optional[int] = None) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + (ttl or self.ttl), text)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get(self, key: str) -> Optional[Any]:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return json.loads(hit[1])

    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None:
        """Store a copy; ttl (seconds) overrides the cache's own for this key."""
        with self._lock:
            self._items[key] = (time.monotonic() + (ttl or self.ttl), json.dumps(value))
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


class RedisCache:
    """Shared by every process and machine; JSON values; a Redis outage is a miss (tried again after 5 s)."""

    shared = True

    def __init__(self, url: str, ttl: int) -> None:
        import redis

        self.ttl = ttl
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_until = 0.0

    def _do(self, fn: Any, *args: Any) -> Any:
        if time.monotonic() < self._down_until:
            return None
        try:
            return fn(*args)
        except self.errors as err:
            self._down_until = time.monotonic() + RETRY_SECONDS
            log.warning("cache store unavailable (%s); serving without cache for %.0f s",
                        type(err).__name__, RETRY_SECONDS)
            return None

    def get(self, key: str) -> Optional[Any]:
        raw = self._do(self.client.get, key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None:
        """Store with an expiry; ttl (seconds) overrides the cache's own for this key."""
        self._do(self.client.set, key, json.dumps(value), ttl or self.ttl)

    def counter(self, key: str) -> Optional[int]:
        """0 for a missing key (left missing, so start_counter can still set it); None when Redis does not answer."""
        value = self._do(lambda: self.client.get(key) or b"0")  # not INCRBY 0: that would create the key at 0
        return None if value is None else int(value)

    def incr(self, key: str) -> Optional[int]:
        def start_and_add() -> Any:  # one round trip
            return self.client.pipeline(transaction=False).set(key, time.time_ns(), nx=True).incr(key).execute()

        done = self._do(start_and_add)
        return None if done is None else int(done[-1])

    def delete(self, key: str) -> None:
        self._do(self.client.delete, key)

    def start_counter(self, key: str, value: int) -> None:
        self._do(lambda: self.client.set(key, value, nx=True))

    def counter_and_get_text(self, counter_key: str, key: str) -> tuple[Optional[int], Optional[str]]:
        raw = self._do(self.client.mget, [counter_key, key])
        if raw is None:
            return None, None
        try:
            return int(raw[0] or 0), None if raw[1] is None else raw[1].decode("utf-8")
        except ValueError:  # not written by this code (another program on the same database): cache nothing
            log.warning("unreadable values under %s / %s in the cache store", counter_key, key)
            return None, None

    def set_text(self, key: str, text: str, ttl: Optional[int] = None) -> None:
        self._do(self.client.set, key, text.encode("utf-8"), ttl or self.ttl)


def generation(cache: Cache, key: str) -> Optional[int]:
    """A counter that values are cached under; None when the store cannot say (cache nothing then). A missing
    one (new, or lost: evicted, flushed) starts from the clock, never again from where old values were stored."""
    value = cache.counter(key)
    if value == 0:
        cache.start_counter(key, time.time_ns())
        value = cache.counter(key)
    return value or None


def versioned_get(cache: Cache, counter_key: str, key: str) -> tuple[Optional[int], Optional[Any]]:
    """The counter's value (as generation()) and the value stored under key at that count (None: none stored,
    stored at another count, or not signed with this deployment's key), in one round trip; (None, None) when
    the store cannot say. Values stored at an older count are never returned, however late they were written."""
    count, text = cache.counter_and_get_text(counter_key, key)
    if count == 0:
        count, text = generation(cache, counter_key), None
    if not count:
        return None, None
    head, _, body = (text or "").partition("\n")  # "<count> <mac>\n<JSON>": one JSON parse, of the value only
    at, _, mac = head.partition(" ")
    if at != str(count) or not hmac.compare_digest(mac, _mac(cache, key, count, body)):
        return count, None
    try:
        return count, json.loads(body)
    except ValueError:
        return count, None


def versioned_set(cache: Cache, key: str, count: int, value: Any, ttl: Optional[int] = None) -> None:
    """Store value under key as of the counter's value count (read by versioned_get before value was made),
    signed with the cache's key: what decides access (a signed-in user's role, a page's owner) is taken only
    from values this deployment wrote, never from another one sharing the Redis database, nor from anyone who
    can write to it but does not hold SECRET_KEY."""
    body = json.dumps(value, separators=(",", ":"))
    cache.set_text(key, f"{count} {_mac(cache, key, count, body)}\n{body}", ttl)


def _mac(cache: Cache, key: str, count: int, body: str) -> str:
    signing_key = getattr(cache, "signing_key", b"")
    return hmac.new(signing_key, f"{key}\n{count}\n{body}".encode("utf-8"), hashlib.sha256).hexdigest()


def cache_for(config: Any) -> Cache:
    """The cache a component of the app uses: CACHE_URL, CACHE_TTL, values signed with SECRET_KEY."""
    return build_cache(str(config.get("CACHE_URL", "none")), int(config.get("CACHE_TTL", 600)),
                       str(config.get("SECRET_KEY", "")))


def build_cache(url: str, ttl: int = 600, secret: str = "") -> Cache:
    """The cache for a CACHE_URL; secret (the app's SECRET_KEY) signs what versioned_set stores."""
    cache: Cache
    if url in ("", "none"):
        cache = NoCache()
    elif url == "memory":
        cache = MemoryCache(ttl)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        cache = RedisCache(url, ttl)
    else:
        raise ValueError(f"CACHE_URL must be none, memory or redis://..., got {url!r}")
    cache.signing_key = hashlib.sha256(b"techmatch cache values\n" + secret.encode("utf-8")).digest()
    return cache
