"""``RamConfig`` names a PostgreSQL store and a Redis guard by URL, from code or the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ram_middleware.config import RamConfig, build
from ram_middleware.guard_redis import RedisGuard
from ram_middleware.store.postgres import PostgresStore
from tests.scaleout.cluster import MASTER_KEY, TOKEN_KEY
from tests.scaleout.servers import (
    SHARED_REDIS,
    pg_schema_url,
    require_shared_postgres,
    require_shared_redis,
    unique_name,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture()
def urls() -> Iterator[tuple[str, str]]:
    require_shared_postgres()
    require_shared_redis()
    with pg_schema_url() as store_url:
        yield store_url, f"{SHARED_REDIS}?prefix={unique_name('ramtest')}:"


def test_from_env_builds_a_runtime_on_postgres_and_redis(urls: tuple[str, str]) -> None:
    store_url, guard_url = urls
    env = {
        "RAM_STORE_URL": store_url + "&ram_max_staleness=2",
        "RAM_GUARD_URL": guard_url,
        "RAM_MASTER_KEY": MASTER_KEY,
        "RAM_TOKEN_KEYS": TOKEN_KEY,
        "RAM_AUDIT": "memory:",
    }
    ram = build(RamConfig.from_env(env))
    try:
        assert isinstance(ram.store, PostgresStore) and ram.store.listening
        assert isinstance(ram.guard, RedisGuard)
        assert ram.blocking  # decisions may wait on the network: ASGI adapters run them in a thread
        account = ram.service.create_account().account_id
        assert ram.service.get_account(account).account_id == account
        assert ram.guard.claim(f"nonce:{account}", 60) and not ram.guard.claim(f"nonce:{account}", 60)
    finally:
        ram.close()


def test_token_keys_derive_from_the_master_key_for_a_postgres_store(urls: tuple[str, str]) -> None:
    store_url, guard_url = urls
    ram = build(
        RamConfig(store_url=store_url, guard_url=guard_url, master_keys=(MASTER_KEY,), audit="memory:")
    )
    try:
        issued = ram.tokens.issue(
            account_id="1234567890123456",
            role_name="r",
            role_id="300000000000000001",
            session_name="s",
            duration_seconds=900,
        )
        assert ram.tokens.verify(issued.access_key_id, issued.security_token).session_name == "s"
    finally:
        ram.close()
