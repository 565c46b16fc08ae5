"""Schema versioning, SQLite settings, URLs and the SQL dialect seam."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ram_middleware.identity import Account, User
from ram_middleware.store import SqliteStore, Store, StoreFailure, open_store, sqlite_path
from ram_middleware.store.dialect import POSTGRES, SQLITE
from ram_middleware.store.schema import MIGRATIONS, SCHEMA_VERSION

from .backends import expect_code

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


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
        "ram_changes",
    } <= tables
