"""Two uvicorn instances sharing PostgreSQL (store) and Redis (guard) agree at once on who may do what."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env, sign, two_instances, wait_until
from tests.scaleout.servers import (
    pg_schema_url,
    redis_guard_url,
    require_shared_postgres,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BOUND = 1.0  # seconds: a change made anywhere is felt everywhere within this


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[World, Instance, Instance]]:
    require_shared_postgres()
    with pg_schema_url() as store_url, redis_guard_url() as guard_url:
        world = World(store_url)
        env = instance_env(store_url, guard_url)
        with two_instances(world, env) as started:
            yield started


def _code(response: httpx.Response) -> str:
    return str(response.json().get("Code", ""))


def test_instances_run_as_separate_processes_with_live_change_feeds(
    cluster: tuple[World, Instance, Instance],
) -> None:
    _, first, second = cluster
    one, two = first.health(), second.health()
    assert one["pid"] != two["pid"]
    assert one["listening"] is True and two["listening"] is True


def test_user_deleted_through_instance_1_is_denied_on_instance_2(
    cluster: tuple[World, Instance, Instance],
) -> None:
    world, first, second = cluster
    carol = world.user("carol", "dev")
    assert call(second, "GET", "/instances/i-1", carol).status_code == 200  # instance 2 has carol cached
    assert call(first, "GET", "/instances/i-1", carol).status_code == 200

    deleted = call(first, "POST", "/admin/users/carol/delete", world.admin)
    assert deleted.status_code == 200, deleted.text
    refused: list[httpx.Response] = []

    def denied() -> bool:
        response = call(second, "GET", "/instances/i-1", carol)
        refused.append(response)
        return response.status_code != 200

    seconds = wait_until(denied, timeout=5.0)
    print(f"\nuser deleted on instance 1 -> denied on instance 2 after {seconds * 1000:.1f} ms")
    assert seconds < BOUND
    assert refused[-1].status_code == 404 and _code(refused[-1]) == "InvalidAccessKeyId.NotFound"


def test_group_move_is_felt_on_the_other_instance(cluster: tuple[World, Instance, Instance]) -> None:
    world, first, second = cluster
    dave = world.user("dave", "dev")
    allowed = call(second, "GET", "/instances/i-2", dave)
    assert allowed.status_code == 200 and allowed.json()["groups"] == ["dev"]

    moved = call(first, "POST", "/admin/users/dave/move?From=dev&To=hr", world.admin)
    assert moved.status_code == 200, moved.text
    seconds = wait_until(lambda: call(second, "GET", "/instances/i-2", dave).status_code == 403, timeout=5.0)
    print(f"\nuser moved dev->hr on instance 1 -> denied on instance 2 after {seconds * 1000:.1f} ms")
    assert seconds < BOUND
    assert _code(call(second, "GET", "/instances/i-2", dave)) == "NoPermission"

    # The other way round, written straight through RamService on the same database (a third process).
    world.svc.remove_user_from_group(world.account, "hr", "dave")
    world.svc.add_user_to_group(world.account, "dev", "dave")
    seconds = wait_until(lambda: call(second, "GET", "/instances/i-2", dave).status_code == 200, timeout=5.0)
    print(f"user moved hr->dev via RamService -> allowed on instance 2 after {seconds * 1000:.1f} ms")
    assert seconds < BOUND
    assert call(first, "GET", "/instances/i-2", dave).json()["groups"] == ["dev"]


def test_a_request_accepted_by_one_instance_is_refused_as_a_replay_by_the_other(
    cluster: tuple[World, Instance, Instance],
) -> None:
    world, first, second = cluster
    erin = world.user("erin", "dev")
    captured = sign("GET", "/instances/i-3", erin)
    assert captured.send(first).status_code == 200
    replayed = captured.send(second)
    assert replayed.status_code == 400
    assert _code(replayed) == "SignatureNonceUsed"
    assert _code(captured.send(first)) == "SignatureNonceUsed"
    # A fresh signature from the same key is still fine on both.
    assert call(second, "GET", "/instances/i-3", erin).status_code == 200


def test_a_totp_code_used_on_one_instance_is_refused_on_the_other(
    cluster: tuple[World, Instance, Instance],
) -> None:
    world, first, second = cluster
    code = world.mfa_user("frank")
    body = {"account": world.account, "user": "frank", "code": code}
    accepted = httpx.post(first.base + "/mfa/verify", json=body, timeout=10)
    assert accepted.status_code == 200, accepted.text
    again = httpx.post(second.base + "/mfa/verify", json=body, timeout=10)
    assert again.status_code == 400
    assert _code(again) == "InvalidAuthenticationCode"


def _at_once(*sends: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run ``sends`` on threads released together; their responses in order."""
    start = threading.Barrier(len(sends))

    def run(send: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return send()

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(run, sends))


def test_a_request_sent_to_both_instances_at_once_is_accepted_by_one_only(
    cluster: tuple[World, Instance, Instance],
) -> None:
    world, first, second = cluster
    gina = world.user("gina", "dev")
    for round_ in range(20):
        captured = sign("GET", f"/instances/i-{round_}", gina)
        answers = _at_once(functools.partial(captured.send, first), functools.partial(captured.send, second))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 400], [r.text for r in answers]
        assert [_code(r) for r in answers if r.status_code == 400] == ["SignatureNonceUsed"]


def test_a_totp_code_sent_to_both_instances_at_once_is_accepted_by_one_only(
    cluster: tuple[World, Instance, Instance],
) -> None:
    world, *instances = cluster
    for n in range(4):
        name = f"hank{n}"
        body = {"account": world.account, "user": name, "code": world.mfa_user(name)}
        answers = _at_once(
            *(functools.partial(httpx.post, i.base + "/mfa/verify", json=body, timeout=10) for i in instances)
        )
        assert sorted(r.status_code for r in answers) == [200, 400], [r.text for r in answers]
        assert [_code(r) for r in answers if r.status_code == 400] == ["InvalidAuthenticationCode"]
