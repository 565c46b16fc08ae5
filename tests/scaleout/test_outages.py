"""Killing Redis or PostgreSQL under two running instances: requests fail closed (503), then recover.

The machine's shared servers are never touched: this module starts its own redis-server and its own
PostgreSQL cluster (see :mod:`tests.scaleout.servers`) and kills and restarts those.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from ram_middleware import errors
from ram_middleware.store import open_store
from ram_middleware.store.postgres import PostgresStore
from tests.scaleout.cluster import MASTER_KEY, Instance, World, call, instance_env, sign, wait_until
from tests.scaleout.servers import PostgresCluster, RedisServer, free_port, private_servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    with private_servers() as started:
        yield started


@pytest.fixture(scope="module")
def deployment(
    servers: tuple[PostgresCluster, RedisServer],
) -> Iterator[tuple[PostgresCluster, RedisServer, World, Instance, Instance]]:
    cluster, redis_server = servers
    world = World(cluster.url)
    env = instance_env(cluster.url, redis_server.url)
    first, second = Instance(env), Instance(env)
    try:
        first.start()
        second.start()
        yield cluster, redis_server, world, first, second
    finally:
        first.stop()
        second.stop()
        world.close()


def _refused_503(response: httpx.Response) -> bool:
    return response.status_code == 503 and str(response.json()["Code"]).startswith("ServiceUnavailable")


def test_redis_down_fails_closed_then_recovers(
    deployment: tuple[PostgresCluster, RedisServer, World, Instance, Instance],
) -> None:
    _, redis_server, world, first, second = deployment
    key = world.user("gina", "dev")
    for instance in (first, second):
        assert call(instance, "GET", "/instances/i-1", key).status_code == 200

    redis_server.stop()
    for instance in (first, second):
        started = time.perf_counter()
        response = call(instance, "GET", "/instances/i-1", key)
        took = time.perf_counter() - started
        assert _refused_503(response), response.text
        assert took < 3.0
    print(f"\nRedis down: 503 {response.json()['Code']} in {took * 1000:.0f} ms")

    redis_server.start()
    for instance in (first, second):
        seconds = wait_until(
            lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 200, timeout=10.0
        )
        print(f"Redis back: instance on :{instance.port} serving again after {seconds * 1000:.0f} ms")


def test_a_request_used_before_redis_restarted_empty_is_not_accepted_again(
    deployment: tuple[PostgresCluster, RedisServer, World, Instance, Instance],
) -> None:
    _, redis_server, world, first, second = deployment
    key = world.user("jude", "dev")
    captured = sign("GET", "/instances/i-1", key)
    assert captured.send(first).status_code == 200
    time.sleep(1.1)  # signing times are whole seconds: what was signed in the second Redis is back in passes
    redis_server.stop()
    redis_server.start()  # without persistence: every nonce claimed so far is forgotten
    for instance in (first, second):
        wait_until(lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 200, timeout=10.0)
        # Still inside its ±15 minute window, and its nonce unknown to Redis now: refused all the same.
        replayed = captured.send(instance)
        assert replayed.status_code == 400, replayed.text
        assert replayed.json()["Code"] == "SignatureNonceUsed"


def test_postgres_down_fails_closed_then_recovers_and_resubscribes(
    deployment: tuple[PostgresCluster, RedisServer, World, Instance, Instance],
) -> None:
    cluster, _, world, first, second = deployment
    key = world.user("hank", "dev")
    for instance in (first, second):
        assert call(instance, "GET", "/instances/i-1", key).status_code == 200  # snapshot is warm

    cluster.stop()
    for instance in (first, second):
        seconds = wait_until(
            lambda i=instance: _refused_503(call(i, "GET", "/instances/i-1", key)), timeout=8.0
        )
        print(f"\nPostgreSQL down: instance on :{instance.port} denies (503) after {seconds * 1000:.0f} ms")
        assert seconds < 2.0
        for _ in range(3):  # and keeps denying: no stale snapshot is served while the store is gone
            started = time.perf_counter()
            assert _refused_503(call(instance, "GET", "/instances/i-1", key))
            assert time.perf_counter() - started < 4.0
            time.sleep(0.3)

    cluster.start()
    for instance in (first, second):
        seconds = wait_until(
            lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 200, timeout=15.0
        )
        print(f"PostgreSQL back: instance on :{instance.port} serving again after {seconds * 1000:.0f} ms")
        assert instance.health()["listening"] is True

    # Re-subscribed: a change made now still reaches both instances at once.
    wait_until(lambda: _delete_succeeds(world, "hank"), timeout=10.0, interval=0.2)
    for instance in (first, second):
        seconds = wait_until(
            lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 404, timeout=5.0
        )
        assert seconds < 1.0


def test_the_first_read_after_a_restart_does_not_wait_on_a_dead_pooled_connection(
    deployment: tuple[PostgresCluster, RedisServer, World, Instance, Instance],
) -> None:
    cluster = deployment[0]
    store = open_store(cluster.url, master_keys=[MASTER_KEY])
    try:
        assert isinstance(store, PostgresStore)
        with store.read() as repo:
            repo.change_counter()  # the pool now holds an idle connection to the server about to restart
        cluster.stop()
        cluster.start()
        wait_until(lambda: store.listening, timeout=10.0)
        started = time.perf_counter()
        with store.read() as repo:
            repo.change_counter()
        took = time.perf_counter() - started
        print(f"\nfirst read through the pool after the restart: {took * 1000:.0f} ms")
        # The pool's own check of a dead idle connection would back off a full second before the next try.
        assert took < 0.5
    finally:
        store.close()


def _delete_succeeds(world: World, user: str) -> bool:
    try:
        world.svc.delete_user(world.account, user, force=True)
    except errors.ServiceUnavailable:
        return False  # the test process's own pool may still be reconnecting
    return True


def test_unreachable_database_refuses_to_open_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(errors.ServiceUnavailable) as caught:
        open_store(
            f"postgresql://postgres:hunter2pw@127.0.0.1:{free_port()}/postgres", master_keys=[MASTER_KEY]
        )
    assert time.perf_counter() - started < 3.0
    assert caught.value.status == 503
    assert "hunter2pw" not in str(caught.value)
