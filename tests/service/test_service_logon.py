"""Login profiles: password policy, hashing, reuse prevention, the logon checks, the root's password."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ram_middleware import errors
from ram_middleware.credentials import password as passwords
from ram_middleware.credentials.password import LogonThrottle, PasswordPolicy
from ram_middleware.guard import MemoryGuard
from ram_middleware.service import RamService
from ram_middleware.store import SqliteStore, Store, open_store, sqlite_path

from ..store.backends import FakeClock, expect_code, store_url

GOOD = "Str0ng!Passw0rd"
OTHER = "An0ther!Secret9"
THIRD = "Th1rd!Passw0rd"


def test_create_get_and_flags(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "carol")
    profile = svc.create_login_profile(
        acct, "Carol", GOOD, password_reset_required=True, mfa_bind_required=True
    )
    assert (profile.user_name, profile.password_reset_required, profile.mfa_bind_required) == (
        "carol",
        True,
        True,
    )
    assert profile.create_date == profile.password_changed_date == clock.now
    assert svc.get_login_profile(acct, "carol") == profile
    with expect_code("EntityAlreadyExists.User.LoginProfile"):
        svc.create_login_profile(acct, "carol", GOOD)
    updated = svc.update_login_profile(acct, "carol", mfa_bind_required=False)
    assert (updated.password_reset_required, updated.mfa_bind_required) == (True, False)
    svc.delete_login_profile(acct, "carol")
    with expect_code("EntityNotExist.User.LoginProfile"):
        svc.get_login_profile(acct, "carol")
    with expect_code("EntityNotExist.User"):
        svc.create_login_profile(acct, "nobody", GOOD)


def test_password_policy_applies(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "carol")
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.create_login_profile(acct, "carol", "short")
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.create_login_profile(acct, "carol", "Carol!1234xyz")  # contains the user name
    svc.set_password_policy(acct, PasswordPolicy(minimum_password_length=20))
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.create_login_profile(acct, "carol", GOOD)
    with expect_code("EntityNotExist.User.LoginProfile"):
        svc.get_login_profile(acct, "carol")


def test_a_prepared_password_meets_the_policy_when_prepared_and_when_stored(
    svc: RamService, acct: str
) -> None:
    svc.create_user(acct, "carol")
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.prepare_password(acct, "carol", "Carol!1234xyz")  # refused before any hash is made
    prepared = svc.prepare_password(acct, "carol", GOOD)
    assert GOOD not in repr(prepared)
    # The policy changed between the hash and the write: the write checks the password again.
    svc.set_password_policy(acct, PasswordPolicy(minimum_password_length=20))
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.create_login_profile(acct, "carol", prepared)
    svc.set_password_policy(acct, PasswordPolicy())
    svc.create_login_profile(acct, "carol", prepared)
    svc.verify_login_password(acct, "carol", GOOD)
    with expect_code("InvalidLogin"):
        svc.verify_login_password(acct, "carol", OTHER)


def test_logon_checks(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD)
    assert svc.verify_login_password(acct, "carol", GOOD).user_name == "carol"
    for user, password in (("carol", OTHER), ("nobody", GOOD), ("carol", "")):
        with expect_code("InvalidLogin"):
            svc.verify_login_password(acct, user, password)
    with expect_code("InvalidLogin"):
        svc.verify_login_password("1111111111111111", "carol", GOOD)


def test_update_password_with_reuse_prevention(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "carol")
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=2))
    svc.create_login_profile(acct, "carol", GOOD)
    clock.advance(60)
    changed = svc.update_login_profile(acct, "carol", password=OTHER)
    assert changed.password_changed_date == clock.now
    with expect_code("InvalidLogin"):
        svc.verify_login_password(acct, "carol", GOOD)
    svc.verify_login_password(acct, "carol", OTHER)
    for reused in (GOOD, OTHER):
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.update_login_profile(acct, "carol", password=reused)
    svc.update_login_profile(acct, "carol", password="Th1rd!Passw0rd")
    svc.update_login_profile(acct, "carol", password=GOOD)  # two changes ago is allowed again


def test_reuse_prevention_survives_deleting_and_recreating_the_login_profile(
    svc: RamService, acct: str
) -> None:
    """The history is the user's: DeleteLoginProfile + CreateLoginProfile cannot cycle back to a recent
    password, and is refused with the code UpdateLoginProfile and ChangePassword use for reuse."""
    svc.create_user(acct, "carol")
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=2))
    svc.create_login_profile(acct, "carol", GOOD)
    svc.update_login_profile(acct, "carol", password=OTHER)
    svc.delete_login_profile(acct, "carol")
    for reused in (OTHER, GOOD):
        with expect_code("InvalidParameter.PasswordPolicy") as caught:
            svc.create_login_profile(acct, "carol", reused)
        assert caught.error is not None and "last 2 passwords" in caught.error.message
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.create_login_profile(acct, "carol", svc.prepare_password(acct, "carol", reused))
    with expect_code("EntityNotExist.User.LoginProfile"):
        svc.get_login_profile(acct, "carol")
    svc.create_login_profile(acct, "carol", THIRD)
    with expect_code("InvalidParameter.PasswordPolicy"):  # the history came back with the profile
        svc.update_login_profile(acct, "carol", password=OTHER)
    svc.delete_login_profile(acct, "carol")
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=3))
    with expect_code("InvalidParameter.PasswordPolicy"):  # GOOD, three passwords ago, is remembered
        svc.create_login_profile(acct, "carol", GOOD)
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=1))
    svc.create_login_profile(acct, "carol", OTHER)  # only THIRD, the last one, is refused now


def test_the_roots_history_survives_deleting_its_login_profile(svc: RamService, acct: str) -> None:
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=1))
    svc.set_root_password(acct, GOOD)
    svc.delete_login_profile(acct, None)
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.set_root_password(acct, GOOD)
    svc.set_root_password(acct, OTHER)


@pytest.mark.parametrize("force", [False, True])
def test_deleting_the_user_deletes_its_password_history(svc: RamService, acct: str, force: bool) -> None:
    carol = svc.create_user(acct, "carol")
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=5))
    svc.create_login_profile(acct, "carol", GOOD)
    svc.update_login_profile(acct, "carol", password=OTHER)
    if not force:
        svc.delete_login_profile(acct, "carol")  # the remaining history does not block the deletion
    with svc.store.read() as repo:
        assert len(repo.get_password_history(acct, carol.user_id)) == (2 if not force else 1)
    svc.delete_user(acct, "carol", force=force)
    with svc.store.read() as repo:
        assert repo.get_password_history(acct, carol.user_id) == ()
    svc.create_user(acct, "carol")  # a new user of the same name (a new UserId) starts with no history
    svc.create_login_profile(acct, "carol", GOOD)
    svc.update_login_profile(acct, "carol", password=OTHER)


def test_the_history_is_hashed_at_rest(tmp_path: Path) -> None:
    url = store_url("sqlite", tmp_path)
    store = open_store(url, env={})
    try:
        svc = RamService(store)
        acct = svc.create_account().account_id
        svc.create_user(acct, "carol")
        svc.create_login_profile(acct, "carol", GOOD)
        svc.update_login_profile(acct, "carol", password=OTHER)
        svc.delete_login_profile(acct, "carol")
    finally:
        store.close()
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw:
        [(text,)] = raw.execute("SELECT password_history FROM ram_password_history").fetchall()
    hashes = json.loads(text)
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    assert GOOD not in text and OTHER not in text
    assert passwords.verify_password(hashes[0], OTHER) and passwords.verify_password(hashes[1], GOOD)


def test_change_password(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD, password_reset_required=True)
    with expect_code("InvalidParameter.OldPassword"):
        svc.change_password(acct, "carol", OTHER, "Th1rd!Passw0rd")
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.change_password(acct, "carol", GOOD, "weak")
    # A forced reset is not done by typing the old password again (even with PasswordReusePrevention 0).
    with expect_code("InvalidParameter.NewPassword"):
        svc.change_password(acct, "carol", GOOD, GOOD)
    assert svc.get_login_profile(acct, "carol").password_reset_required is True
    svc.change_password(acct, "carol", GOOD, OTHER)
    assert svc.get_login_profile(acct, "carol").password_reset_required is False
    svc.verify_login_password(acct, "carol", OTHER)


def _guarded(store: Store, clock: FakeClock) -> tuple[RamService, str, MemoryGuard]:
    """A service with a guard (as the runtime builds it), an account with MaxLoginAttemps 3 and carol."""
    guard = MemoryGuard()
    svc = RamService(store, clock=clock, guard=guard)
    acct = svc.create_account().account_id
    svc.set_password_policy(acct, PasswordPolicy(max_login_attempts=3))
    svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD)
    return svc, acct, guard


def test_change_password_counts_a_wrong_old_password_and_takes_back_only_a_right_ones_count(
    store: Store, clock: FakeClock
) -> None:
    svc, acct, guard = _guarded(store, clock)
    key = LogonThrottle.key(acct, "carol")
    LogonThrottle(guard, 3).attempt(acct, "carol")  # an earlier failed logon
    with expect_code("InvalidParameter.OldPassword"):
        svc.change_password(acct, "carol", OTHER, THIRD)
    assert guard.count(key) == 2
    with expect_code("InvalidParameter.PasswordPolicy"):  # the old password was right: no guess
        svc.change_password(acct, "carol", GOOD, "weak")
    assert guard.count(key) == 2
    svc.change_password(acct, "carol", GOOD, OTHER)
    assert guard.count(key) == 2  # the earlier failures stay


def test_a_locked_user_cannot_change_the_password_until_an_administrator_sets_one(
    store: Store, clock: FakeClock
) -> None:
    svc, acct, _ = _guarded(store, clock)
    for _ in range(3):
        with expect_code("InvalidParameter.OldPassword"):
            svc.change_password(acct, "CAROL", OTHER, THIRD)  # any case of the name: the same count
    with expect_code("LoginLocked"):
        svc.change_password(acct, "carol", GOOD, THIRD)  # locked means locked, even with the right one
    svc.verify_login_password(acct, "carol", GOOD)  # not changed
    svc.update_login_profile(acct, "carol", password=OTHER)  # an administrator's reset ends the lock-out
    svc.change_password(acct, "carol", OTHER, THIRD)
    svc.verify_login_password(acct, "carol", THIRD)


def test_renew_password_at_logon_must_change_it(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD, password_reset_required=True)
    with expect_code("InvalidParameter.NewPassword"):  # even with PasswordReusePrevention 0
        svc.renew_password(acct, "carol", GOOD)
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.renew_password(acct, "carol", "weak")
    assert svc.get_login_profile(acct, "carol").password_reset_required is True
    assert svc.renew_password(acct, "carol", OTHER).password_reset_required is False
    svc.verify_login_password(acct, "carol", OTHER)


def test_renew_password_never_replaces_a_password_set_since_the_logon(
    svc: RamService, acct: str, clock: FakeClock
) -> None:
    svc.create_user(acct, "carol")
    proved = svc.create_login_profile(acct, "carol", GOOD, password_reset_required=True).password_changed_date
    clock.advance(60)
    svc.update_login_profile(acct, "carol", password=OTHER)  # an administrator's reset meanwhile
    with expect_code("InvalidParameter.OldPassword"):
        svc.renew_password(acct, "carol", "Th1rd!Passw0rd", replacing=proved)
    svc.verify_login_password(acct, "carol", OTHER)


def test_root_password_and_logon_bookkeeping(svc: RamService, acct: str, clock: FakeClock) -> None:
    with expect_code("EntityNotExist.User.LoginProfile"):
        svc.get_login_profile(acct, None)
    svc.set_root_password(acct, GOOD, mfa_bind_required=True)
    assert svc.verify_login_password(acct, None, GOOD).user_name is None
    svc.set_root_password(acct, OTHER)
    with expect_code("InvalidLogin"):
        svc.verify_login_password(acct, None, GOOD)
    svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD)
    counter = svc.store.change_counter()
    clock.advance(30)
    svc.record_logon(acct, "carol")
    svc.record_logon(acct, None)
    assert svc.get_user(acct, "carol").last_login_date == clock.now
    assert svc.get_login_profile(acct, "carol").last_logon_date == clock.now
    assert svc.get_login_profile(acct, None).last_logon_date == clock.now
    assert svc.store.change_counter() == counter  # bookkeeping only


def test_reuse_checks_hash_outside_the_write_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each remembered password costs one argon2 verification (about 0.1 s): with PasswordReusePrevention 24
    they would hold the store's write lock for seconds, and a console logon elsewhere would be refused."""
    url = store_url("sqlite", tmp_path)
    main = open_store(url, env={})
    svc = RamService(main)
    other = RamService(SqliteStore(sqlite_path(url), box=main.box, request_budget=0.2))  # another instance
    acct = svc.create_account().account_id
    svc.create_user(acct, "carol")
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=24))
    svc.create_login_profile(acct, "carol", GOOD)
    for n in range(2):
        svc.update_login_profile(acct, "carol", password=f"{OTHER}{n}")
    real = passwords.verify_password

    def costly(stored: str, pw: str) -> bool:  # a verification as slow as a real one on a busy machine
        time.sleep(0.15)
        return real(stored, pw)

    monkeypatch.setattr(passwords, "verify_password", costly)
    done = threading.Event()
    refused: list[errors.RAMError] = []

    def log_on_meanwhile() -> None:
        while not done.is_set():
            try:
                other.record_logon(acct, "carol")  # what a console logon writes
            except errors.RAMError as exc:
                refused.append(exc)
            time.sleep(0.01)

    meanwhile = threading.Thread(target=log_on_meanwhile)
    meanwhile.start()
    try:
        svc.update_login_profile(acct, "carol", password="Th1rd!Passw0rd")
        svc.change_password(acct, "carol", "Th1rd!Passw0rd", "F0urth!Passw0rd")
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.change_password(acct, "carol", "F0urth!Passw0rd", GOOD)
    finally:
        done.set()
        meanwhile.join()
        other.store.close()
        main.close()
    assert refused == []


