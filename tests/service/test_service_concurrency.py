"""Acceptance: two processes writing one SQLite file at the same time lose nothing and see no error."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store

PER_PROCESS = 200


def create_users(url: str, key: str, acct: str, prefix: str, go: Barrier, results: Any) -> None:
    """Runs in a child process: create PER_PROCESS users as fast as possible, report any error.

    Both children meet at the barrier before the first write and again after it, so their write
    loops really run at the same time even when one child was scheduled late.
    """
    store = open_store(url, master_keys=[key])
    svc = RamService(store)
    problems: list[str] = []
    go.wait(timeout=60)
    began = time.time()
    for n in range(PER_PROCESS):
        try:
            svc.create_user(acct, f"{prefix}{n:03d}")
        except Exception as exc:  # the test asserts there are none; report rather than die
            problems.append(repr(exc))
        if n == 0:
            go.wait(timeout=60)
    results.put((prefix, problems, began, time.time()))
    store.close()


def test_two_processes_create_400_users_in_one_file(tmp_path: Path) -> None:
    url, key = f"sqlite:///{tmp_path}/ram.db", generate_key()
    setup = open_store(url, master_keys=[key])
    acct = RamService(setup).create_account().account_id
    setup.close()

    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=create_users, args=(url, key, acct, prefix, go, results)) for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    for prefix, problems, began, ended in reports:
        print(f"process {prefix}: {PER_PROCESS} users in {ended - began:.3f} s, errors: {len(problems)}")
        assert problems == []
    (_, _, began_a, ended_a), (_, _, began_b, ended_b) = reports
    overlap = min(ended_a, ended_b) - max(began_a, began_b)
    print(f"the two writers overlapped for {overlap:.3f} s")
    assert overlap > 0  # they really wrote at the same time

    check = open_store(url, master_keys=[key])
    try:
        svc = RamService(check)
        names: list[str] = []
        marker = None
        while True:
            page = svc.list_users(acct, marker=marker, max_items=1000)
            names += [u.user_name for u in page.items]
            if not page.is_truncated:
                break
            marker = page.marker
        assert sorted(names) == sorted(f"{p}{n:03d}" for p in ("a", "b") for n in range(PER_PROCESS))
        assert check.change_counter() == 1 + 2 * PER_PROCESS
    finally:
        check.close()
