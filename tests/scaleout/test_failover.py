"""A PostgreSQL failover that loses the latest commits, under two running instances.

Promoting an asynchronous replica (or restoring a backup) brings back a database *older* than the one the
instances last saw: its change counter is lower, and the next writes there reuse counter values that the
instances' snapshots are already tagged with. Nothing the lost commits granted may survive in a snapshot,
and the new primary's own changes must be felt at once as always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ram_middleware import errors
from tests.scaleout.cluster import Instance, World, call, instance_env, wait_until
from tests.scaleout.servers import PostgresCluster, RedisServer, private_servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture()
def servers() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    with private_servers() as started:
        yield started


def _retrying(action: Callable[[], object]) -> None:
    """Run an admin call, retrying while the test process's own pool reconnects after the failover."""

    def attempt() -> bool:
        try:
            action()
        except errors.ServiceUnavailable:
            return False
        return True

    wait_until(attempt, timeout=15.0, interval=0.2)


def test_a_failover_that_loses_commits_leaves_nothing_of_them_and_later_changes_are_felt(
    servers: tuple[PostgresCluster, RedisServer],
) -> None:
    cluster, redis_server = servers
    world = World(cluster.url)
    key = world.user("ivy", "hr")  # hr: nothing on ECS
    cluster.stop()
    standby = cluster.copy_data()  # the replica, which will miss everything from here on
    cluster.start()
    env = instance_env(cluster.url, redis_server.url)
    first, second = Instance(env), Instance(env)
    try:
        first.start()
        second.start()
        _retrying(lambda: world.svc.add_user_to_group(world.account, "dev", "ivy"))
        for instance in (first, second):
            assert wait_until(lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 200,
                              timeout=5.0) < 1.0  # fmt: skip

        cluster.fail_over_to(standby)  # ivy was never added to dev there
        for instance in (first, second):
            wait_until(lambda i=instance: i.health()["listening"] is True, timeout=15.0, interval=0.1)
            response = call(instance, "GET", "/instances/i-1", key)
            assert response.status_code == 403, f"a lost commit's grant survived: {response.text}"

        # The new primary's own writes reuse the lost commits' counter values: still felt at once.
        _retrying(lambda: world.svc.add_user_to_group(world.account, "dev", "ivy"))
        for instance in (first, second):
            assert wait_until(lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 200,
                              timeout=5.0) < 1.0  # fmt: skip
        _retrying(lambda: world.svc.remove_user_from_group(world.account, "dev", "ivy"))
        for instance in (first, second):
            assert wait_until(lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code == 403,
                              timeout=5.0) < 1.0  # fmt: skip
    finally:
        first.stop()
        second.stop()
        world.close()
