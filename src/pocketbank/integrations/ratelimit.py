"""Fixed-window rate limiters behind ``services.auth_ports.RateLimiter``: in memory, or shared through Redis.

A window is ``now // window_seconds``; each key counts its attempts in the current window and is refused once the
count passes ``limit``, until the window ends. Fixed windows let through at most twice the limit across a window
boundary, which is fine for brute-force defence (the hard stop is the account lockout). The time comes from the
caller (the bank's clock), so tests can cross a window without sleeping.

Redis counts with ``INCR`` and sets the key's expiry in the same ``MULTI``/``EXEC`` transaction, so every worker
process sees the same counters and a crash can never leave a counter without an expiry.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

NS = 1_000_000_000


def _window(window_seconds: int, now_ns: int) -> tuple[int, int]:
    """The current window's number and the whole seconds until it ends (at least 1)."""
    now_s = now_ns // NS
    return now_s // window_seconds, max(1, window_seconds - now_s % window_seconds)


class MemoryRateLimiter:
    """One process only (tests, the embedded demo). Thread-safe; forgets finished windows as it goes."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, count)
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_seconds: int, now_ns: int) -> int:
        window, remaining = _window(window_seconds, now_ns)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] >= window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
        return 0 if count <= limit else remaining


class RedisRateLimiter:
    """Shared by every worker (the production profile)."""

    def __init__(self, url: str, *, prefix: str = "pocketbank:rl:", client: Any = None) -> None:
        self._redis: Any = client if client is not None else redis.Redis.from_url(url)
        self._prefix = prefix

    def hit(self, key: str, *, limit: int, window_seconds: int, now_ns: int) -> int:
        window, remaining = _window(window_seconds, now_ns)
        name = f"{self._prefix}{key}:{window_seconds}:{window}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, window_seconds + 1)
        count, _ = pipe.execute()
        return 0 if int(count) <= limit else remaining

    def close(self) -> None:
        self._redis.close()
