"""Three uvicorn instances on one PostgreSQL and one Redis: every kind of revocation is felt everywhere.

Each change is made by a third party (the test process's own :class:`RamService`, as ``ram`` on an
operator's machine would) and then measured on every instance: the time until each refuses is asserted
against the README's bound, not slept for. The same again right after the instances' LISTEN sessions were
killed (``pg_terminate_backend``): a change committed while they reconnect must not be missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from ram_middleware.store.postgres import PostgresStore
from tests.console.client import Browser
from tests.scaleout.cluster import Instance, World, call, instance_env, wait_until
from tests.scaleout.servers import SHARED_PG, pg_schema_url, redis_guard_url, require_shared_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BOUND = 1.0  # seconds: LISTEN/NOTIFY makes a change felt "within milliseconds"; generous for a busy machine
ECS_ALL = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]})
ECS_OTHER = json.dumps(
    {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "acs:ecs:*:*:instance/i-9"}],
    }
)

PASSWORD = "Scale-out-logon-9"

Cluster = tuple[World, list[Instance]]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_shared_postgres()
    with pg_schema_url() as store_url, redis_guard_url() as guard_url:
        world = World(store_url)
        env = instance_env(store_url, guard_url)
        instances = [Instance(env) for _ in range(3)]
        try:
            for instance in instances:
                instance.start()
            yield world, instances
        finally:
            for instance in instances:
                instance.stop()
            world.close()


def _status(instance: Instance, key: tuple[str, str], target: str = "/instances/i-1") -> int:
    return call(instance, "GET", target, key).status_code


def _felt_everywhere(
    instances: list[Instance], key: tuple[str, str], refused: Callable[[httpx.Response], bool], what: str
) -> None:
    """Assert every instance refuses ``key`` within BOUND of now (the change has just committed)."""
    for instance in instances:
        seconds = wait_until(lambda i=instance: refused(call(i, "GET", "/instances/i-1", key)), timeout=5.0)
        print(f"\n{what}: refused on :{instance.port} after {seconds * 1000:.1f} ms")
        assert seconds < BOUND, f"{what}: instance on :{instance.port} took {seconds:.2f} s"


def _warm(instances: list[Instance], key: tuple[str, str]) -> None:
    for instance in instances:
        assert _status(instance, key) == 200  # each instance has the grant in its snapshot


def _code_is(status: int, code: str) -> Callable[[httpx.Response], bool]:
    return lambda r: r.status_code == status and r.json().get("Code") == code


def test_a_detached_policy_is_felt_on_every_instance(cluster: Cluster) -> None:
    world, instances = cluster
    key = world.user("pat")
    world.svc.create_policy(world.account, "EcsAllPat", ECS_ALL)
    world.svc.attach_policy_to_user(world.account, "Custom", "EcsAllPat", "pat")
    _warm(instances, key)
    world.svc.detach_policy_from_user(world.account, "Custom", "EcsAllPat", "pat")
    _felt_everywhere(instances, key, _code_is(403, "NoPermission"), "policy detached")


def test_a_policy_edited_to_a_new_default_version_is_felt_on_every_instance(cluster: Cluster) -> None:
    world, instances = cluster
    key = world.user("quinn")
    world.svc.create_policy(world.account, "EcsQuinn", ECS_ALL)
    world.svc.attach_policy_to_user(world.account, "Custom", "EcsQuinn", "quinn")
    _warm(instances, key)
    world.svc.create_policy_version(world.account, "EcsQuinn", ECS_OTHER, set_as_default=True)
    _felt_everywhere(instances, key, _code_is(403, "NoPermission"), "policy edited")
    assert all(_status(i, key, "/instances/i-9") == 200 for i in instances)  # the new version does apply


def test_a_deactivated_key_is_refused_on_every_instance(cluster: Cluster) -> None:
    world, instances = cluster
    key = world.user("rosa", "dev")
    _warm(instances, key)
    world.svc.update_access_key(world.account, key[0], "Inactive")
    _felt_everywhere(instances, key, _code_is(400, "InvalidAccessKeyId.Inactive"), "key deactivated")


def test_a_deleted_key_is_refused_on_every_instance(cluster: Cluster) -> None:
    world, instances = cluster
    key = world.user("sam", "dev")
    _warm(instances, key)
    world.svc.delete_access_key(world.account, key[0])
    _felt_everywhere(instances, key, _code_is(404, "InvalidAccessKeyId.NotFound"), "key deleted")


def _kill_listeners(world: World) -> int:
    """Terminate every LISTEN session on the deployment's channel (the instances' and the test process's)."""
    store = world.store
    assert isinstance(store, PostgresStore)
    channel = store.channel
    with psycopg.connect(SHARED_PG, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"ram-listen {channel}",),
        ).fetchall()
    return len(rows)