def test_a_hash_with_older_parameters_is_upgraded_at_the_next_logon(
    svc: RamService, acct: str, clock: FakeClock
) -> None:
    """Raising the argon2id parameters protects existing users too: each hash is remade from the password
    the next time it is proved, without touching what names that password to the sessions."""
    carol = svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", OTHER)
    svc.update_login_profile(acct, "carol", password=GOOD)
    old_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)  # as stored years ago
    with svc.store.write() as repo:
        record = repo.get_login_profile(acct, carol.user_id)
        assert record is not None
        repo.update_login_profile(dataclasses.replace(record, password_hash=old_hash))
    before = svc.get_login_profile(acct, "carol")
    counter = svc.store.change_counter()
    clock.advance(30)

    with expect_code("InvalidLogin"):  # a wrong password proves nothing: the old hash stays
        svc.verify_login_password(acct, "carol", OTHER)
    with svc.store.read() as repo:
        assert (repo.get_login_profile(acct, carol.user_id) or record).password_hash == old_hash
    assert svc.verify_login_password(acct, "carol", GOOD) == before

    with svc.store.read() as repo:
        upgraded = repo.get_login_profile(acct, carol.user_id)
    assert upgraded is not None and upgraded.password_hash != old_hash
    assert not passwords.needs_rehash(upgraded.password_hash)
    assert passwords.verify_password(upgraded.password_hash, GOOD)
    assert upgraded.history == record.history  # the reuse check still knows OTHER
    assert svc.get_login_profile(acct, "carol") == before  # same PasswordChangedDate: no session ends
    assert svc.store.change_counter() == counter  # bookkeeping: no instance drops its snapshot
    assert svc.verify_login_password(acct, "carol", GOOD) == before
    svc.set_password_policy(acct, PasswordPolicy(password_reuse_prevention=2))
    with expect_code("InvalidParameter.PasswordPolicy"):
        svc.update_login_profile(acct, "carol", password=OTHER)


