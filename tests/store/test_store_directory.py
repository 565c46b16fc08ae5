"""The Directory: snapshot lookups, invalidation in-process and across processes, batched last-used."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ram_middleware.identity import SessionRevocation
from ram_middleware.policy import make_request
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory

from .backends import FakeClock, expect_code

OSS_GET = ("oss:GetObject", "acs:oss:*:*:bucket/a.txt")
ECS_DESCRIBE = ("ecs:DescribeInstances", "acs:ecs:*:*:instance/i-1")


@pytest.fixture
def svc(store: Store) -> RamService:
    return RamService(store, clock=FakeClock())


@pytest.fixture
def company(svc: RamService) -> dict[str, str]:
    """Account with alice in rnd (OSS full) and ops (ECS read-only); alice has a key."""
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    for group, policy in (("rnd", "AliyunOSSFullAccess"), ("ops", "AliyunECSReadOnlyAccess")):
        svc.create_group(acct, group)
        svc.add_user_to_group(acct, group, "alice")
        svc.attach_policy_to_group(acct, "System", policy, group)
    key = svc.create_access_key(acct, "alice")
    return {"acct": acct, "key": key.key.access_key_id, "secret": key.secret}


def _allowed(directory: Directory, acct: str, user: str, action: tuple[str, str]) -> bool:
    principal = directory.principal_for_user(acct, user)
    return directory.policy_set(principal).decide(make_request(*action, {})).allowed


def test_signing_key_resolves_user_keys_with_groups(svc: RamService, company: dict[str, str]) -> None:
    found = svc.directory.signing_key(company["key"])
    assert found is not None
    assert found.secret == company["secret"]
    assert found.status == "Active"
    assert found.principal.kind == "user"
    assert found.principal.name == "alice"
    assert found.principal.arn == f"acs:ram::{company['acct']}:user/alice"
    assert set(found.principal.groups) == {"rnd", "ops"}
    assert company["secret"] not in repr(found)
    assert svc.directory.signing_key("LTAIdoesnotexist0000000") is None


def test_root_keys_resolve_to_the_root_principal(svc: RamService, company: dict[str, str]) -> None:
    root_key = svc.create_access_key(company["acct"], None)
    found = svc.directory.signing_key(root_key.key.access_key_id)
    assert found is not None and found.principal.kind == "root"
    assert found.principal.arn == f"acs:ram::{company['acct']}:root"
    assert svc.directory.policy_set(found.principal).decide(make_request("ram:DeleteUser", "*", {})).allowed


def test_key_status_change_is_seen_at_once(svc: RamService, company: dict[str, str]) -> None:
    assert svc.directory.signing_key(company["key"]) is not None
    svc.update_access_key(company["acct"], company["key"], "Inactive")
    found = svc.directory.signing_key(company["key"])
    assert found is not None and found.status == "Inactive"


def test_removing_a_user_from_a_group_changes_the_next_decision(
    svc: RamService, company: dict[str, str]
) -> None:
    acct, directory = company["acct"], svc.directory
    assert _allowed(directory, acct, "alice", OSS_GET)
    assert _allowed(directory, acct, "alice", ECS_DESCRIBE)
    old_principal = directory.principal_for_user(acct, "alice")
    svc.remove_user_from_group(acct, "rnd", "alice")
    assert not _allowed(directory, acct, "alice", OSS_GET)
    assert _allowed(directory, acct, "alice", ECS_DESCRIBE)
    # Even a Principal built before the move (its .groups still list rnd) gets the current groups' policies.
    assert "rnd" in old_principal.groups
    assert not directory.policy_set(old_principal).decide(make_request(*OSS_GET, {})).allowed
    assert directory.principal_for_user(acct, "alice").groups == ("ops",)


def test_a_deleted_users_key_stops_resolving(svc: RamService, company: dict[str, str]) -> None:
    acct, directory = company["acct"], svc.directory
    principal = directory.principal_for_user(acct, "alice")
    assert directory.signing_key(company["key"]) is not None
    svc.delete_user(acct, "alice", force=True)
    assert directory.signing_key(company["key"]) is None
    assert not directory.policy_set(principal).decide(make_request(*OSS_GET, {})).allowed
    # A new user with the old name is someone else: the old principal does not get their policies.
    svc.create_user(acct, "alice")
    svc.attach_policy_to_user(acct, "System", "AdministratorAccess", "alice")
    assert not directory.policy_set(principal).decide(make_request(*OSS_GET, {})).allowed
    assert _allowed(directory, acct, "alice", OSS_GET)


def test_a_key_principal_already_decided_for_is_still_refused_once_its_key_is_void(
    svc: RamService, company: dict[str, str]
) -> None:
    # The policy-set key and credential re-check of a principal are worked out once per principal object;
    # the re-check itself must still run on every lookup.
    acct, directory = company["acct"], svc.directory
    key = directory.signing_key(company["key"])
    assert key is not None
    principal = replace(key.principal, auth_method="rpc-v1", access_key_id=company["key"])
    for _ in range(3):
        assert directory.policy_set(principal).decide(make_request(*OSS_GET, {})).allowed
    svc.update_access_key(acct, company["key"], "Inactive")
    with expect_code("InvalidAccessKeyId.Inactive"):
        directory.policy_set(principal)
    svc.update_access_key(acct, company["key"], "Active")
    assert directory.policy_set(principal).decide(make_request(*OSS_GET, {})).allowed
    svc.delete_access_key(acct, company["key"], user_name="alice")
    with expect_code("InvalidAccessKeyId.NotFound"):
        directory.policy_set(principal)


def test_snapshot_reuses_compiled_policy_sets_until_a_change(
    svc: RamService, company: dict[str, str]
) -> None:
    directory, acct = svc.directory, company["acct"]
    principal = directory.principal_for_user(acct, "alice")
    first = directory.policy_set(principal)
    assert directory.policy_set(principal) is first
    svc.create_user(acct, "bob")  # any announced write drops the snapshot
    assert directory.policy_set(principal) is not first


def test_a_warm_snapshot_answers_without_the_database(store: Store, company: dict[str, str]) -> None:
    directory = Directory(store, refresh_interval=3600)
    principal = directory.principal_for_user(company["acct"], "alice")
    policies = directory.policy_set(principal)
    key = directory.signing_key(company["key"])
    store.close()  # from here on any database access would fail
    assert directory.signing_key(company["key"]) == key
    assert directory.principal_for_user(company["acct"], "alice") == principal
    assert directory.policy_set(principal) is policies
    assert policies.decide(make_request(*OSS_GET, {})).allowed


def test_custom_policy_versions_and_roles(svc: RamService, company: dict[str, str]) -> None:
    acct, directory = company["acct"], svc.directory
    allow_oss = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}'
    allow_ecs = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"}]}'
    trust = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
        f'"Principal":{{"RAM":["acs:ram::{acct}:root"]}}}}]}}'
    )
    svc.create_policy(acct, "Mine", allow_oss)
    role = svc.create_role(acct, "Reader", trust)
    svc.attach_policy_to_role(acct, "Custom", "Mine", "Reader")
    session = replace(
        directory.principal_for_user(acct, "alice"),
        kind="assumed-role", name="Reader", principal_id=f"{role.role_id}:s", extra={"role_id": role.role_id},
    )  # fmt: skip
    assert directory.policy_set(session).decide(make_request(*OSS_GET, {})).allowed
    another_session = replace(session, principal_id=f"{role.role_id}:t", session_name="t")
    assert directory.policy_set(another_session) is directory.policy_set(session)  # compiled once per role
    svc.create_policy_version(acct, "Mine", allow_ecs, set_as_default=True)
    assert not directory.policy_set(session).decide(make_request(*OSS_GET, {})).allowed
    assert directory.policy_set(session).decide(make_request(*ECS_DESCRIBE, {})).allowed
    assert directory.role(acct, "READER") == svc.get_role(acct, "Reader")
    assert directory.role(acct, "nobody") is None
    assert directory.role_revocation(acct, "Reader") == SessionRevocation(None, 0)
    when = svc.revoke_role_sessions(acct, "Reader")
    assert directory.role_revocation(acct, "Reader") == SessionRevocation(when, 1)
    svc.delete_role(acct, "Reader", force=True)
    svc.create_role(acct, "Reader", trust)  # same name, new RoleId: old sessions get nothing
    svc.attach_policy_to_role(acct, "System", "AdministratorAccess", "Reader")
    assert not directory.policy_set(session).decide(make_request(*OSS_GET, {})).allowed


def test_unknown_user_principal(svc: RamService, company: dict[str, str]) -> None:
    with expect_code("EntityNotExist.User"):
        svc.directory.principal_for_user(company["acct"], "nobody")


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[RamService, Store]]:
    """Two independent Store objects on one file, as two processes would have."""
    url = f"sqlite:///{tmp_path}/ram.db"
    first, second = open_store(url, env={}), open_store(url, env={})
    yield RamService(first, clock=FakeClock()), second
    first.close()
    second.close()


def test_another_process_sees_a_change_on_the_next_check(two_processes: tuple[RamService, Store]) -> None:
    svc, other_store = two_processes
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    svc.create_group(acct, "rnd")
    svc.add_user_to_group(acct, "rnd", "alice")
    svc.attach_policy_to_group(acct, "System", "AliyunOSSFullAccess", "rnd")
    other = Directory(other_store, refresh_interval=0)
    assert _allowed(other, acct, "alice", OSS_GET)
    svc.remove_user_from_group(acct, "rnd", "alice")
    assert not _allowed(other, acct, "alice", OSS_GET)


def test_another_process_sees_a_change_within_the_refresh_interval(
    two_processes: tuple[RamService, Store],
) -> None:
    svc, other_store = two_processes
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    key = svc.create_access_key(acct, "alice").key.access_key_id
    other = Directory(other_store)  # default refresh_interval
    assert other.signing_key(key) is not None
    svc.delete_user(acct, "alice", force=True)
    began = time.monotonic()
    while other.signing_key(key) is not None:
        time.sleep(0.01)
        assert time.monotonic() - began < 2.0
    seen_after = time.monotonic() - began
    print(f"cross-process change seen after {seen_after * 1000:.0f} ms (refresh_interval 500 ms)")
    assert seen_after <= 0.5 + 0.1


def test_a_backup_restored_under_a_running_process_leaves_nothing_of_the_lost_writes(
    tmp_path: Path, two_processes: tuple[RamService, Store]
) -> None:
    svc, other_store = two_processes
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    svc.create_group(acct, "rnd")
    svc.attach_policy_to_group(acct, "System", "AliyunOSSFullAccess", "rnd")
    backup = sqlite3.connect(tmp_path / "backup.db")
    with closing(sqlite3.connect(tmp_path / "ram.db")) as live:
        live.backup(backup)  # the nightly backup, before alice joined rnd
    svc.add_user_to_group(acct, "rnd", "alice")
    other = Directory(other_store, refresh_interval=0)
    assert _allowed(other, acct, "alice", OSS_GET)
    with closing(sqlite3.connect(tmp_path / "ram.db")) as live:
        backup.backup(live)  # an operator restores it (sqlite3's .restore) while the process runs
    backup.close()
    assert not _allowed(other, acct, "alice", OSS_GET), "a write the restore undid is still granted"
    # The next writes reuse change-counter values the process has seen before: still felt at once.
    svc.add_user_to_group(acct, "rnd", "alice")
    assert _allowed(other, acct, "alice", OSS_GET)
    svc.remove_user_from_group(acct, "rnd", "alice")
    assert not _allowed(other, acct, "alice", OSS_GET)


def test_last_used_dates_are_batched(store: Store, company: dict[str, str]) -> None:
    ticks = [0.0]
    directory = Directory(store, flush_interval=60, monotonic=lambda: ticks[0])
    counter = store.change_counter()
    t1 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

    def stored() -> datetime | None:
        with store.read() as repo:
            record = repo.get_access_key(company["key"])
        assert record is not None
        return record.key.last_used_date

    for second in range(100):
        directory.note_key_used(company["key"], t1 + timedelta(seconds=second))
    assert stored() is None  # nothing written per request
    ticks[0] = 61.0
    writers: list[int] = []
    write = store.write

    def watched_write(*args: Any, **kwargs: Any) -> Any:
        writers.append(threading.get_ident())
        return write(*args, **kwargs)

    store.write = watched_write  # type: ignore[method-assign]
    directory.note_key_used(company["key"], t1 + timedelta(seconds=100))  # the interval has passed
    deadline = time.monotonic() + 5
    while stored() != t1 + timedelta(seconds=100) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stored() == t1 + timedelta(seconds=100)
    assert writers and threading.get_ident() not in writers  # not on the request's thread (an event loop)
    store.write = write  # type: ignore[method-assign]
    directory.note_key_used(company["key"], t1)  # older: never moves backwards
    directory.flush()
    assert stored() == t1 + timedelta(seconds=100)
    directory.note_key_used(company["key"], t1 + timedelta(hours=1))
    directory.close()
    assert stored() == t1 + timedelta(hours=1)
    assert store.change_counter() == counter  # bookkeeping drops no snapshot


def test_a_forked_worker_flushes_although_it_inherited_the_parents_flusher(
    store: Store, company: dict[str, str]
) -> None:
    ticks = [0.0]
    directory = Directory(store, flush_interval=60, monotonic=lambda: ticks[0])
    # What a worker forked while the parent's flush ran inherits: the record of a thread it does not have.
    directory._flusher, directory._flusher_pid = threading.Thread(target=lambda: None), -1
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    ticks[0] = 61.0
    directory.note_key_used(company["key"], when)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with store.read() as repo:
            record = repo.get_access_key(company["key"])
        if record is not None and record.key.last_used_date == when:
            break
        time.sleep(0.01)
    assert record is not None and record.key.last_used_date == when
    directory.close()


def test_service_reports_last_used_including_the_pending_batch(
    svc: RamService, company: dict[str, str]
) -> None:
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert svc.get_access_key_last_used(company["acct"], company["key"]) is None
    svc.directory.note_key_used(company["key"], when)
    assert svc.get_access_key_last_used(company["acct"], company["key"]) == when


def test_unknown_keys_are_cached_in_bounded_memory(store: Store, company: dict[str, str]) -> None:
    directory = Directory(store, max_entries=5, refresh_interval=3600)
    for n in range(50):
        assert directory.signing_key(f"LTAIunknown{n:013d}") is None
        assert directory.cached_entries <= 5
    assert directory.cached_entries == 5
    assert directory.signing_key(company["key"]) is not None


@pytest.mark.parametrize("text", ["LTAI\x00x", "\x00", "LTAI\udc80x"])
def test_a_lookup_of_text_no_store_can_hold_finds_nothing(
    svc: RamService, company: dict[str, str], text: str
) -> None:
    """Lookups on the request path take what an unauthenticated caller sent (an AccessKeyId, a user name):
    a NUL or a lone surrogate finds nothing on every backend, instead of a PostgreSQL DataError (a 503 for
    what is bad input)."""
    directory = svc.directory
    acct = company["acct"]
    assert directory.signing_key(text) is None
    with expect_code("EntityNotExist.User"):
        directory.principal_for_user(acct, text)
    assert directory.password_changed(acct, text) is None
    assert directory.mfa_bound_since(acct, text) is None
    assert directory.role(acct, text) is None
    assert directory.role_revocation(acct, text) is None
    assert directory.signing_key(company["key"]) is not None  # the store still answers
