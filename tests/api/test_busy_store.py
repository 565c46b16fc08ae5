"""A control-plane write kept waiting for the store answers 503 before the SDK gives up, writing nothing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]

from ram_middleware.api.app import CALL_BUDGET

from .conftest import start_live
from .live import Live, fails, ram_client

SDK_READ_TIMEOUT = 10.0  # seconds: the official SDKs' default (tests/api/live.py configures the same)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("busy")


@pytest.fixture(scope="module")
def live(directory: Path) -> Iterator[Live]:
    # The guard in a file of its own: a lock on the store's file then holds up the write, not the nonce claim.
    yield from start_live(str(directory), alias="busy-co", guard_url=f"sqlite:///{directory}/guard.db")


def test_a_write_kept_waiting_answers_503_before_the_sdk_read_timeout(live: Live, directory: Path) -> None:
    admin = ram_client(live, live.admin)
    holder = sqlite3.connect(directory / "ram.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as an operator's sqlite3 shell or a long transaction would
    try:
        began = time.monotonic()
        # Before: the write waited up to 30 s, the SDK gave up at 10 s, and the user appeared afterwards.
        fails("ServiceUnavailable.StoreBusy", 503, admin.create_user, m.CreateUserRequest(user_name="late"))
        waited = time.monotonic() - began
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert CALL_BUDGET - 0.5 < waited < SDK_READ_TIMEOUT - 1.0
    time.sleep(0.5)  # a write still waiting for the lock would land now
    fails("EntityNotExist.User", 404, admin.get_user, m.GetUserRequest(user_name="late"))
    # The SDK's retry (or the caller's) then creates the user exactly once.
    created = admin.create_user(m.CreateUserRequest(user_name="late")).body.user
    assert created.user_name == "late"
