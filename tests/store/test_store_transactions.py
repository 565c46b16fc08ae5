"""Transactions: all or nothing, change counter and notifications, busy retry."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.identity import Account, User
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.sql import STORE_CLOSED
from ram_middleware.store.sqlite import SqliteStore

from .backends import expect_code

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
ACCOUNT = "1234567890123456"


def _user(name: str, user_id: str) -> User:
    return User(ACCOUNT, user_id, name, create_date=NOW, update_date=NOW)


class Boom(Exception):
    pass


def test_a_failed_write_leaves_nothing_and_announces_nothing(store: Store) -> None:
    heard: list[int] = []
    store.subscribe(heard.append)
    with pytest.raises(Boom), store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
        repo.insert_user(_user("alice", "1"))
        raise Boom
    with store.read() as repo:
        assert repo.get_account(ACCOUNT) is None
        assert repo.get_user_by_id("1") is None
    assert store.change_counter() == 0
    assert heard == []


def test_after_commit_runs_once_the_outermost_transaction_commits_and_never_after_a_rollback(
    store: Store,
) -> None:
    ran: list[str] = []

    def seen(name: str) -> Callable[[], None]:
        def callback() -> None:
            with store.read() as repo:  # the write is visible (committed) when the callback runs
                ran.append(f"{name}:{repo.get_account(ACCOUNT) is not None}")

        return callback

    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
        with store.write():  # a nested write joins the outer transaction, and so do its callbacks
            store.after_commit(seen("inner"))
        assert ran == []
    assert ran == ["inner:True"]
    with pytest.raises(Boom), store.write() as repo:
        repo.insert_user(_user("alice", "1"))
        store.after_commit(seen("rolled back"))
        raise Boom
    store.after_commit(seen("outside"))  # no transaction: at once
    assert ran == ["inner:True", "outside:True"]


def test_each_announced_write_bumps_the_counter_and_tells_subscribers(store: Store) -> None:
    heard: list[int] = []
    unsubscribe = store.subscribe(heard.append)
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
    with store.write() as repo:
        repo.insert_user(_user("alice", "1"))
    assert heard == [1, 2]
    assert store.change_counter() == 2
    unsubscribe()
    with store.write() as repo:
        repo.insert_user(_user("bob", "2"))
    assert heard == [1, 2]
    assert store.change_counter() == 3


def test_bookkeeping_writes_commit_without_bumping_the_counter(store: Store) -> None:
    heard: list[int] = []
    store.subscribe(heard.append)
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
        repo.insert_user(_user("alice", "1"))
    with store.write(announce=False) as repo:
        repo.set_user_last_login("1", NOW)
    with store.read() as repo:
        found = repo.get_user_by_id("1")
    assert found is not None and found.last_login_date == NOW
    assert heard == [1]
    assert store.change_counter() == 1


def test_nested_transactions_join_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom), store.write() as outer:
        outer.insert_account(Account(ACCOUNT, None, NOW))
        with store.write() as inner:
            inner.insert_user(_user("alice", "1"))
        with store.read() as reader:
            assert reader.get_user_by_id("1") is not None  # sees the outer transaction's rows
        raise Boom
    with store.read() as repo:
        assert repo.list_accounts() == []
    with store.write(announce=False) as outer, store.write() as inner:
        inner.insert_account(Account(ACCOUNT, None, NOW))
    assert store.change_counter() == 1  # the inner announce counts once, at the outer commit


def test_a_write_cannot_start_inside_a_read(store: Store) -> None:
    with pytest.raises(RuntimeError), store.read(), store.write():
        pass
    with store.write() as repo:  # the store is still usable
        repo.insert_account(Account(ACCOUNT, None, NOW))


def test_a_failing_subscriber_does_not_undo_or_fail_the_write(store: Store) -> None:
    def broken(counter: int) -> None:
        raise ValueError(counter)

    heard: list[int] = []
    store.subscribe(broken)
    store.subscribe(heard.append)
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
    assert heard == [1]
    with store.read() as repo:
        assert repo.get_account(ACCOUNT) is not None


def test_threads_share_one_store(store: Store) -> None:
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))

    def create(start: int) -> None:
        for i in range(start, start + 25):
            with store.write() as repo:
                repo.insert_user(_user(f"user{i}", str(i)))

    threads = [threading.Thread(target=create, args=(n * 100,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as repo:
        assert repo.count_users(ACCOUNT) == 100
    assert store.change_counter() == 101


def _hold_write_lock(path: Path, seconds: float, started: threading.Event) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    raw.execute("COMMIT")
    raw.close()


@contextmanager
def _store_while_locked(tmp_path: Path, seconds: float, busy_budget: float) -> Iterator[Store]:
    """A store on ``tmp_path/ram.db`` while another connection holds the write lock for ``seconds``."""
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={}, busy_budget=busy_budget)
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "ram.db", seconds, started))
    holder.start()
    try:
        started.wait()
        yield store
    finally:
        holder.join()
        store.close()


def test_a_busy_database_is_retried_until_the_lock_is_released(tmp_path: Path) -> None:
    with _store_while_locked(tmp_path, 0.6, busy_budget=10.0) as store:
        began = time.monotonic()
        with store.write() as repo:
            repo.insert_account(Account(ACCOUNT, None, NOW))
        waited = time.monotonic() - began
        assert 0.4 < waited < 5.0
        with store.read() as repo:
            assert repo.get_account(ACCOUNT) is not None


def test_store_busy_only_after_the_retry_budget(tmp_path: Path) -> None:
    with _store_while_locked(tmp_path, 2.0, busy_budget=0.5) as store:
        began = time.monotonic()
        with expect_code("ServiceUnavailable.StoreBusy"), store.write() as repo:
            repo.insert_account(Account(ACCOUNT, None, NOW))
        assert time.monotonic() - began >= 0.5
        # Readers are never blocked by a writer (WAL).
        with store.read() as repo:
            assert repo.get_account(ACCOUNT) is None


def _timed(call: Callable[[], object]) -> tuple[int, float]:
    """(HTTP status the caller would get: 200, or the error's, and the seconds ``call`` took)."""
    began = time.monotonic()
    try:
        call()
        status = 200
    except errors.RAMError as exc:
        status = exc.status
    return status, time.monotonic() - began


def test_many_admin_writes_each_wait_their_own_budget_and_reads_are_not_held_up(tmp_path: Path) -> None:
    """More writers than the pool has connections wait out a lock held elsewhere: each gets its 503 within its
    own busy_budget (none waits for another's turn first), and reads meanwhile answer at once."""

    def write(i: int) -> None:
        with store.write() as repo:
            repo.insert_account(Account(f"{i:016d}", None, NOW))

    with _store_while_locked(tmp_path, 6.0, busy_budget=2.0) as store:
        writes: list[tuple[int, float]] = []
        writers = [
            threading.Thread(target=lambda i=i: writes.append(_timed(lambda: write(i)))) for i in range(24)
        ]
        for writer in writers:
            writer.start()
        time.sleep(0.2)
        read = _timed(store.change_counter)
        for writer in writers:
            writer.join()  # before the store closes, whatever the outcome
    assert read[0] == 200 and read[1] < 1.0
    assert [status for status, _ in writes] == [503] * 24
    assert max(seconds for _, seconds in writes) < 3.5  # busy_budget 2 s; before, up to 3 budgets in a row


def test_a_request_path_write_is_refused_within_seconds_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    """The console's TOTP check writes the accepted step: while the file is locked elsewhere it answers 503
    within the request path's bound (2 s), not the administrative 30 s, and accepts nothing meanwhile."""
    store = open_store(f"sqlite:///{tmp_path}/ram.db", env={})  # the defaults
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "alice")
    device = svc.create_virtual_mfa_device(account, "alice-phone")
    step = time_step(datetime.now(UTC))
    seed = device.base32_seed
    svc.bind_mfa_device(
        account, device.device.serial_number, "alice", code_at(seed, step - 1), code_at(seed, step)
    )
    store.close()
    with _store_while_locked(tmp_path, 12.0, busy_budget=30.0) as locked:
        status, seconds = _timed(
            lambda: RamService(locked).verify_mfa_code(account, "alice", code_at(seed, step + 1))
        )
    assert status == 503 and seconds < 5.0  # before: it waited the 12 s out, then accepted the code
    reopened = open_store(f"sqlite:///{tmp_path}/ram.db", env={})
    try:
        RamService(reopened).verify_mfa_code(account, "alice", code_at(seed, step + 1))  # still unused
    finally:
        reopened.close()


def test_a_closed_store_refuses_reads_and_writes(store: Store, tmp_path: Path) -> None:
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))
    store.close()
    for call in (store.change_counter, lambda: store.write().__enter__()):
        with pytest.raises(errors.ServiceUnavailable) as refused:
            call()
        assert (refused.value.status, refused.value.message) == (503, STORE_CLOSED)
    assert not any(path.name.endswith("-wal") for path in tmp_path.iterdir())  # the file was not reopened


def test_closing_a_sqlite_store_during_a_read_lets_it_finish_then_keeps_no_connection(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/ram.db")
    assert isinstance(store, SqliteStore)
    with store.read() as repo:
        store.close()  # another thread shutting the app down while this read runs
        assert repo.get_account(ACCOUNT) is None  # its connection is closed once this read is done with it
    assert store._pool._idle == [] and store._pool._every == []  # closed, not handed back for reuse
    with pytest.raises(errors.ServiceUnavailable) as refused:
        store.read().__enter__()
    assert refused.value.message == STORE_CLOSED
    assert not any(path.name.endswith("-wal") for path in tmp_path.iterdir())  # the last close removed it
