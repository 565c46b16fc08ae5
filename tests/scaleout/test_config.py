"""``RamConfig`` names a PostgreSQL store and a Redis guard by URL, from code or the environment."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ram_middleware.config import RamConfig, build
from ram_middleware.guard_redis import RedisGuard
from ram_middleware.store.postgres import PostgresStore
from tests.scaleout.cluster import MASTER_KEY, TOKEN_KEY
from tests.scaleout.servers import (
    SHARED_PG,
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


def test_a_start_that_fails_after_opening_the_store_leaves_no_connection_or_thread_behind(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    store_url, guard_url = urls
    schema = store_url.rsplit("%3D", 1)[1]
    channel = "ram_changes_" + hashlib.sha256(schema.encode()).hexdigest()[:24]
    config = RamConfig(
        store_url=store_url,
        guard_url=guard_url,
        master_keys=(MASTER_KEY,),
        audit=str(tmp_path / "no/audit.log"),
    )
    for _ in range(3):  # a process that retries its start, as an app factory under a supervisor may
        with pytest.raises(FileNotFoundError):
            build(config)
    # The store's change listener (a thread, and a session named after its channel) is this test's alone.
    assert not [thread.name for thread in threading.enumerate() if thread.name == f"ram-listen-{channel}"]
    deadline = time.monotonic() + 5
    with psycopg.connect(SHARED_PG, autocommit=True) as conn:
        while True:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            (sessions,) = conn.execute(query, (f"ram-listen {channel}",)).fetchone() or (0,)
            if sessions == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert sessions == 0, "each failed start left its change listener's session open"
