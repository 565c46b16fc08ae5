"""A PostgreSQL schema migrated by its owner is used by an application role with table privileges only
(SELECT, INSERT, UPDATE, DELETE): the least-privilege setup where the app may not change the schema.

Before, every open ran ``CREATE TABLE IF NOT EXISTS ram_schema_version``, which PostgreSQL refuses without
CREATE on the schema even when the table exists: the app could not start ("The identity store failed
(InsufficientPrivilege)"). Now a schema already current is only read; one that needs migrating says that
the role may not do it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store, sql
from ram_middleware.store.schema import MIGRATIONS
from tests.scaleout.servers import SHARED_PG, pg_schema_url, require_shared_postgres, unique_name

from .backends import expect_code

KEY = generate_key()


@pytest.fixture
def owner_url() -> Iterator[str]:
    require_shared_postgres()
    with pg_schema_url() as url:
        yield url


def _app_role_url(owner_url: str) -> Iterator[str]:
    """``owner_url`` as a new login role granted the schema's tables, not the schema (dropped after)."""
    schema = owner_url.rsplit("%3D", 1)[1]
    role = unique_name("ram_app")
    with psycopg.connect(SHARED_PG, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app'")
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
        conn.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}')
    try:
        yield owner_url.replace("postgres@", f"{role}:app@", 1)
    finally:
        with psycopg.connect(SHARED_PG, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_an_app_role_without_create_opens_a_current_schema_and_writes(owner_url: str) -> None:
    owner = open_store(owner_url, master_keys=[KEY], env={})
    try:
        account = RamService(owner).create_account().account_id
    finally:
        owner.close()
    for app_url in _app_role_url(owner_url):
        store = open_store(app_url, master_keys=[KEY], env={})
        try:
            svc = RamService(store)
            svc.create_user(account, "alice")
            assert svc.create_access_key(account, "alice").key.user_name == "alice"
        finally:
            store.close()


def test_an_app_role_cannot_migrate_and_says_so(owner_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "MIGRATIONS", MIGRATIONS[:2])  # the owner ran the previous release
    open_store(owner_url, master_keys=[KEY], env={}).close()
    monkeypatch.undo()
    for app_url in _app_role_url(owner_url):
        with expect_code("ServiceUnavailable.Store") as caught:
            open_store(app_url, master_keys=[KEY], env={})
        assert caught.error is not None
        assert "permission denied" in caught.error.message
        assert "version 2" in caught.error.message and "migrate" in caught.error.message


def test_a_server_that_takes_no_writes_is_refused_at_open(owner_url: str) -> None:
    """A URL that reaches a standby, or a role whose transactions are read-only: a schema already current
    is only read at open, so without a check it opened and every write was a 503 'ReadOnlySqlTransaction'."""
    open_store(owner_url, master_keys=[KEY], env={}).close()
    for app_url in _app_role_url(owner_url):
        role = app_url.split("://", 1)[1].split(":", 1)[0]
        with psycopg.connect(SHARED_PG, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        with expect_code("ServiceUnavailable.Store") as caught:
            open_store(app_url, master_keys=[KEY], env={})
        assert caught.error is not None and "read-only" in caught.error.message
