"""AccessKeys: the secret once, the per-user limit, status, ownership, master-key rotation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory

from ..store.backends import FakeClock, expect_code


def test_create_returns_the_secret_once(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "app")
    created = svc.create_access_key(acct, "APP")
    assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", created.key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{30}", created.secret)
    assert (created.key.status, created.key.user_name, created.key.create_date) == (
        "Active",
        "app",
        clock.now,
    )
    assert created.secret not in repr(created)
    listed = svc.list_access_keys(acct, "app")
    assert listed == [created.key]
    assert not hasattr(listed[0], "secret")


def test_two_keys_per_user(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "app")
    first = svc.create_access_key(acct, "app")
    second = svc.create_access_key(acct, "app")
    assert first.key.access_key_id != second.key.access_key_id and first.secret != second.secret
    with expect_code("LimitExceeded.User.AccessKey"):
        svc.create_access_key(acct, "app")
    assert len(svc.list_access_keys(acct, "app")) == 2
    svc.delete_access_key(acct, first.key.access_key_id, user_name="app")
    svc.create_access_key(acct, "app")


def test_root_keys_are_separate_and_limited(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "app")
    svc.create_access_key(acct, "app")
    root1 = svc.create_access_key(acct, None)
    svc.create_access_key(acct, None)
    with expect_code("LimitExceeded.User.AccessKey"):
        svc.create_access_key(acct, None)
    assert root1.key.user_name is None
    assert [k.user_name for k in svc.list_access_keys(acct, None)] == [None, None]
    assert len(svc.list_access_keys(acct, "app")) == 1


def test_status_and_ownership(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "a")
    svc.create_user(acct, "b")
    key = svc.create_access_key(acct, "a").key.access_key_id
    assert svc.update_access_key(acct, key, "Inactive", user_name="a").status == "Inactive"
    assert svc.list_access_keys(acct, "a")[0].status == "Inactive"
    assert svc.update_access_key(acct, key, "Active").status == "Active"
    with expect_code("InvalidParameter.Status"):
        svc.update_access_key(acct, key, "Disabled")
    with expect_code("EntityNotExist.AccessKey"):
        svc.update_access_key(acct, key, "Inactive", user_name="b")
    with expect_code("EntityNotExist.AccessKey"):
        svc.delete_access_key(acct, key, user_name="b")
    other = svc.create_account().account_id
    with expect_code("EntityNotExist.AccessKey"):
        svc.delete_access_key(other, key)
    with expect_code("EntityNotExist.AccessKey"):
        svc.get_access_key_last_used(acct, "LTAIunknown")
    svc.delete_access_key(acct, key)
    assert svc.list_access_keys(acct, "a") == []
    with expect_code("EntityNotExist.User"):
        svc.create_access_key(acct, "nobody")


def test_last_used(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "a")
    key = svc.create_access_key(acct, "a").key.access_key_id
    assert svc.get_access_key_last_used(acct, key, user_name="a") is None
    when = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    svc.directory.note_key_used(key, when)
    assert svc.get_access_key_last_used(acct, key) == when
    assert svc.list_access_keys(acct, "a")[0].last_used_date == when


def test_master_key_rotation_reencrypts_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    old, new = generate_key(), generate_key()
    first = open_store(url, master_keys=[old])
    svc = RamService(first, clock=FakeClock())
    acct = svc.create_account().account_id
    svc.create_user(acct, "a")
    created = svc.create_access_key(acct, "a")
    svc.create_virtual_mfa_device(acct, "dev")
    first.close()

    both = open_store(url, master_keys=[new, old])
    assert RamService(both, clock=FakeClock()).rotate_master_key() == 2
    assert RamService(both, clock=FakeClock()).rotate_master_key() == 0
    both.close()

    only_new = open_store(url, master_keys=[new])
    try:
        found = Directory(only_new).signing_key(created.key.access_key_id)
        assert found is not None and found.secret == created.secret
    finally:
        only_new.close()
    with expect_code("ServiceUnavailable.MasterKey"):  # re-encrypted: the old key alone opens nothing
        open_store(url, master_keys=[old])
