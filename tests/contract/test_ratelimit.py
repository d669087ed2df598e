"""The rate limiter contract, on every backend: in memory always, Redis when reachable."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from pbtest import missing_service
from pocketbank.integrations.ratelimit import MemoryRateLimiter, RedisRateLimiter
from pocketbank.services.auth_ports import RateLimiter

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # on a 60-second boundary
REDIS_URL = os.environ.get("POCKETBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    import redis

    prefix = f"pbtest:{uuid.uuid4().hex}:"
    r = RedisRateLimiter(REDIS_URL, prefix=prefix)
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        r.close()
        missing_service(f"Redis unreachable at {REDIS_URL}: {exc}")
    yield r
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
    r.close()


def test_allows_up_to_the_limit_then_says_how_long(limiter: RateLimiter) -> None:
    assert [limiter.hit("k", limit=3, window_seconds=60, now_ns=T0 + i * NS) for i in range(3)] == [0, 0, 0]
    assert limiter.hit("k", limit=3, window_seconds=60, now_ns=T0 + 10 * NS) == 50
    assert limiter.hit("k", limit=3, window_seconds=60, now_ns=T0 + 59 * NS) == 1


def test_new_window_starts_fresh(limiter: RateLimiter) -> None:
    for _ in range(3):
        limiter.hit("k", limit=2, window_seconds=60, now_ns=T0)
    assert limiter.hit("k", limit=2, window_seconds=60, now_ns=T0 + 60 * NS) == 0


def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert limiter.hit("a", limit=1, window_seconds=60, now_ns=T0) == 0
    assert limiter.hit("a", limit=1, window_seconds=60, now_ns=T0) > 0
    assert limiter.hit("b", limit=1, window_seconds=60, now_ns=T0) == 0


def test_concurrent_hits_are_counted_exactly(limiter: RateLimiter) -> None:
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            if limiter.hit("hot", limit=50, window_seconds=3600, now_ns=T0) == 0:
                with lock:
                    allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50
