"""Two uvicorn instances on one SQLite file (and its guard, the default): each notices the other's and the
operator's changes by polling the change counter, within ``refresh_interval`` (0.5 s), and they share their
nonces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env, sign, two_instances, wait_until

pytestmark = [pytest.mark.slow]

BOUND = 0.5 + 0.5  # refresh_interval, and as long again for a busy machine

Pair = tuple[World, Instance, Instance]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    path = tmp_path_factory.mktemp("sqlite-instances") / "ram.db"
    world = World(f"sqlite:///{path}")
    env = instance_env(f"sqlite:///{path}", "")
    del env["RAM_GUARD_URL"]  # the default: a SQLite guard on the store's file
    with two_instances(world, env) as started:
        yield started


@pytest.mark.parametrize("change", ["removed from group", "key deactivated", "user deleted"])
def test_a_change_is_felt_on_both_instances_within_refresh_interval(pair: Pair, change: str) -> None:
    world, first, second = pair
    name = "u" + change.split()[0]
    key = world.user(name, "dev")
    for instance in (first, second):
        assert call(instance, "GET", "/instances/i-1", key).status_code == 200
    if change == "removed from group":
        world.svc.remove_user_from_group(world.account, "dev", name)
    elif change == "key deactivated":
        world.svc.update_access_key(world.account, key[0], "Inactive")
    else:
        world.svc.delete_user(world.account, name, force=True)
    for instance in (first, second):
        seconds = wait_until(
            lambda i=instance: call(i, "GET", "/instances/i-1", key).status_code != 200, timeout=5
        )
        print(f"\n{change}: refused on :{instance.port} after {seconds * 1000:.0f} ms")
        assert seconds < BOUND


def test_a_nonce_used_on_one_instance_is_refused_on_the_other(pair: Pair) -> None:
    world, first, second = pair
    key = world.user("nonce", "dev")
    captured = sign("GET", "/instances/i-1", key)
    assert captured.send(first).status_code == 200
    replayed = captured.send(second)
    assert replayed.status_code == 400 and replayed.json()["Code"] == "SignatureNonceUsed"
