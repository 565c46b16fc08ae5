"""A SQLite store that cannot be opened says which file and why, at open: not a database, corrupted, a
directory, read-only. Before, each of them was "The identity store failed (DatabaseError)", naming neither."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from .backends import expect_code

KEY = generate_key()


def _database(directory: Path) -> Path:
    """A database of a few hundred users (many pages), closed (its WAL checkpointed into the file)."""
    directory.mkdir(exist_ok=True)
    path = directory / "ram.db"
    store = open_store(f"sqlite:///{path}", master_keys=[KEY], env={})
    try:
        svc = RamService(store)
        account = svc.create_account().account_id
        svc.create_user(account, "alice")
        svc.create_access_key(account, "alice")
        with store.write():
            for n in range(300):
                svc.create_user(account, f"user{n}", comments="c" * 120)
    finally:
        store.close()
    return path


def _refused(path: Path, *, key: bool = True) -> str:
    with expect_code("ServiceUnavailable.Store") as caught:
        open_store(f"sqlite:///{path}", master_keys=[KEY] if key else None, env={})
    assert caught.error is not None
    message = caught.error.message
    assert str(path) in message
    return message


@pytest.mark.parametrize("key", [True, False], ids=["with-key", "key-file-check"])
def test_a_file_that_is_not_a_database(tmp_path: Path, key: bool) -> None:
    path = tmp_path / "ram.db"
    path.write_text("ACCOUNT,USER\n" * 200)  # e.g. the wrong file named in RAM_STORE_URL
    assert "file is not a database" in _refused(path, key=key)


def test_a_truncated_database(tmp_path: Path) -> None:
    path = _database(tmp_path / "db")
    path.write_bytes(path.read_bytes()[: 3 * 4096])
    assert "restore it from a backup" in _refused(path)


def test_a_directory_where_the_database_file_should_be(tmp_path: Path) -> None:
    path = tmp_path / "ram.db"
    path.mkdir()
    assert "it must be a file" in _refused(path)


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """``directory`` and its files read-only for this process: a read-only mount as root (who may write
    to any file), else the files' and directory's modes."""
    if os.geteuid() != 0:
        for file in directory.iterdir():
            file.chmod(0o400)
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    saved = directory.with_name(directory.name + ".saved")
    shutil.copytree(directory, saved)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(directory)], check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(saved, directory, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def test_a_read_only_database(tmp_path: Path) -> None:
    path = _database(tmp_path / "db")
    with _read_only(path.parent):
        message = _refused(path)
    assert "write to" in message


def test_a_database_corrupted_past_its_schema_fails_each_call_and_the_log_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Damage past the pages read at open shows at the first call that reads it: 503 to the caller (no
    path, no cause), and the server log names the file and SQLite's reason. Before, the log said nothing:
    the operator saw 503s without a cause, whether the disk was full, failing or the file corrupted."""
    path = _database(tmp_path / "db")
    damaged = bytearray(path.read_bytes())
    damaged[5 * 4096 : 12 * 4096] = b"\x5a" * (7 * 4096)
    path.write_bytes(bytes(damaged))
    store = open_store(f"sqlite:///{path}", master_keys=[KEY], env={})
    try:
        svc = RamService(store)
        with expect_code("ServiceUnavailable.Store") as caught, caplog.at_level("ERROR"):
            for account in svc.list_accounts():
                svc.list_users(account.account_id)
    finally:
        store.close()
    assert caught.error is not None and str(path) not in caught.error.message
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(str(path) in line and "malformed" in line for line in logged), logged


@pytest.mark.parametrize("url", ["sqlite", "memory://"])
def test_a_sqlite_library_older_than_the_sql_needs_is_named_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """The store's SQL needs SQLite 3.35 (RETURNING, DROP COLUMN); Python links the system's library, older
    on some long-term distributions. Before, a new database failed its migration with 'near "DROP": syntax
    error' (and one migrated elsewhere failed each write): now the start says which version is needed."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with expect_code("ServiceUnavailable.Store") as caught:
        open_store(f"sqlite:///{tmp_path}/ram.db" if url == "sqlite" else url, master_keys=[KEY], env={})
    assert caught.error is not None and "SQLite 3.35" in caught.error.message
    assert "3.31.1" in caught.error.message
