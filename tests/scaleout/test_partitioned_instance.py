"""One instance cut off from PostgreSQL (its link silent, connections open) while another instance and the
operator still reach it: the cut-off instance stops vouching for its snapshot within the staleness bound,
and no request of it hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env
from tests.scaleout.servers import pg_schema_url, redis_guard_url, require_shared_postgres
from tests.scaleout.stall_proxy import StallProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

READ_TIMEOUT = 1.0  # ram_read_timeout: a request's store work ends within 2 s
MAX_STALENESS = 2.0  # ram_max_staleness
REFRESH = 0.5  # the Directory's refresh_interval


@pytest.fixture()
def guard_url() -> Iterator[str]:
    with redis_guard_url() as url:
        yield url


def test_an_instance_cut_off_from_the_store_stops_allowing_what_was_revoked_meanwhile(guard_url: str) -> None:
    require_shared_postgres()
    with pg_schema_url() as url, StallProxy(("127.0.0.1", 5432)) as proxy:
        world = World(url)
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        options = f"&ram_read_timeout={READ_TIMEOUT}&ram_max_staleness={MAX_STALENESS}"
        cut_off = Instance(instance_env(through + options, guard_url))
        try:
            cut_off.start()
            key = world.user("vic", "dev")
            assert call(cut_off, "GET", "/instances/i-1", key).status_code == 200
            proxy.stall()
            stalled = time.monotonic()
            world.svc.remove_user_from_group(world.account, "dev", "vic")  # its NOTIFY never gets through
            answers: list[tuple[float, float, int]] = []
            while time.monotonic() - stalled < MAX_STALENESS + REFRESH + READ_TIMEOUT + 3:
                began = time.monotonic()
                status = call(cut_off, "GET", "/instances/i-1", key).status_code
                answers.append((began - stalled, time.monotonic() - began, status))
            print(
                "\n"
                + "\n".join(f"{at:6.2f} s: {status} in {took * 1000:.0f} ms" for at, took, status in answers)
            )
            assert max(took for _, took, _ in answers) < READ_TIMEOUT + 1 + 0.5, "a request hung"
            allowed = [at for at, _, status in answers if status == 200]
            assert not allowed or max(allowed) < MAX_STALENESS + REFRESH + 0.3, (
                "a stale grant outlived the bound"
            )
            assert {status for _, _, status in answers[-3:]} == {503}
        finally:
            cut_off.stop()
            world.close()
