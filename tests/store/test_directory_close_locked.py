"""Closing a Directory (a server stopping) while another process holds the SQLite store's write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ram_middleware.service import RamService
from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory


def test_the_last_used_write_at_close_waits_no_longer_than_a_request_path_write(tmp_path: Path) -> None:
    """Before: close() waited out the 30 s administrative budget for the lock (a server stopping while a
    long `ram apply`, an sqlite3 shell or a backup held it took half a minute to exit)."""
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "app")
    key_id = svc.create_access_key(account, "app").key.access_key_id
    directory = Directory(store, flush_interval=3600)
    directory.note_key_used(key_id, datetime.now(UTC))
    holder = sqlite3.connect(tmp_path / "ram.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(15.0, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        began = time.monotonic()
        directory.close()
        assert time.monotonic() - began < 5.0
    finally:
        release.cancel()
        holder.close()
    try:
        svc.create_user(account, "later")  # the store goes on once the lock is gone
    finally:
        store.close()
