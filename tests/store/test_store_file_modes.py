"""Files and directories ram-middleware creates are its owner's alone, whatever the umask: the database
(password hashes, ciphertexts), its key file, a guard's own database (the logons' failure counters by user
name, logouts), and the directories made for them (whoever may write there may swap the files)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.guard import SqliteGuard, open_guard
from ram_middleware.service import RamService
from ram_middleware.store import open_store


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that leaves new files group-writable and new directories open to the group (0o002)."""
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def _modes(directory: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}


@pytest.mark.usefixtures("permissive_umask")
def test_a_separate_sqlite_guard_database_is_owner_only(tmp_path: Path) -> None:
    guard = open_guard(f"sqlite:///{tmp_path}/guard.db")
    assert isinstance(guard, SqliteGuard)
    try:
        assert guard.claim("nonce:a", 60)
        assert guard.incr("logon:1234567890123456:alice", 60).value == 1
        modes = _modes(tmp_path)
    finally:
        guard.close()
    assert {"guard.db", "guard.db-wal", "guard.db-shm"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)


@pytest.mark.usefixtures("permissive_umask")
def test_the_directories_made_for_the_store_and_guard_are_owner_only(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/data/ram.db", env={})
    try:
        RamService(store).create_account()
    finally:
        store.close()
    guard = open_guard(f"sqlite:///{tmp_path}/guard/guard.db")
    assert isinstance(guard, SqliteGuard)
    guard.close()
    assert _modes(tmp_path) == {"data": 0o700, "guard": 0o700}
    assert _modes(tmp_path / "data") == {"ram.db": 0o600, "ram.db.key": 0o600}
