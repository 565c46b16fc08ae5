"""Master key mistakes stop the start with a clear ``ServiceUnavailable.MasterKey`` (SQLite, PostgreSQL).

A store whose secrets were encrypted with a key that is not configured used to open, and every signed
request and MFA logon then failed (503) while new secrets were encrypted with the wrong key, so that no one
key list opened them all any more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.config import RamConfig, build
from ram_middleware.crypto import KEY_ENV, generate_key, key_id
from ram_middleware.crypto import _decode_key as decode_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory
from tests.store.backends import expect_code


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ram.db"
        return
    from tests.scaleout.servers import pg_schema_url, require_shared_postgres

    require_shared_postgres()
    with pg_schema_url() as url:
        yield url


def _guard_url(store_url: str) -> str | None:
    """The store's own guard for SQLite; the shared Redis for PostgreSQL (a memory guard is refused)."""
    from tests.scaleout.servers import SHARED_REDIS, require_shared_redis

    if store_url.startswith("sqlite:"):
        return None
    require_shared_redis()
    return SHARED_REDIS


def _store_with(url: str, key: str, secret_kind: str) -> str | None:
    """A store at ``url`` with one secret of ``secret_kind`` under ``key``; the AccessKeyId made, if any."""
    service = RamService(open_store(url, master_keys=[key], env={}))
    try:
        account = service.create_account().account_id
        service.create_user(account, "app")
        if secret_kind == "access key":
            return service.create_access_key(account, "app").key.access_key_id
        service.create_virtual_mfa_device(account, "app-phone")
        return None
    finally:
        service.store.close()


@pytest.mark.parametrize("secret_kind", ["access key", "MFA seed"])
def test_a_wrong_master_key_stops_the_start(store_url: str, secret_kind: str) -> None:
    right, wrong = generate_key(), generate_key()
    _store_with(store_url, right, secret_kind)

    with expect_code("ServiceUnavailable.MasterKey") as refused:
        open_store(store_url, env={KEY_ENV: wrong})
    assert key_id(decode_key(right)) in refused.error.message  # type: ignore[union-attr]
    assert right not in refused.error.message and wrong not in refused.error.message  # type: ignore[union-attr]
    guard_url = _guard_url(store_url)
    with expect_code("ServiceUnavailable.MasterKey"):
        build(RamConfig(store_url=store_url, guard_url=guard_url, master_keys=(wrong,), audit="memory:"))
    env = {KEY_ENV: wrong, "RAM_GUARD_URL": guard_url}
    result = CliRunner().invoke(main, ["--store", store_url, "users", "list"], env=env)
    assert result.exit_code == 1 and "ServiceUnavailable.MasterKey" in result.stderr, result.output

    open_store(store_url, env={KEY_ENV: right}).close()


def test_rotation_opens_with_new_and_old_keys_then_with_the_new_key_alone(store_url: str) -> None:
    old, new = generate_key(), generate_key()
    access_key_id = _store_with(store_url, old, "access key")
    assert access_key_id is not None

    both = open_store(store_url, env={KEY_ENV: f"{new},{old}"})
    try:
        assert RamService(both).rotate_master_key() == 1
    finally:
        both.close()
    only_new = open_store(store_url, env={KEY_ENV: new})
    try:
        assert Directory(only_new).signing_key(access_key_id) is not None
    finally:
        only_new.close()
    with expect_code("ServiceUnavailable.MasterKey"):
        open_store(store_url, env={KEY_ENV: old})  # re-encrypted: the old key alone opens nothing now


def test_a_key_file_that_is_not_ascii_is_a_clear_start_up_error(tmp_path: Path) -> None:
    """An editor may save the file with a byte-order mark: ``ram`` said so with a UnicodeDecodeError trace."""
    url = f"sqlite:///{tmp_path}/ram.db"
    key = generate_key()
    key_file = tmp_path / "ram.db.key"
    key_file.write_bytes(b"\xef\xbb\xbf" + key.encode() + b"\n")
    key_file.chmod(0o600)

    with expect_code("ServiceUnavailable.MasterKey") as refused:
        open_store(url, env={})
    assert str(key_file) in refused.error.message and key not in refused.error.message  # type: ignore[union-attr]
    result = CliRunner().invoke(main, ["--store", url, "init"], env={KEY_ENV: None})
    assert result.exit_code == 1 and "ServiceUnavailable.MasterKey" in result.stderr, result.output
    assert key_file.read_bytes().startswith(b"\xef\xbb\xbf")  # left as it was, never replaced


@pytest.mark.parametrize("source", ["key file", KEY_ENV])
def test_a_malformed_key_is_named_by_where_it_came_from_and_its_place(tmp_path: Path, source: str) -> None:
    """A key file's second line cut short by an editor, or RAM_MASTER_KEY's second key mistyped: the start
    said only "A master key must be 32 bytes…", not which of the keys, nor in which file or variable."""
    url = f"sqlite:///{tmp_path}/ram.db"
    good, bad = generate_key(), generate_key()[:-6]
    env: dict[str, str] = {}
    if source == KEY_ENV:
        env[KEY_ENV] = f"{good},{bad}"
    else:
        (tmp_path / "ram.db.key").write_text(f"{good}\n{bad}\n")
        (tmp_path / "ram.db.key").chmod(0o600)
    with expect_code("ServiceUnavailable.MasterKey") as refused:
        open_store(url, env=env)
    message = refused.error.message  # type: ignore[union-attr]
    where = str(tmp_path / "ram.db.key") if source == "key file" else KEY_ENV
    assert where in message and "key 2" in message and "32 bytes" in message
    assert good not in message and bad not in message
