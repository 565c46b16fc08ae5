"""A guard Redis short of memory that evicts keys (``maxmemory`` with an eviction policy, or another app on
the same server filling it): an evicted nonce is a forgotten one, and a request captured before must not be
accepted again on any instance."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tests.scaleout.cluster import Instance, World, call, instance_env, sign
from tests.scaleout.servers import RedisServer, pg_schema_url, require_shared_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# Small enough for the test to fill in a moment. volatile-lru evicts only keys with an expiry, those untouched
# the longest first: the nonces (the guard's birth key has none, so it stays; under allkeys-lru it stays too
# while requests keep touching it).
EVICTING = ("--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru")


@pytest.fixture()
def evicting_redis() -> Iterator[RedisServer]:
    server = RedisServer(EVICTING)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _fill_until_gone(url: str, pattern: str) -> None:
    """Write another app's keys into the Redis until the keys matching ``pattern`` are evicted."""
    client = redis.Redis.from_url(url)
    try:
        assert list(client.scan_iter(match=pattern)), "the nonce was never claimed"
        for n in range(2000):
            client.set(f"other-app:{n}", b"x" * 100_000, ex=3600)
            if not list(client.scan_iter(match=pattern)):
                return
        raise AssertionError("Redis never evicted the nonce")
    finally:
        client.close()


def test_a_request_whose_nonce_redis_evicted_is_not_accepted_again(evicting_redis: RedisServer) -> None:
    require_shared_postgres()
    with pg_schema_url() as store_url:
        world = World(store_url)
        env = instance_env(store_url, evicting_redis.url)
        first, second = Instance(env), Instance(env)
        try:
            first.start()
            second.start()
            key = world.user("xena", "dev")
            captured = sign("GET", "/instances/i-1", key)
            assert captured.send(first).status_code == 200
            time.sleep(1.1)  # signing times are whole seconds: the eviction comes in a later one
            _fill_until_gone(evicting_redis.url, f"*nonce:{key[0]}:*")
            for instance in (second, first):
                replayed = captured.send(instance)  # inside its ±15 minute window, its nonce forgotten
                assert replayed.status_code == 400, (
                    f"replay accepted after its nonce was evicted: {replayed.text}"
                )
                assert replayed.json()["Code"] == "SignatureNonceUsed"
                assert call(instance, "GET", "/instances/i-1", key).status_code == 200  # signed afresh: fine
        finally:
            first.stop()
            second.stop()
            world.close()
