"""A write whose COMMIT answer is lost (a reset connection, a deadline cut at the commit): the PostgreSQL
store asks the server what became of the transaction, so that a committed write succeeds and a rolled back
one says a retry is safe; only when the server cannot tell is the outcome unknown."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ram_middleware import errors
from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store, postgres
from ram_middleware.store.postgres import _STATUS_PATIENCE, PostgresStore
from tests.scaleout.servers import PostgresCluster, _pg_bin, free_port, pg_schema_url, require_shared_postgres
from tests.scaleout.stall_proxy import StallProxy

pytestmark = pytest.mark.postgres

KEY = generate_key()
# Through the proxy: a write is cut busy_budget + read_timeout + 1 s = 2.5 s in.
BOUND = 2.5


class Setup:
    """A store reached through a :class:`StallProxy`, a service on it, an account, and the changes heard."""

    def __init__(self, store: PostgresStore, proxy: StallProxy) -> None:
        self.store, self.proxy = store, proxy
        self.service = RamService(store)
        self.account = self.service.create_account().account_id
        self.heard: list[int] = []
        store.subscribe(self.heard.append)

    def user_names(self) -> list[str]:
        return [user.user_name for user in self.service.list_users(self.account).items]


@pytest.fixture(params=["pg13", "pg10"])
def setup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """Each test twice: with the functions of PostgreSQL 13 and later, and with those of 10 to 12 (which
    later servers still have) as the store uses them on an older server."""
    require_shared_postgres()
    if request.param == "pg10":
        monkeypatch.setattr(postgres, "_XID_13", postgres._XID_OLD)
    with pg_schema_url() as url, StallProxy(("127.0.0.1", 5432)) as proxy:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        store = open_store(through + "&ram_read_timeout=0.5&ram_listen=0", master_keys=[KEY], busy_budget=1)
        assert isinstance(store, PostgresStore)
        try:
            yield Setup(store, proxy)
        finally:
            store.close()


def test_a_reset_as_the_commit_answer_comes_back_is_a_success_written_once(setup: Setup) -> None:
    setup.service.create_user(setup.account, "alice")
    counter = setup.heard[-1]
    after: list[str] = []
    setup.proxy.at_commit("lose_answer")
    with setup.store.write() as repo:
        assert repo.get_user(setup.account, "alice") is not None
        setup.store.after_commit(lambda: after.append("ran"))
        new = setup.service.create_access_key(setup.account, "alice")  # joins this transaction
    assert after == ["ran"]  # the after-commit steps ran, and the change was announced
    assert setup.heard[-1] == counter + 1
    assert [key.access_key_id for key in setup.service.list_access_keys(setup.account, "alice")] == [
        new.key.access_key_id
    ]
    setup.proxy.at_commit("lose_answer")
    setup.service.create_user(setup.account, "bob")
    assert setup.user_names() == ["alice", "bob"]


def test_a_reset_before_the_commit_reached_the_server_says_nothing_was_written(setup: Setup) -> None:
    setup.proxy.at_commit("reset_before")
    with pytest.raises(errors.ServiceUnavailable) as caught:
        setup.service.create_user(setup.account, "alice")
    assert caught.value.status == 503 and caught.value.detail == {"committed": False}
    assert "rolled back: nothing of it was written" in caught.value.message
    assert setup.user_names() == []
    setup.service.create_user(setup.account, "alice")  # the retry the error invites
    assert setup.user_names() == ["alice"]


def test_a_commit_still_in_progress_on_the_server_leaves_the_outcome_unknown(setup: Setup) -> None:
    # The client's connection is reset; the server's session stays open, its transaction in progress.
    setup.proxy.at_commit("orphan")
    started = time.monotonic()
    with pytest.raises(errors.ServiceUnavailable) as caught:
        setup.service.create_user(setup.account, "alice")
    assert time.monotonic() - started < _STATUS_PATIENCE + 1
    assert caught.value.code == "ServiceUnavailable" and "committed" not in caught.value.detail
    assert "unreachable" in caught.value.message


def test_a_commit_cut_by_the_deadline_is_a_success_if_the_server_committed_it(setup: Setup) -> None:
    setup.proxy.at_commit("hold_answer")  # the commit happens; its answer never comes
    started = time.monotonic()
    setup.service.create_user(setup.account, "alice")
    assert BOUND <= time.monotonic() - started < BOUND + 1.5
    assert setup.user_names() == ["alice"]


def test_a_commit_cut_by_the_deadline_with_the_server_gone_silent_stays_unknown(setup: Setup) -> None:
    setup.proxy.at_commit("stall")  # the whole database stops answering as the COMMIT goes out
    started = time.monotonic()
    with pytest.raises(errors.StoreTimeout) as caught:
        setup.service.create_user(setup.account, "alice")
    # The cut, then the status check (bounded like a read: read_timeout + 1 s) finds no answer.
    assert time.monotonic() - started < BOUND + 1.5 + 1
    assert caught.value.detail == {"seconds": BOUND, "committed": None}
    assert "whether it was written is unknown" in caught.value.message


# --- a failover between the COMMIT and the question ------------------------------------------------------


class _FailingOver(StallProxy):
    """A proxy that, as the next write's COMMIT goes out, crashes the primary (the COMMIT never reaches it)
    and sends every later connection to the port ``standby``: as a failover to a promoted replica does."""

    def __init__(self, primary: PostgresCluster, standby: int) -> None:
        super().__init__(("127.0.0.1", primary.port))
        self.primary, self.standby = primary, standby
        self._once = threading.Lock()  # one failover, whichever pump sees a COMMIT first
        # Set once the primary's stop has returned: pg_ctl goes on polling its data directory after the
        # server is gone, and the test must not remove that directory under it.
        self.failed_over = threading.Event()

    def _commit_fault(self, source: socket.socket, sink: socket.socket, data: bytes) -> bool:
        armed = self._fault == "reset_before" and source in self._writing and b"COMMIT" in data
        if armed and self._once.acquire(blocking=False):
            self.target = ("127.0.0.1", self.standby)  # first: the pool reconnects as the primary goes
            try:
                self.primary.stop()  # every pooled connection to it dies with it
            finally:
                self.failed_over.set()
        return super()._commit_fault(source, sink, data)


def _promoted_replica(primary: PostgresCluster) -> tuple[Path, int]:
    """A replica of ``primary`` (``pg_basebackup``), started and promoted at once: a new timeline, which
    misses every later commit of the primary. Its data directory and port."""
    port, data = free_port(), primary.root / "replica"
    pg_ctl = _pg_bin("pg_ctl")
    primary._run(_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(data), "-R", "-X", "stream")  # fmt: skip
    options = f"-p {port} -k {primary.root} -c listen_addresses=127.0.0.1 -c fsync=off"
    primary._run(
        pg_ctl, "-D", str(data), "-o", options, "-l", str(primary.root / "replica.log"), "-w", "start"
    )
    primary._run(pg_ctl, "-D", str(data), "-w", "promote")
    return data, port


def _xid(url: str) -> int:
    """A new transaction id, used and committed, on the server at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
