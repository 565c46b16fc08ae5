"""How long ``ram apply`` holds the store's write lock: new console passwords are hashed before its
transaction opens.

Runs on SQLite and on PostgreSQL (a schema of its own; skipped without a server, failed under CI=true).
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from ram_middleware import errors
from ram_middleware.credentials.password import hash_password
from ram_middleware.service import RamService
from ram_middleware.store import SqliteStore, Store, sqlite_path

from .conftest import Ram, write_json

BOUND = 0.5  # how long a request-path write of another instance waits for the write lock, in seconds


def hashes_that_take(seconds: float) -> int:
    """How many new console logons take ``seconds`` to hash on this machine (at least 6)."""
    began = time.monotonic()
    hash_password("Aa1!calibration")
    return max(6, math.ceil(seconds / (time.monotonic() - began)))


def console_users(count: int) -> dict[str, object]:
    return {
        "Groups": [{"GroupName": "staff"}],
        "Users": [{"UserName": f"new{i}", "Console": True, "Groups": ["staff"]} for i in range(count)],
    }


def another_instance(url: str, store: Store) -> Store:
    """The same store opened again (another instance) whose request-path writes wait ``BOUND`` at most."""
    if url.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(url), box=store.box, request_budget=BOUND)
    from ram_middleware.store.postgres import PostgresStore, split_store_options  # the postgres extra

    return PostgresStore(split_store_options(url)[0], box=store.box, read_timeout=BOUND, listen=False)


def test_console_logons_elsewhere_are_not_refused_while_many_new_console_logons_are_applied(
    store_ram: Ram, tmp_path: Path
) -> None:
    # Hashing them all takes 4 times as long as a logon's bookkeeping write waits for the lock: inside the
    # transaction, that write would be refused (503); outside it, the transaction is store work only.
    count = hashes_that_take(4 * BOUND)
    path = write_json(tmp_path / "o.json", console_users(count))
    other = RamService(another_instance(store_ram.url, store_ram.service.store))
    refused: list[errors.RAMError] = []
    logons = 0
    applying = threading.Event()

    def log_on_meanwhile() -> None:
        nonlocal logons
        while applying.is_set():
            try:
                other.record_logon(store_ram.account_id, "A")  # what a console logon writes
                logons += 1
            except errors.RAMError as exc:
                refused.append(exc)
            time.sleep(0.01)

    applying.set()
    meanwhile = threading.Thread(target=log_on_meanwhile)
    meanwhile.start()
    try:
        applied = store_ram.json("apply", path, "--yes")
    finally:
        applying.clear()
        meanwhile.join()
        other.store.close()
    assert refused == [] and logons > 0
    assert applied["Failed"] is None and len(applied["Secrets"]) == count
    assert store_ram.json("apply", path, "--yes") == {"Plan": [], "Applied": []}
