"""Every operation happens whole or not at all, and secrets never reach the database file in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store

from ..store.backends import FakeClock, expect_code
from .mfa_helpers import consecutive_codes

DOC = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}'
PASSWORD = "Str0ng!Passw0rd"


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    yield store
    store.close()


def _loaded_user(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "alice")
    svc.create_group(acct, "g")
    svc.add_user_to_group(acct, "g", "alice")
    svc.create_policy(acct, "P", DOC)
    svc.attach_policy_to_user(acct, "Custom", "P", "alice")
    svc.create_access_key(acct, "alice")
    svc.create_login_profile(acct, "alice", PASSWORD)


def test_a_failed_forced_delete_leaves_everything(file_store: Store, tmp_path: Path) -> None:
    svc = RamService(file_store, clock=FakeClock())
    acct = svc.create_account().account_id
    _loaded_user(svc, acct)
    counter = file_store.change_counter()
    # The database itself refuses the last step (deleting the user row) after the dependents are gone.
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw, raw:
        raw.execute(
            "CREATE TRIGGER refuse BEFORE DELETE ON ram_users BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    with expect_code("ServiceUnavailable.Store"):
        svc.delete_user(acct, "alice", force=True)
    assert svc.get_user(acct, "alice").user_name == "alice"
    assert len(svc.list_access_keys(acct, "alice")) == 1
    assert [j.group.group_name for j in svc.list_groups_for_user(acct, "alice")] == ["g"]
    assert [a.entity.policy_name for a in svc.list_policies_for_user(acct, "alice")] == ["P"]
    assert svc.get_login_profile(acct, "alice").user_name == "alice"
    assert file_store.change_counter() == counter


def test_failed_operations_change_nothing(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "alice")
    svc.create_policy(acct, "P", DOC)
    device = svc.create_virtual_mfa_device(acct, "dev")
    counter = svc.store.change_counter()
    failures: list[tuple[str, Callable[[], object]]] = [
        ("EntityAlreadyExists.User", lambda: svc.create_user(acct, "ALICE")),
        ("MalformedPolicyDocument", lambda: svc.create_policy_version(acct, "P", "{}", set_as_default=True)),
        ("InvalidAuthenticationCode", lambda: svc.bind_mfa_device(
            acct, device.device.serial_number, "alice", "000000", "000000")),
        ("EntityNotExist.Policy", lambda: svc.attach_policy_to_user(acct, "Custom", "Nope", "alice")),
        ("InvalidParameter.PasswordPolicy", lambda: svc.create_login_profile(acct, "alice", "weak")),
    ]  # fmt: skip
    for code, operation in failures:
        with expect_code(code):
            operation()
    assert svc.store.change_counter() == counter
    assert [v.version_id for v in svc.list_policy_versions(acct, "P")] == ["v1"]
    assert not svc.list_virtual_mfa_devices(acct)[0].is_bound
    assert svc.list_policies_for_user(acct, "alice") == []
    svc.bind_mfa_device(
        acct, device.device.serial_number, "alice", *consecutive_codes(device.base32_seed, clock)
    )


def test_no_secret_is_stored_in_clear(file_store: Store, tmp_path: Path) -> None:
    svc = RamService(file_store, clock=FakeClock())
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    keys = [svc.create_access_key(acct, "alice"), svc.create_access_key(acct, None)]
    device = svc.create_virtual_mfa_device(acct, "dev")
    svc.create_login_profile(acct, "alice", PASSWORD)
    file_store.close()  # checkpoint the WAL into the main file, then look at every byte on disk
    raw = b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ram.db") and p.suffix != ".key"
    )
    for key in keys:
        assert key.key.access_key_id.encode() in raw  # the search would find what is there
        assert key.secret.encode() not in raw
    assert device.device.serial_number.encode() in raw
    assert device.base32_seed.encode() not in raw
    assert device.base32_seed.lower().encode() not in raw
    assert PASSWORD.encode() not in raw
    assert b"$argon2id$" in raw
