"""Two processes × 200 concurrent admin writes against one PostgreSQL store: nothing lost, limits hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.cluster import MASTER_KEY, REPO, instance_env
from tests.scaleout.servers import pg_schema_url, require_shared_postgres
from tests.scaleout.writer import KEYS, USERS, VICTIMS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_processes_of_200_concurrent_writes_lose_nothing() -> None:
    require_shared_postgres()
    with pg_schema_url() as url:
        store = open_store(url, master_keys=[MASTER_KEY])
        svc = RamService(store)
        try:
            account = svc.create_account().account_id
            svc.create_group(account, "shared")
            svc.create_user(account, "app")
            for k in range(VICTIMS):
                svc.create_user(account, f"victim{k}")
            before = store.change_counter()

            env = instance_env(url, "memory://")
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.scaleout.writer", url, account, tag, role],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for tag, role in (("p1", "adder"), ("p2", "deleter"))
            ]
            results = []
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err[-3000:]
                results.append(json.loads(out.strip().splitlines()[-1]))
            elapsed = time.perf_counter() - started
            outcomes: Counter[str] = Counter()
            for result in results:
                assert result["attempted"] == 2 * USERS + KEYS + VICTIMS == 200
                outcomes.update(result["outcomes"])
            announced = sum(r["announced"] for r in results)
            print(
                f"\n2 processes x 200 writes in {elapsed:.2f} s (incl. start-up); outcomes {dict(outcomes)}"
            )

            # Every own write succeeded; the only failures are the ones the races and the quota call for.
            assert outcomes["create_user:ok"] == outcomes["add_to_group:ok"] == 2 * USERS
            assert outcomes["create_key:ok"] == 2
            assert outcomes["create_key:LimitExceeded.User.AccessKey"] == 2 * KEYS - 2
            assert outcomes["victim_delete:ok"] == VICTIMS
            added = outcomes["victim_add:ok"]
            assert added + outcomes["victim_add:EntityNotExist.User"] == VICTIMS
            assert sum(outcomes.values()) == 400

            # The database agrees: nothing lost, nothing half-done, and every commit counted exactly once.
            assert store.change_counter() - before == announced == 4 * USERS + 2 + VICTIMS + added
            with store.read() as repo:
                assert repo.count_users(account) == 2 * USERS + 1
                group = repo.get_group(account, "shared")
                assert group is not None and repo.count_members(group.group_id) == 2 * USERS
                app = repo.get_user(account, "app")
                assert app is not None and len(repo.list_access_keys(account, app.user_id)) == 2
                assert all(repo.get_user(account, f"victim{k}") is None for k in range(VICTIMS))
        finally:
            svc.directory.close()
            store.close()


def test_writer_processes_get_no_proxy_or_stray_ram_settings() -> None:
    env = instance_env("postgresql://x/y", "memory://")
    assert env["RAM_STORE_URL"] == "postgresql://x/y"
    assert not any("proxy" in name.lower() and name != "NO_PROXY" for name in env)
    assert str(REPO) in env["PYTHONPATH"].split(os.pathsep)