def test_a_change_made_right_after_the_listeners_were_killed_is_felt_on_every_instance(
    cluster: Cluster,
) -> None:
    world, instances = cluster
    key = world.user("tess", "dev")
    _warm(instances, key)
    assert _kill_listeners(world) == len(instances) + 1
    # Committed while the instances reconnect: its NOTIFY may reach none of them.
    world.svc.remove_user_from_group(world.account, "dev", "tess")
    _felt_everywhere(instances, key, _code_is(403, "NoPermission"), "removed from group, listeners killed")
    for instance in instances:
        wait_until(lambda i=instance: i.health()["listening"] is True, timeout=5.0, interval=0.05)

    # Re-subscribed: the next change is pushed again.
    world.svc.add_user_to_group(world.account, "dev", "tess")
    for instance in instances:
        seconds = wait_until(lambda i=instance: _status(i, key) == 200, timeout=5.0)
        assert seconds < BOUND


def test_between_listener_kills_nothing_stale_is_ever_allowed(cluster: Cluster) -> None:
    """Kill the listeners, change, and probe at once: an instance may refuse with 503 while its feed is
    down, but it never serves the grant that was removed once the bound has passed."""
    world, instances = cluster
    key = world.user("uma")
    for _ in range(3):
        world.svc.add_user_to_group(world.account, "dev", "uma")
        for instance in instances:
            wait_until(lambda i=instance: _status(i, key) == 200, timeout=5.0)
        _kill_listeners(world)
        world.svc.remove_user_from_group(world.account, "dev", "uma")
        _felt_everywhere(instances, key, lambda r: r.status_code in (403, 503), "removed, listeners killed")
        for instance in instances:
            assert _status(instance, key) in (403, 503)
            wait_until(lambda i=instance: i.health()["listening"] is True, timeout=5.0, interval=0.05)
            assert _status(instance, key) == 403


def _browser(instance: Instance) -> Browser:
    return Browser(httpx.Client(base_url=instance.base, follow_redirects=False, timeout=10))


def _with_cookie(instance: Instance, cookie: str) -> httpx.Response:
    headers = {"accept": "application/json", "cookie": f"ram_session={cookie}"}
    return httpx.get(instance.base + "/instances/i-1", headers=headers, timeout=10)


def test_a_console_session_logged_out_on_one_instance_is_refused_on_every_instance(cluster: Cluster) -> None:
    world, instances = cluster
    world.svc.create_user(world.account, "wendy")
    world.svc.add_user_to_group(world.account, "dev", "wendy")
    world.svc.create_login_profile(world.account, "wendy", PASSWORD)
    browser = _browser(instances[0])
    signed_in = browser.logon("wendy", PASSWORD, account=world.account)
    assert signed_in.status_code == 303, signed_in.text
    cookie = browser.session
    assert cookie is not None
    for instance in instances:
        assert _with_cookie(instance, cookie).status_code == 200  # one session, good on every instance

    out = browser.submit("/console/logout", {}, form_page="/console/logout")
    assert out.status_code == 303
    for instance in instances:
        refused = _with_cookie(instance, cookie)  # a copy of the cookie taken before the logout
        assert refused.status_code in (401, 403), refused.text
