"""A process killed inside a write transaction, and a disk that fills up under a SQLite store: a change
is whole or absent, and the store goes on once the cause is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.cluster import MASTER_KEY, REPO, instance_env
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

from .backends import expect_code


@contextlib.contextmanager
def _store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/ram.db"
        return
    require_shared_postgres()
    with pg_schema_url() as url:
        yield url


_KILLED_INSIDE = """
import time
from ram_middleware.service import RamService
from ram_middleware.store import open_store
svc = RamService(open_store({url!r}, master_keys=[{key!r}], env={{}}))
with svc.store.write():
    svc.delete_user({account!r}, "bob", force=True)
    svc.create_user({account!r}, "carol")
    print("inside", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_process_killed_inside_a_forced_delete_user_leaves_all_of_it(kind: str, tmp_path: Path) -> None:
    with _store_url(kind, tmp_path) as url:
        svc = RamService(open_store(url, master_keys=[MASTER_KEY], env={}))
        try:
            account = svc.create_account().account_id
            svc.create_user(account, "bob")
            svc.create_group(account, "ops")
            svc.add_user_to_group(account, "ops", "bob")
            key_id = svc.create_access_key(account, "bob").key.access_key_id
            svc.attach_policy_to_user(account, "System", "AdministratorAccess", "bob")
            code = _KILLED_INSIDE.format(url=url, key=MASTER_KEY, account=account)
            child = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=REPO, env=instance_env(url, "memory://"), stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                assert child.stdout is not None and child.stdout.readline().strip() == "inside"
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(10)
            assert [u.user_name for u in svc.list_users(account).items] == ["bob"]
            assert [k.access_key_id for k in svc.list_access_keys(account, "bob")] == [key_id]
            assert [j.group.group_name for j in svc.list_groups_for_user(account, "bob")] == ["ops"]
            assert [p.entity.policy_name for p in svc.list_policies_for_user(account, "bob")] == [
                "AdministratorAccess"
            ]
            began = time.monotonic()
            svc.create_user(account, "dave")  # the killed process's lock is gone with it
            assert time.monotonic() - began < 2.0
        finally:
            svc.store.close()


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs at ``path`` (root only; skipped elsewhere)."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)


def test_a_full_disk_fails_the_write_cleanly_and_the_store_goes_on(tmp_path: Path) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        store = open_store(f"sqlite:///{disk}/ram.db", env={})
        svc = RamService(store)
        try:
            account = svc.create_account().account_id
            svc.create_user(account, "before")
            _fill(disk / "filler")
            with expect_code("ServiceUnavailable.Store"):
                for n in range(50):  # a few may still fit in pages already allocated
                    svc.create_user(account, f"user{n}", comments="x" * 128)
            written = [u.user_name for u in svc.list_users(account).items]  # reads go on
            (disk / "filler").unlink()
            svc.create_user(account, "after")
            assert [u.user_name for u in svc.list_users(account).items] == sorted([*written, "after"])
        finally:
            store.close()
        check = sqlite3.connect(disk / "ram.db")
        try:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            check.close()
