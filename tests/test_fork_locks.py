"""A process forked while a thread of its parent holds a request-path lock (the directory's, the memory
guard's, the route cache's) does not hang on it: the child gets locks of its own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ram_middleware import forks
from ram_middleware.adapters.starlette import _RuleCache
from ram_middleware.guard import MemoryGuard
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory
from tests.forking import fork

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


@contextmanager
def _held_by_another_thread(owner: forks.LockOwner) -> Iterator[None]:
    """A thread of this process holds ``owner``'s lock for the block (as one mid-request would at a fork)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with owner._lock:
            taken.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


def _in_child_while_held(owner: forks.LockOwner, work: Callable[[], object]) -> object:
    with _held_by_another_thread(owner):
        return fork(work).result(timeout=10.0)  # before: the child hung on the inherited lock


def test_the_directory_answers_in_the_child(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    try:
        svc = RamService(store)
        account = svc.create_account().account_id
        svc.create_user(account, "alice")
        key = svc.create_access_key(account, "alice").key.access_key_id
        directory = Directory(store)

        def child() -> list[str]:
            found = directory.signing_key(key)  # a cold lookup: remembered under the lock
            assert found is not None
            return [found.principal.name, directory.principal_for_user(account, "alice").name]

        assert _in_child_while_held(directory, child) == ["alice", "alice"]
        directory.close()
    finally:
        store.close()


def test_the_memory_guard_answers_in_the_child() -> None:
    guard = MemoryGuard()
    assert guard.claim("nonce:1", 60)

    def child() -> list[bool]:  # the child has its copy: the parent's claim is there, a new one is its own
        return [guard.claim("nonce:1", 60), guard.claim("nonce:2", 60)]

    assert _in_child_while_held(guard, child) == [False, True]
    assert guard.claim("nonce:2", 60)  # the parent never saw the child's claim


def test_the_route_cache_answers_in_the_child() -> None:
    cache = _RuleCache()
    route = object()  # a route with no endpoint has no rule; the lookup is remembered all the same
    assert _in_child_while_held(cache, lambda: cache.rule(route, "GET") == (None, ())) is True
