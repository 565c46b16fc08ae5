"""A store whose change counter row is gone (an operator's clean-up, a partial restore) fails closed.

Reads already refuse it (``ServiceUnavailable``); writes must too: the row is what a PostgreSQL write
locks to be the only writer, and what every announced write counts on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from ram_middleware import errors
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.sql import SqlRepository

from .backends import open_backend


def _drop_the_change_counter(store: Store) -> None:
    with store.write(announce=False) as repo:
        cast(SqlRepository, repo)._exec("DELETE FROM ram_changes")


def _outcome(run: Callable[[], object]) -> str:
    try:
        run()
    except errors.RAMError as exc:
        return exc.code
    return "ok"


def test_an_announced_write_is_a_503_and_writes_nothing(store: Store) -> None:
    svc = RamService(store)
    account = svc.create_account().account_id
    _drop_the_change_counter(store)
    assert _outcome(lambda: svc.create_user(account, "alice")) == "ServiceUnavailable"
    assert svc.list_users(account).items == ()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Store]:
    yield from open_backend("postgres", tmp_path)


def test_a_postgres_store_without_it_accepts_no_mfa_code_twice(postgres: Store) -> None:
    """Two checks of one code at once: without the writer lock the second read the step the first had not
    committed yet, and both were accepted."""
    svc = RamService(postgres)
    account = svc.create_account().account_id
    svc.create_user(account, "alice")
    device = svc.create_virtual_mfa_device(account, "alice-phone")
    seed, step = device.base32_seed, time_step(datetime.now(UTC))
    serial = device.device.serial_number
    svc.bind_mfa_device(account, serial, "alice", code_at(seed, step - 1), code_at(seed, step))
    _drop_the_change_counter(postgres)
    code = code_at(seed, step + 1)
    checked = threading.Event()
    outcomes: list[str] = []

    def first() -> None:
        def check_then_hold() -> None:
            with postgres.write(announce=False):
                svc.verify_mfa_code(account, "alice", code)
                checked.set()
                time.sleep(0.5)  # not committed yet while the second check runs

        outcomes.append(_outcome(check_then_hold))
        checked.set()

    def second() -> None:
        checked.wait(10)
        outcomes.append(_outcome(lambda: svc.verify_mfa_code(account, "alice", code)))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert outcomes.count("ok") <= 1, outcomes
    assert set(outcomes) <= {"ok", "ServiceUnavailable", "InvalidAuthenticationCode"}, outcomes
