"""A store opened before ``fork()`` (gunicorn --preload, multiprocessing's 'fork'): the child and its parent
both keep working, each on connections of its own, and the child still notices other processes' writes
well within the staleness bound."""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory
from tests.forking import fork
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

READ_FOR = 0.8  # seconds the parent and the child read side by side
KEY = generate_key()


def _read(store: Store, account: str, name: str, seconds: float) -> dict[str, int]:
    """Read user ``name`` for ``seconds``; how many answers were right, wrong (another row) or errors."""
    outcome: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with store.read() as repo:
                user = repo.get_user(account, name)
        except Exception as exc:
            outcome[f"{type(exc).__name__}: {exc}"[:120]] += 1
            continue
        outcome["right" if user is not None and user.user_name == name else f"wrong: {user}"[:120]] += 1
    return dict(outcome)


def test_a_forked_child_and_its_parent_each_read_their_own_rows(store: Store) -> None:
    svc = RamService(store)
    account = svc.create_account().account_id
    for name in ("alice", "bob"):
        svc.create_user(account, name)
    _read(store, account, "alice", 0.05)  # pooled connections exist when the fork happens

    def child_work() -> dict[str, int]:
        outcome = _read(store, account, "bob", READ_FOR)
        store.close()  # as a worker does when it shuts down: must not take the parent's connections along
        return outcome

    child = fork(child_work)
    in_parent = _read(store, account, "alice", READ_FOR)
    in_child = child.result()
    assert set(in_parent) == {"right"}, in_parent
    assert set(in_child) == {"right"}, in_child
    # The parent goes on as before once its child has gone.
    assert set(_read(store, account, "alice", 0.1)) == {"right"}


def test_a_forked_child_notices_at_once_a_key_its_parent_disabled(store: Store) -> None:
    if store.url.startswith("memory://"):
        pytest.skip("a memory:// store is per process: a forked child works on a copy no other writes reach")
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "u")
    key = svc.create_access_key(account, "u").key.access_key_id
    directory = Directory(store)  # built before the fork, as an app preloaded by the server is
    found = directory.signing_key(key)
    assert found is not None and found.status == "Active"

    def watch() -> dict[str, Any]:
        failures: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + 6.0  # past the 5 s staleness bound
        while time.monotonic() < deadline:
            try:
                current = directory.signing_key(key)
            except Exception as exc:
                failures[type(exc).__name__] += 1
            else:
                if current is None or current.status != "Active":
                    return {"seen_at": time.monotonic(), "failures": failures}
            time.sleep(0.002)
        return {"seen_at": None, "failures": failures}

    child = fork(watch)
    time.sleep(0.3)  # the child is serving meanwhile
    disabled_at = time.monotonic()  # CLOCK_MONOTONIC: one clock for both processes
    svc.update_access_key(account, key, "Inactive", user_name="u")
    after = directory.signing_key(key)
    assert after is not None and after.status == "Inactive"  # the parent knows at once, as before
    outcome = child.result()
    assert outcome["seen_at"] is not None, f"the child never noticed the key was disabled: {outcome}"
    lag = outcome["seen_at"] - disabled_at
    print(f"\nforked child noticed the disabled key after {lag * 1000:.0f} ms")
    # The Directory checks the store every 0.5 s; the staleness bound is 5 s.
    assert lag < 1.0, outcome
    assert not outcome["failures"], outcome


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL other processes can open too."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ram.db"
        return
    require_shared_postgres()
    with pg_schema_url() as url:
        yield url


def _a_key_served(store: Store) -> tuple[RamService, str, str, Directory]:
    """User ``u`` of a new account with an AccessKey, which a Directory on ``store`` has served (its
    snapshot holds it)."""
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "u")
    key = svc.create_access_key(account, "u").key.access_key_id
    directory = Directory(store)
    found = directory.signing_key(key)
    assert found is not None and found.status == "Active"
    return svc, account, key, directory


def test_a_forked_child_goes_on_after_its_parent_closed_the_store(shared_url: str) -> None:
    # multiprocessing's parent often opens the store, forks its workers and is done with it. SQLite keeps
    # lock records per file and process: a child still on its parent's records holds no lock of its own,
    # so the parent's close checkpoints and deletes the WAL under it.
    store = open_store(shared_url, master_keys=[KEY], env={})
    svc, account, key, directory = _a_key_served(store)

    def child_work() -> dict[str, Any]:
        seen_at = None
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            current = directory.signing_key(key)
            if current is None or current.status != "Active":
                seen_at = time.monotonic()
                break
            time.sleep(0.005)
        svc.create_user(account, "written-by-the-child")
        store.close()
        return {"seen_at": seen_at}

    child = fork(child_work)
    time.sleep(0.3)
    store.close()
    other = open_store(shared_url, master_keys=[KEY], env={})  # another process's instance
    try:
        disabled_at = time.monotonic()
        RamService(other).update_access_key(account, key, "Inactive", user_name="u")
        outcome = child.result()
        assert outcome["seen_at"] is not None, "the child never noticed the key was disabled"
        assert outcome["seen_at"] - disabled_at < 1.0
        with other.read() as repo:  # what the child wrote is in the database, not in a deleted file
            assert repo.get_user(account, "written-by-the-child") is not None
    finally:
        other.close()


def test_a_forked_child_refuses_at_once_a_key_disabled_after_the_fork(shared_url: str) -> None:
    # The parent had served the key (its snapshot holds it) and forks a worker, which inherits the snapshot
    # and the time of the parent's last change check. A key disabled once the fork is done must be refused by
    # the worker's very next request, not served from that snapshot until the parent's check falls due.
    store = open_store(shared_url, master_keys=[KEY], env={})
    try:
        svc, account, key, directory = _a_key_served(store)
        go, told = os.pipe()

        def child_work() -> str | None:
            os.close(told)
            os.read(go, 1)  # the parent's write has returned
            current = directory.signing_key(key)
            return None if current is None else current.status

        child = fork(child_work)
        os.close(go)
        svc.update_access_key(account, key, "Inactive", user_name="u")
        os.write(told, b"x")
        os.close(told)
        assert child.result() == "Inactive"
    finally:
        store.close()
