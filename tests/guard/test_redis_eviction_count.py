"""The Redis guard's own eviction count may be evicted too (under ``allkeys-*`` nothing is spared): the keys
it held being gone must still count as forgetting, or nonces evicted with it would be accepted again."""

from __future__ import annotations

import time

import pytest
import redis

from ram_middleware.guard_redis import DEFAULT_PREFIX, RedisGuard
from tests.scaleout.servers import RedisServer

pytestmark = pytest.mark.redis


def test_evictions_that_take_the_guards_count_with_the_nonces_are_noticed() -> None:
    # volatile-ttl evicts the keys nearest their expiry first: given one, the count goes first, as any key
    # may under allkeys-lru (after a quiet hour all are equally idle) or allkeys-random; the birth key stays.
    # Every key sampled (a few dozen fill the 4 MB): the order is exact.
    evicting = ("--maxmemory", "4mb", "--maxmemory-policy", "volatile-ttl", "--maxmemory-samples", "64")
    server = RedisServer(evicting)
    server.start()
    raw = redis.Redis.from_url(server.url)
    guard = RedisGuard.from_url(server.url)
    try:
        born = guard.remembers_since()
        assert guard.claim("nonce:AK:captured", 7200)
        raw.pexpire(DEFAULT_PREFIX + "guard:evicted", 3_600_000)
        time.sleep(1.1)  # births are whole seconds
        for n in range(2000):
            raw.set(f"other-app:{n}", b"x" * 100_000, ex=36_000)
            if not raw.exists(DEFAULT_PREFIX + "nonce:AK:captured"):
                break
        assert not raw.exists(DEFAULT_PREFIX + "guard:evicted") and raw.exists(DEFAULT_PREFIX + "guard:born")
        assert not raw.exists(DEFAULT_PREFIX + "nonce:AK:captured")
        guard.claim("nonce:AK:captured", 7200)  # forgotten: the claim alone cannot tell
        assert guard.remembers_since() > born  # so the request signed before is refused
    finally:
        guard.close()
        raw.close()
        server.stop()