def test_an_id_a_promoted_replica_gave_another_transaction_is_not_taken_for_ours() -> None:
    """After a failover to a replica that missed the write, the write's transaction id may already name
    another transaction there, which committed: the write must not be reported as done."""
    cluster = PostgresCluster()
    replica: Path | None = None
    try:
        cluster.start()
        replica, port = _promoted_replica(cluster)
        replica_url = cluster.url.replace(f":{cluster.port}/", f":{port}/", 1)
        with _FailingOver(cluster, port) as proxy:
            through = cluster.url.replace(f":{cluster.port}/", f":{proxy.port}/", 1)
            store = open_store(
                through + "?ram_read_timeout=0.5&ram_listen=0", master_keys=[KEY], busy_budget=1
            )
            try:
                service = RamService(store)
                account = service.create_account().account_id
                # The new primary hands out (and commits) the ids the old one gives next.
                upto = _xid(cluster.url) + 50
                while _xid(replica_url) < upto:
                    pass
                proxy.at_commit("reset_before")
                with pytest.raises(errors.ServiceUnavailable) as caught:
                    service.create_user(account, "alice")  # written nowhere
                assert "committed" not in caught.value.detail  # unknown: neither done nor surely undone
                assert proxy.failed_over.wait(30)  # before anything is torn down
            finally:
                store.close()
    finally:
        if replica is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                cluster._run(_pg_bin("pg_ctl"), "-D", str(replica), "-m", "immediate", "-w", "stop")
        cluster.destroy()
