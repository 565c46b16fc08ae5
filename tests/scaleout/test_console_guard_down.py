"""Console sessions on an instance whose guard Redis is down: refused with 503 where the guard is needed,
never a 500, including on a response that would have renewed the session cookie."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from ram_middleware.config import RamConfig, build
from ram_middleware.console import Console
from tests.console.client import Browser
from tests.scaleout.cluster import Instance, World, instance_env
from tests.scaleout.servers import RedisServer, pg_schema_url, require_shared_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PASSWORD = "Scale-out-logon-9"
AGE = timedelta(minutes=2)  # past the console's refresh_after (60 s): the next response renews the cookie


@pytest.fixture()
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _get(instance: Instance, path: str, cookie: str) -> httpx.Response:
    headers = {"accept": "application/json", "cookie": f"ram_session={cookie}"}
    return httpx.get(instance.base + path, headers=headers, timeout=10)


def test_a_session_due_for_renewal_gets_503_not_500_while_redis_is_down(redis_server: RedisServer) -> None:
    require_shared_postgres()
    with pg_schema_url() as store_url:
        world = World(store_url)
        env = instance_env(store_url, redis_server.url)
        instance = Instance(env)
        ram = build(RamConfig.from_env(env))  # the same keys as the instance, to age its cookie
        try:
            instance.start()
            world.svc.create_user(world.account, "yuri")
            world.svc.add_user_to_group(world.account, "dev", "yuri")
            world.svc.create_login_profile(world.account, "yuri", PASSWORD)
            browser = Browser(httpx.Client(base_url=instance.base, follow_redirects=False, timeout=10))
            assert browser.logon("yuri", PASSWORD, account=world.account).status_code == 303
            assert browser.session is not None
            # The same session, last renewed two minutes ago.
            sessions = Console(ram, install=False).sessions
            session = sessions.loads(browser.session)
            aged = sessions.dumps(dataclasses.replace(session, refreshed=session.refreshed - AGE))
            renewed = _get(instance, "/instances/i-1", aged)
            assert renewed.status_code == 200 and "ram_session=" in renewed.headers.get("set-cookie", "")

            redis_server.stop()
            refused = _get(instance, "/instances/i-1", aged)
            assert refused.status_code == 503, refused.text
            assert refused.json()["Code"].startswith("ServiceUnavailable")
            public = _get(instance, "/health", aged)  # needs no guard: served, its cookie left as it is
            assert public.status_code == 200, public.text
            assert "set-cookie" not in public.headers
        finally:
            instance.stop()
            ram.close()
            world.close()
