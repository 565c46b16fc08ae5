"""A SQLite store backed up as the README says (``sqlite3 ram.db ".backup …"``) while a process writes to
it, and restored with its key file elsewhere or in place (``.restore``, over the WAL a killed writer left;
a copy over ``ram.db`` would have that WAL replayed onto it): the copy is whole, its secrets open with the
key file, its passwords verify, and it takes writes."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from ram_middleware.config import RamConfig, build
from ram_middleware.service import RamService
from ram_middleware.service.results import NewAccessKey
from ram_middleware.store import open_store
from tests.signatures.signing import signed

from .test_store_killed_writer import start_writer, writers_account
from .test_store_unopenable import KEY


def _shell(database: Path, command: str, copy: Path) -> None:
    """The README's ``sqlite3 ram.db ".backup copy"`` or ``".restore copy"``; without the sqlite3 shell, the
    same online backup API from Python."""
    shell = shutil.which("sqlite3")
    if shell is not None:
        subprocess.run([shell, str(database), f".{command} '{copy}'"], check=True, timeout=30)
        return
    with closing(sqlite3.connect(database)) as live, closing(sqlite3.connect(copy)) as other:
        live.backup(other) if command == "backup" else other.backup(live)


def _users(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {row[0] for row in raw.execute("SELECT user_id FROM ram_users")}


def _check_restored(url: str, main: str, made: NewAccessKey) -> None:
    """Its secrets open with the key file beside it, its passwords verify, it takes writes."""
    ram = build(RamConfig(store_url=url, audit="memory:"))
    try:
        facts = signed(access_key_id=made.key.access_key_id, secret=made.secret, when=datetime.now(UTC))
        principal = ram.authenticator.authenticate(facts)
        assert principal is not None and principal.arn.endswith(":user/alice")
        assert ram.service.verify_login_password(main, "alice", "Al1ce!Passw0rd").user_name == "alice"
        ram.service.create_user(main, "after")
    finally:
        ram.close()


def test_a_backup_taken_while_a_process_writes_restores_with_its_key_file(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    (live / "ram.db.key").write_text(KEY + "\n")
    url = f"sqlite:///{live}/ram.db"
    main = writers_account(url)
    store = open_store(url, env={})  # the key from the key file, as a deployment has it
    try:
        svc = RamService(store)
        svc.create_user(main, "alice")
        made = svc.create_access_key(main, "alice")
        svc.create_login_profile(main, "alice", "Al1ce!Passw0rd")
    finally:
        store.close()
    writer = start_writer(url, main, 0)
    try:
        copies = []
        for n in range(3):
            time.sleep(0.15)  # into the writer's next organisation, password or device
            copies.append(tmp_path / f"backup{n}.db")
            _shell(live / "ram.db", "backup", copies[-1])
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    for n, copy in enumerate(copies):  # restored elsewhere, with the key file
        restored = tmp_path / f"restored{n}"
        restored.mkdir()
        shutil.copyfile(copy, restored / "ram.db")
        shutil.copyfile(live / "ram.db.key", restored / "ram.db.key")
        assert _users(restored / "ram.db") == _users(copy)
        _check_restored(f"sqlite:///{restored}/ram.db", main, made)
    # In place, over the killed writer's WAL: .restore, not a copy, which would have the WAL replayed on it.
    assert (live / "ram.db-wal").stat().st_size > 0
    _shell(live / "ram.db", "restore", copies[0])
    assert _users(live / "ram.db") == _users(copies[0])
    _check_restored(url, main, made)