def test_a_busy_store_does_not_refuse_a_logon_whose_hash_is_due_an_upgrade(tmp_path: Path) -> None:
    """The upgrade is bookkeeping: when its write cannot get the store (another writer holds it), the proved
    password still logs on and the old hash stays for the next logon to upgrade."""
    url = store_url("sqlite", tmp_path)
    main = open_store(url, env={})
    svc = RamService(main)
    acct = svc.create_account().account_id
    carol = svc.create_user(acct, "carol")
    svc.create_login_profile(acct, "carol", GOOD)
    old_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
    with main.write() as repo:
        record = repo.get_login_profile(acct, carol.user_id)
        assert record is not None
        repo.update_login_profile(dataclasses.replace(record, password_hash=old_hash))
    path = sqlite_path(url)
    assert path is not None
    instance = RamService(SqliteStore(path, box=main.box, request_budget=0.2))
    try:
        with sqlite3.connect(path) as holder:  # another process's long write
            holder.execute("BEGIN IMMEDIATE")
            assert instance.verify_login_password(acct, "carol", GOOD).user_name == "carol"
            holder.rollback()
        with main.read() as repo:
            assert (repo.get_login_profile(acct, carol.user_id) or record).password_hash == old_hash
    finally:
        instance.store.close()
        main.close()
