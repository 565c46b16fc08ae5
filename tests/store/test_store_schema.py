"""Schema versioning, SQLite settings, URLs and the SQL dialect seam."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import stat
import threading
import time
from contextlib import ExitStack, closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ram_middleware.credentials.password import PasswordPolicy, hash_password
from ram_middleware.crypto import generate_key
from ram_middleware.identity import Account, SessionRevocation, User
from ram_middleware.service import RamService
from ram_middleware.store import SqliteStore, Store, StoreFailure, open_store, sql, sqlite_path
from ram_middleware.store.dialect import POSTGRES, SQLITE, Dialect
from ram_middleware.store.schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from ram_middleware.store.sql_base import to_ts
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

from .backends import expect_code

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
ACCOUNT = "1234567890123456"
CURRENT, EARLIER = "Str0ng!Passw0rd", "An0ther!Secret9"


def test_fresh_store_is_at_the_latest_schema_version(store: Store) -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1
    assert store.schema_version() == SCHEMA_VERSION
    assert store.change_counter() == 0


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    first = open_store(url, env={})
    with first.write() as repo:
        repo.insert_account(Account("1234567890123456", "acme", NOW))
    first.close()
    second = open_store(url, env={})
    try:
        assert second.schema_version() == SCHEMA_VERSION
        assert second.change_counter() == 1
        with second.read() as repo:
            assert repo.get_account("1234567890123456") == Account("1234567890123456", "acme", NOW)
    finally:
        second.close()
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw:
        rows = raw.execute("SELECT version FROM ram_schema_version").fetchall()
    assert rows == [(SCHEMA_VERSION,)]


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    open_store(url, env={}).close()
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw, raw:
        raw.execute("UPDATE ram_schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with expect_code("ServiceUnavailable.Store") as caught:
        open_store(url, env={})
    assert caught.error is not None and f"version {SCHEMA_VERSION + 1}" in caught.error.message


def test_opening_a_current_file_does_not_wait_for_another_connections_write_lock(tmp_path: Path) -> None:
    # As a process starting while an sqlite3 shell or a long transaction holds the lock: it serves reads.
    url = f"sqlite:///{tmp_path}/ram.db"
    first = open_store(url, env={})
    with first.write() as repo:
        repo.insert_account(Account("1234567890123456", "acme", NOW))
    first.close()
    with closing(sqlite3.connect(tmp_path / "ram.db", isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        store = open_store(url, env={}, busy_budget=5.0)
        opened_after = time.monotonic() - began
        try:
            with store.read() as repo:
                assert repo.get_account("1234567890123456") == Account("1234567890123456", "acme", NOW)
            assert store.schema_version() == SCHEMA_VERSION
        finally:
            store.close()
            holder.execute("ROLLBACK")
    assert opened_after < 2.0


def _open_fresh(url: str, key: str, go: Any, results: Any) -> None:
    """Runs in a child process: open the store when every sibling is ready, report its version or error."""
    go.wait(timeout=60)
    try:
        store = open_store(url, master_keys=[key])
        try:
            results.put(store.schema_version())
        finally:
            store.close()
    except Exception as exc:  # the test asserts there are none; report rather than die
        results.put(repr(exc))


def test_processes_opening_a_new_file_together_all_succeed_with_one_schema(tmp_path: Path) -> None:
    path, key, count = tmp_path / "ram.db", generate_key(), 6
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Barrier(count), ctx.Queue()
    url = f"sqlite:///{path}"
    workers = [ctx.Process(target=_open_fresh, args=(url, key, go, results)) for _ in range(count)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert reports == [SCHEMA_VERSION] * count
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT version FROM ram_schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert raw.execute("SELECT id, counter FROM ram_changes").fetchall() == [(1, 0)]


def test_an_older_schema_is_migrated_once_the_write_lock_is_free(tmp_path: Path) -> None:
    path = tmp_path / "ram.db"
    with closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as old:
        old.execute("PRAGMA journal_mode = WAL")  # as the store leaves every file
        old.execute(SQLITE.sql(VERSION_TABLE))
        old.execute("INSERT INTO ram_schema_version (version) VALUES (?)", (SCHEMA_VERSION - 1,))
        for migration in MIGRATIONS[: SCHEMA_VERSION - 1]:
            for statement in migration:
                old.execute(SQLITE.sql(statement))
        # Migrating needs the write lock: the open waits for it (within busy_budget), then migrates.
        old.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.5, old.execute, ("ROLLBACK",))
        release.start()
        began = time.monotonic()
        store = open_store(f"sqlite:///{path}", env={}, busy_budget=10.0)
        waited = time.monotonic() - began
        release.join()
    try:
        assert waited >= 0.4
        assert store.schema_version() == SCHEMA_VERSION
        with store.write() as repo:
            repo.insert_account(Account("1234567890123456", "acme", NOW))
        assert store.change_counter() == 1
    finally:
        store.close()


def test_sqlite_file_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    try:
        with closing(sqlite3.connect(tmp_path / "ram.db")) as raw:
            mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        with pytest.raises(StoreFailure), store.write() as repo:
            # No such account: the foreign key refuses the orphan.
            repo.insert_user(User("9999999999999999", "1", "ghost", create_date=NOW, update_date=NOW))
        with store.read() as repo:
            assert repo.get_user_by_id("1") is None
    finally:
        store.close()


def test_memory_store_enforces_foreign_keys_too() -> None:
    store = open_store("memory://", env={})
    try:
        with pytest.raises(StoreFailure), store.write() as repo:
            repo.insert_user(User("9999999999999999", "1", "ghost", create_date=NOW, update_date=NOW))
    finally:
        store.close()


def test_memory_stores_are_independent() -> None:
    one, two = open_store("memory://", env={}), open_store("memory://", env={})
    try:
        with one.write() as repo:
            repo.insert_account(Account("1234567890123456", None, NOW))
        with two.read() as repo:
            assert repo.list_accounts() == []
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("memory://", None),
        ("sqlite:///ram.db", "ram.db"),
        ("sqlite:///data/ram.db", "data/ram.db"),
        ("sqlite:////var/lib/ram.db", "/var/lib/ram.db"),
        ("sqlite://", "ram.db"),
        ("sqlite:///", "ram.db"),
    ],
)
def test_store_urls(url: str, path: str | None) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["mysql://x/y", "ram.db"])
def test_unsupported_store_urls(url: str) -> None:
    with expect_code("InvalidParameter.StoreUrl"):
        open_store(url, env={})


def test_a_shared_store_needs_an_explicit_master_key() -> None:
    # Every instance must decrypt the same secrets, so no key file or throwaway key is made up.
    with expect_code("ServiceUnavailable.MasterKey"):
        open_store("postgresql://127.0.0.1:5432/test", env={})


def test_open_store_returns_the_sqlite_backend_with_its_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sub/dir/ram.db"
    store = open_store(url, env={})
    try:
        assert isinstance(store, SqliteStore)
        assert store.url == url
        assert (tmp_path / "sub" / "dir" / "ram.db").exists()
    finally:
        store.close()


def test_settings_upsert_replaces_the_value(store: Store) -> None:
    with store.write() as repo:
        repo.insert_account(Account("1234567890123456", None, NOW))
        repo.put_setting("1234567890123456", "k", "one")
        repo.put_setting("1234567890123456", "k", "two")
    with store.read() as repo:
        assert repo.get_setting("1234567890123456", "k") == "two"
        assert repo.get_setting("1234567890123456", "other") is None


def test_dialects_spell_placeholders_autoincrement_and_upserts() -> None:
    text = "INSERT INTO t (id, a) VALUES (?, ?)"
    assert SQLITE.sql(text) == text
    assert POSTGRES.sql(text) == "INSERT INTO t (id, a) VALUES (%s, %s)"
    assert POSTGRES.sql("CREATE TABLE t (id {autoinc})") == (
        "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)"
    )
    assert (
        SQLITE.sql("CREATE TABLE t (id {autoinc})") == "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)"
    )
    assert POSTGRES.upsert("s", ("k", "v"), ("k",), ("v",)) == (
        "INSERT INTO s (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    )
    assert SQLITE.upsert("s", ("k",), ("k",), ()) == "INSERT INTO s (k) VALUES (?) ON CONFLICT (k) DO NOTHING"


def test_every_migration_statement_is_valid_sqlite_after_translation() -> None:
    with closing(sqlite3.connect(":memory:")) as raw:
        for migration in MIGRATIONS:
            for statement in migration:
                raw.execute(SQLITE.sql(statement))
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "ram_users",
        "ram_groups",
        "ram_roles",
        "ram_access_keys",
        "ram_mfa_devices",
        "ram_password_history",
        "ram_changes",
    } <= tables


def _create_version_1(conn: Any, dialect: Dialect) -> None:
    """Build the schema as version 1 left it (on a raw connection, inside the caller's transaction)."""
    conn.execute(dialect.sql(VERSION_TABLE))
    conn.execute(dialect.sql("INSERT INTO ram_schema_version (version) VALUES (1)"))
    for statement in MIGRATIONS[0]:
        conn.execute(dialect.sql(statement))


def _version_1_login_profile(conn: Any, dialect: Dialect, current: str, earlier: list[str]) -> None:
    """Account 1234567890123456 with user carol (UserId 1) whose version-1 login profile has ``current``
    as its hash and ``earlier`` as its password history."""
    stamp = to_ts(NOW)
    for text, params in (
        ("INSERT INTO ram_accounts (account_id, alias, create_date) VALUES (?, NULL, ?)", (ACCOUNT, stamp)),
        (
            "INSERT INTO ram_users (user_id, account_id, user_name, name_key, display_name, email, "
            "mobile_phone, comments, create_date, update_date) VALUES (?, ?, ?, ?, '', '', '', '', ?, ?)",
            ("1", ACCOUNT, "carol", "carol", stamp, stamp),
        ),
        (
            "INSERT INTO ram_login_profiles (account_id, subject, user_id, password_hash, password_history, "
            "reset_required, mfa_bind_required, create_date, update_date, password_changed_date) "
            "VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
            (ACCOUNT, "1", "1", current, json.dumps(earlier), stamp, stamp, stamp),
        ),
    ):
        conn.execute(dialect.sql(text), params)


def _check_migrated_history(store: Store) -> None:
    """The version-1 history is the user's now: it outlives the login profile, then goes with the user."""
    assert store.schema_version() == SCHEMA_VERSION
    svc = RamService(store)
    svc.set_password_policy(ACCOUNT, PasswordPolicy(password_reuse_prevention=2))
    assert svc.verify_login_password(ACCOUNT, "carol", CURRENT).user_name == "carol"
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.update_login_profile(ACCOUNT, "carol", password=EARLIER)
    svc.delete_login_profile(ACCOUNT, "carol")
    for reused in (CURRENT, EARLIER):
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.create_login_profile(ACCOUNT, "carol", reused)
    svc.create_login_profile(ACCOUNT, "carol", "Th1rd!Passw0rd")
    svc.delete_user(ACCOUNT, "carol", force=True)
    with store.read() as repo:
        assert repo.get_password_history(ACCOUNT, "1") == ()


def test_migrating_sqlite_from_version_1_moves_the_password_history_to_the_user(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw, raw:
        raw.execute("PRAGMA foreign_keys = ON")
        _create_version_1(raw, SQLITE)
        _version_1_login_profile(raw, SQLITE, hash_password(CURRENT), [hash_password(EARLIER)])
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    try:
        _check_migrated_history(store)
    finally:
        store.close()
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(ram_login_profiles)")}
    assert "password_history" not in columns and "password_hash" in columns


def test_migrating_postgresql_from_version_1_moves_the_password_history_to_the_user() -> None:
    import psycopg

    from ram_middleware.crypto import generate_key
    from ram_middleware.store.postgres import split_store_options
    from tests.scaleout.servers import pg_schema_url, require_shared_postgres

    require_shared_postgres()
    with pg_schema_url() as url:
        conninfo = split_store_options(url)[0]
        with psycopg.connect(conninfo) as conn, conn.transaction():
            _create_version_1(conn, POSTGRES)
            _version_1_login_profile(conn, POSTGRES, hash_password(CURRENT), [hash_password(EARLIER)])
        store = open_store(url, master_keys=[generate_key()], env={})
        try:
            _check_migrated_history(store)
        finally:
            store.close()
        with psycopg.connect(conninfo) as conn:
            columns = {
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'ram_login_profiles'"
                )
            }
        assert "password_history" not in columns and "password_hash" in columns


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_version_2_database_gains_role_session_generations(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store the previous release wrote (schema version 2: roles carry only a revocation time) opens at
    the current version: its roles start at session generation 0 and keep their revocation time."""
    with ExitStack() as stack:
        if kind == "sqlite":
            url, keys = f"sqlite:///{tmp_path}/ram.db", None
        else:
            require_shared_postgres()
            url, keys = stack.enter_context(pg_schema_url()), [generate_key()]
        monkeypatch.setattr(sql, "MIGRATIONS", MIGRATIONS[:2])
        previous = open_store(url, master_keys=keys, env={})
        assert previous.schema_version() == 2
        with previous.write() as repo:
            repo.insert_account(Account(ACCOUNT, "acme", NOW))
        previous.close()
        # The previous release's own INSERT of a role, and a revocation it recorded.
        columns = (
            "role_id, account_id, role_name, name_key, description, trust_policy, max_session_duration, "
            "revoked_before, create_date, update_date"
        )
        values = (
            "300000000000000001",
            ACCOUNT,
            "Ops",
            "ops",
            "",
            "{}",
            3600,
            to_ts(NOW),
            to_ts(NOW),
            to_ts(NOW),
        )
        insert = f"INSERT INTO ram_roles ({columns}) VALUES ({', '.join(['?'] * len(values))})"
        if kind == "sqlite":
            with closing(sqlite3.connect(tmp_path / "ram.db")) as raw, raw:
                raw.execute(insert, values)
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(POSTGRES.sql(insert), values)
        monkeypatch.undo()
        current = stack.enter_context(closing(open_store(url, master_keys=keys, env={})))
        assert current.schema_version() == SCHEMA_VERSION == 3
        with current.read() as repo:
            role = repo.get_role(ACCOUNT, "OPS")
            assert role is not None and role.session_generation == 0
            assert repo.get_role_revocation(role.role_id) == SessionRevocation(NOW, 0)
        with current.write() as repo:
            repo.revoke_role_sessions(role.role_id, NOW)
        with current.read() as repo:
            assert repo.get_role_revocation(role.role_id) == SessionRevocation(NOW, 1)
