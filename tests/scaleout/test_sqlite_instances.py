"""A uvicorn instance on a SQLite file (the guard on the same file, the default) while another process holds
the file's write lock for long: requests are refused within seconds, not queued until the lock is gone."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env, sign

pytestmark = [pytest.mark.slow]

HOLD = 12.0  # seconds the write lock is held: longer than any answer may take
BOUND = 5.0  # seconds within which every request must be answered (the guard's budget is 2 s)


def test_requests_get_503_within_seconds_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "ram.db"
    world = World(f"sqlite:///{path}")
    env = instance_env(f"sqlite:///{path}", "")
    del env["RAM_GUARD_URL"]  # the default: a SQLite guard on the store's file
    instance = Instance(env)
    key = world.user("reader", "dev")
    answers: list[tuple[str, int, float]] = []

    def send(who: str, method: str, target: str, signer: tuple[str, str]) -> None:
        began = time.monotonic()
        try:
            status = sign(method, target, signer).send(instance, timeout=HOLD + 10).status_code
        except httpx.HTTPError:
            status = 0
        answers.append((who, status, time.monotonic() - began))

    try:
        instance.start()
        assert call(instance, "GET", "/instances/i-1", key).status_code == 200
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # as an operator's sqlite3 shell or a long transaction would
        try:
            senders = [
                *(
                    threading.Thread(target=send, args=("reader", "GET", f"/instances/i-{i}", key))
                    for i in range(4)
                ),
                threading.Thread(
                    target=send, args=("admin", "POST", "/admin/users/reader/delete", world.admin)
                ),
            ]
            for sender in senders:
                sender.start()
            until = time.monotonic() + HOLD
            for sender in senders:
                sender.join(timeout=max(0.0, until - time.monotonic()))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for sender in senders:
            sender.join()
        assert sorted((who, status) for who, status, _ in answers) == [("admin", 503)] + [("reader", 503)] * 4
        assert max(seconds for _, _, seconds in answers) < BOUND
        # The lock is gone: the same requests succeed again, and the refused delete did nothing.
        assert call(instance, "GET", "/instances/i-9", key).status_code == 200
    finally:
        instance.stop()
        world.close()
