"""An instance whose link to PostgreSQL turns slow: all the store work of one request shares one deadline,
``ram_read_timeout`` + 1 s, however many reads (and connection checks) a cold decision needs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env, sign
from tests.scaleout.servers import (
    pg_schema_url,
    redis_guard_url,
    require_shared_postgres,
)
from tests.scaleout.stall_proxy import StallProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

READ_TIMEOUT = 2.0  # ram_read_timeout: the store work of a request ends within 3 s


@pytest.fixture()
def guard_url() -> Iterator[str]:
    with redis_guard_url() as url:
        yield url


def test_a_cold_decision_over_a_slow_link_is_refused_within_read_timeout_plus_one_second(
    guard_url: str,
) -> None:
    require_shared_postgres()
    with pg_schema_url() as url, StallProxy(("127.0.0.1", 5432)) as proxy:
        world = World(url)
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        instance = Instance(instance_env(f"{through}&ram_read_timeout={READ_TIMEOUT}", guard_url))
        try:
            instance.start()
            assert call(instance, "GET", "/instances/i-1", world.user("warm", "dev")).status_code == 200
            cold = world.user("cold", "dev")  # its key and policies are not in the instance's snapshot
            # Every round trip now takes 1 s: the decision's two lookups (the key, then the policies), each
            # a pool check and one pipelined round trip, take about 2 s each, each within its own limit, so
            # without the shared deadline they would add up to ~4 s (and it would be let in).
            proxy.slow(0.5)
            began = time.monotonic()
            response = call(instance, "GET", "/instances/i-2", cold)
            elapsed = time.monotonic() - began
            assert response.status_code == 503 and response.json()["Code"] == "ServiceUnavailable"
            assert elapsed < READ_TIMEOUT + 1 + 1.0
            proxy.slow(0)
            assert call(instance, "GET", "/instances/i-3", cold).status_code == 200
        finally:
            instance.stop()
            world.close()


def test_requests_queued_for_a_worker_thread_get_no_longer(guard_url: str) -> None:
    """More cold requests at once than the instance has worker threads (the event loop's default executor):
    those that wait for a thread count that wait towards the deadline, so none takes twice as long."""
    threads = min(32, (os.cpu_count() or 1) + 4)  # the instance's executor, as asyncio sizes it
    require_shared_postgres()
    with pg_schema_url() as url, StallProxy(("127.0.0.1", 5432)) as proxy:
        world = World(url)
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        instance = Instance(instance_env(f"{through}&ram_read_timeout={READ_TIMEOUT}", guard_url))
        answers: list[tuple[int, float]] = []

        def send(request_number: int) -> None:
            signed = sign("GET", f"/instances/i-{request_number}", cold)
            began = time.monotonic()
            status = signed.send(instance, timeout=30).status_code
            answers.append((status, time.monotonic() - began))

        try:
            instance.start()
            assert call(instance, "GET", "/instances/i-1", world.user("warm", "dev")).status_code == 200
            cold = world.user("cold", "dev")
            # As slow as in the test above: a cold decision alone then overruns its deadline. Slower links
            # only: over a 0.2 s one, a request that got a thread and a connection first could finish its
            # two pipelined lookups in time, and every later one would find them cached (a 200).
            proxy.slow(0.5)
            senders = [threading.Thread(target=send, args=(n,)) for n in range(2 * threads + 1)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            assert {status for status, _ in answers} == {503}
            # Before, the requests that waited for a thread then had a deadline of their own: ~2-3 times this.
            assert max(seconds for _, seconds in answers) < READ_TIMEOUT + 1 + 1.5
        finally:
            instance.stop()
            world.close()
