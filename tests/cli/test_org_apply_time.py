"""How long ``ram apply`` holds the store's write lock: new console passwords are hashed before its
transaction opens, a transaction cut for running too long says so, and one whose commit answer is lost
reports what the store learnt became of it.

Runs on SQLite and on PostgreSQL (a schema of its own; skipped without a server, failed under CI=true).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ram_middleware import config, errors
from ram_middleware.credentials.password import hash_password
from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import SqliteStore, Store, open_store, sqlite_path
from tests.scaleout.servers import pg_schema_url, require_shared_postgres
from tests.scaleout.stall_proxy import CommitFault, StallProxy

from .conftest import CLEAN_ENV, Ram, dump, write_json

BOUND = 0.5  # how long a request-path write of another instance waits for the write lock, in seconds


def hashes_that_take(seconds: float) -> int:
    """How many new console logons take ``seconds`` to hash on this machine (at least 6)."""
    began = time.monotonic()
    hash_password("Aa1!calibration")
    return max(6, math.ceil(seconds / (time.monotonic() - began)))


def console_users(count: int) -> dict[str, object]:
    return {
        "Groups": [{"GroupName": "staff"}],
        "Users": [{"UserName": f"new{i}", "Console": True, "Groups": ["staff"]} for i in range(count)],
    }


def another_instance(url: str, store: Store) -> Store:
    """The same store opened again (another instance) whose request-path writes wait ``BOUND`` at most."""
    if url.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(url), box=store.box, request_budget=BOUND)
    from ram_middleware.store.postgres import PostgresStore, split_store_options  # the postgres extra

    return PostgresStore(split_store_options(url)[0], box=store.box, read_timeout=BOUND, listen=False)


def test_console_logons_elsewhere_are_not_refused_while_many_new_console_logons_are_applied(
    store_ram: Ram, tmp_path: Path
) -> None:
    # Hashing them all takes 4 times as long as a logon's bookkeeping write waits for the lock: inside the
    # transaction, that write would be refused (503); outside it, the transaction is store work only.
    count = hashes_that_take(4 * BOUND)
    path = write_json(tmp_path / "o.json", console_users(count))
    other = RamService(another_instance(store_ram.url, store_ram.service.store))
    refused: list[errors.RAMError] = []
    logons = 0
    applying = threading.Event()

    def log_on_meanwhile() -> None:
        nonlocal logons
        while applying.is_set():
            try:
                other.record_logon(store_ram.account_id, "A")  # what a console logon writes
                logons += 1
            except errors.RAMError as exc:
                refused.append(exc)
            time.sleep(0.01)

    applying.set()
    meanwhile = threading.Thread(target=log_on_meanwhile)
    meanwhile.start()
    try:
        applied = store_ram.json("apply", path, "--yes")
    finally:
        applying.clear()
        meanwhile.join()
        other.store.close()
    assert refused == [] and logons > 0
    assert applied["Failed"] is None and len(applied["Secrets"]) == count
    assert store_ram.json("apply", path, "--yes") == {"Plan": [], "Applied": []}


@dataclass
class SmallBound:
    ram: Ram
    proxy: StallProxy
    direct_url: str  # the database without the proxy


@pytest.fixture
def small_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallBound]:
    """``ram`` on PostgreSQL through a proxy, its write transactions cut after 1.4 s: ``busy_budget`` 0.2 s
    + ``ram_read_timeout`` 0.2 s + 1 s (the defaults give 36 s)."""
    require_shared_postgres()
    monkeypatch.setattr(config, "open_store", functools.partial(open_store, busy_budget=0.2))
    key = generate_key()
    with pg_schema_url() as url, StallProxy(("127.0.0.1", 5432)) as proxy:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        store = open_store(url, master_keys=[key], env={})
        try:
            service = RamService(store)
            account = service.create_account(None).account_id
            env = {**CLEAN_ENV, "RAM_MASTER_KEY": key, "RAM_GUARD_URL": f"sqlite:///{tmp_path}/guard.db"}
            url_of_ram = f"{through}&ram_read_timeout=0.2&ram_listen=0"
            yield SmallBound(Ram(url_of_ram, account, service, CliRunner(), env), proxy, url)
        finally:
            store.close()


def test_many_new_console_logons_fit_in_a_transaction_shorter_than_their_hashing(
    small_bound: SmallBound, tmp_path: Path
) -> None:
    ram = small_bound.ram
    count = hashes_that_take(3 * 1.4)
    applied = ram.json("apply", write_json(tmp_path / "o.json", console_users(count)), "--yes")
    assert applied["Failed"] is None and len(applied["Secrets"]) == count
    profile = ram.service.get_login_profile(ram.account_id, f"new{count - 1}")
    assert profile.password_reset_required
    password = applied["Secrets"][f"initial password of new{count - 1}"]["Password"]
    assert ram.service.verify_login_password(ram.account_id, f"new{count - 1}", password) == profile


def test_an_apply_cut_for_running_too_long_says_so_and_applies_nothing(
    small_bound: SmallBound, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ram, proxy = small_bound.ram, small_bound.proxy
    path = write_json(tmp_path / "o.json", console_users(8))
    before = dump(small_bound.direct_url)

    def slow_link_once_approved(*args: object, **kwargs: object) -> bool:
        # From now on every round trip takes 0.1 s: the transaction's ~40 take about 4 s.
        proxy.slow(0.05)
        return True

    monkeypatch.setattr(click, "confirm", slow_link_once_approved)
    failed = ram("apply", path)
    assert failed.exit_code == 1, failed.output
    assert (
        "The apply took longer than 1.4 s, the store's bound for one transaction, and was rolled back. "
        "Nothing was applied: the account is as it was before. Split the file" in failed.stderr
    )
    assert (
        "Error: ServiceUnavailable.StoreTimeout: The store transaction did not finish within its bound of "
        "1.4 s (it ran too long, or the database stopped answering) and was rolled back" in failed.stderr
    )
    assert "unreachable" not in failed.output and "Password=" not in failed.output
    assert dump(small_bound.direct_url) == before


def _break_the_commit_once_approved(proxy: StallProxy, fault: CommitFault) -> Callable[..., bool]:
    """A ``click.confirm`` that approves and arms ``fault`` for the apply's commit (the store is open now)."""

    def confirm(*args: object, **kwargs: object) -> bool:
        proxy.at_commit(fault)
        return True

    return confirm


def test_an_apply_whose_commit_answer_is_lost_but_committed_succeeds(
    small_bound: SmallBound, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ram, proxy = small_bound.ram, small_bound.proxy
    monkeypatch.setattr(click, "confirm", _break_the_commit_once_approved(proxy, "lose_answer"))
    applied = ram("apply", write_json(tmp_path / "o.json", console_users(2)))
    assert applied.exit_code == 0, applied.output
    assert "initial password of new1" in applied.stdout
    assert [user.user_name for user in ram.service.list_users(ram.account_id).items] == ["new0", "new1"]


def test_an_apply_whose_commit_was_rolled_back_says_nothing_was_applied(
    small_bound: SmallBound, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ram, proxy = small_bound.ram, small_bound.proxy
    before = dump(small_bound.direct_url)
    monkeypatch.setattr(click, "confirm", _break_the_commit_once_approved(proxy, "reset_before"))
    failed = ram("apply", write_json(tmp_path / "o.json", console_users(2)))
    assert failed.exit_code == 1, failed.output
    assert "The store's commit failed and was rolled back. Nothing was applied" in failed.stderr
    assert "unknown" not in failed.output and "Password=" not in failed.output
    assert dump(small_bound.direct_url) == before
