"""Opening a SQLite store whose key file is lost while another process keeps the database locked.

The check that the database holds no secrets before a new key file is made must not take a locked file
for one without: the new key would open none of its secrets, and every secret made from then on would
need that new key instead of the old one.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.crypto import MasterKeyError
from ram_middleware.service import RamService
from ram_middleware.store import open_store


def _database_with_a_secret_and_no_key_file(tmp_path: Path) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path}/ram.db"
    service = RamService(open_store(url, env={}))
    account = service.create_account().account_id
    service.create_user(account, "app")
    service.create_access_key(account, "app")
    service.store.close()
    key_file = tmp_path / "ram.db.key"
    key_file.unlink()  # lost with a restored backup, a copied database, a tidy-up
    return url, key_file


def _locked_by_another_connection(path: Path) -> sqlite3.Connection:
    """A connection holding the file's lock against readers too, as an ``sqlite3`` shell in exclusive
    locking mode does (until it is closed)."""
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    raw.execute("PRAGMA locking_mode = EXCLUSIVE")
    raw.execute("BEGIN EXCLUSIVE")
    return raw


def test_the_lock_is_waited_out_and_the_lost_key_is_still_refused(tmp_path: Path) -> None:
    url, key_file = _database_with_a_secret_and_no_key_file(tmp_path)
    raw = _locked_by_another_connection(tmp_path / "ram.db")
    release = threading.Timer(1.0, raw.close)
    release.start()
    try:
        with pytest.raises(MasterKeyError):
            open_store(url, env={}, busy_budget=10.0)
    finally:
        release.join()
    assert not key_file.exists()


def test_a_lock_held_past_the_budget_is_store_busy_and_makes_no_key_file(tmp_path: Path) -> None:
    url, key_file = _database_with_a_secret_and_no_key_file(tmp_path)
    raw = _locked_by_another_connection(tmp_path / "ram.db")
    try:
        with pytest.raises(errors.StoreBusy):
            open_store(url, env={}, busy_budget=0.5)
        assert not key_file.exists()
    finally:
        raw.close()
    with pytest.raises(MasterKeyError):  # once the lock is gone: the lost key, as without one
        open_store(url, env={}, busy_budget=0.5)
    assert not key_file.exists()


def test_a_database_file_that_cannot_be_read_gets_no_key_file(tmp_path: Path) -> None:
    """A database still being copied into place (a restore): taken for one without secrets, it got a new
    key file, which the restored database was then opened with."""
    url, key_file = _database_with_a_secret_and_no_key_file(tmp_path)
    database = tmp_path / "ram.db"
    whole = database.read_bytes()
    database.write_bytes(whole[:50])  # the copy has not got past the header yet
    with pytest.raises(errors.ServiceUnavailable):
        open_store(url, env={})
    assert not key_file.exists()
    database.write_bytes(whole)  # the copy is done
    with pytest.raises(MasterKeyError):
        open_store(url, env={})
