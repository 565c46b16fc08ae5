"""What only the PostgreSQL store has: the writer lock, migrations under concurrency, LISTEN/NOTIFY
propagation and its recovery, URL options, and fail-closed opening. (The shared behaviour runs in
tests/store against every backend.)"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.crypto import MasterKeyError, generate_key
from ram_middleware.identity import Account, SigningKey
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory
from ram_middleware.store.pg_listen import ChangeListener
from ram_middleware.store.postgres import _OPTIONS, PostgresStore, redacted_conninfo, split_store_options
from ram_middleware.store.schema import SCHEMA_VERSION
from ram_middleware.store.sql import SqlRepository
from tests.forking import fork
from tests.scaleout.servers import SHARED_PG, pg_schema_url, require_shared_postgres
from tests.scaleout.stall_proxy import StallProxy

pytestmark = pytest.mark.postgres

KEY = generate_key()
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture()
def url() -> Iterator[str]:
    require_shared_postgres()
    with pg_schema_url() as schema_url:
        yield schema_url


@pytest.fixture()
def pair(url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database, as two instances would hold them."""
    first = open_store(url, master_keys=[KEY])
    second = open_store(url, master_keys=[KEY])
    yield first, second
    first.close()
    second.close()


def test_a_write_on_one_store_reaches_the_other_within_milliseconds(pair: tuple[Store, Store]) -> None:
    first, second = pair
    heard: list[tuple[int, float]] = []
    arrived = threading.Event()

    def hear(counter: int) -> None:
        heard.append((counter, time.perf_counter()))
        arrived.set()

    second.subscribe(hear)
    started = time.perf_counter()
    with first.write() as repo:
        repo.insert_account(Account("1234567890123456", None, NOW))
    assert arrived.wait(2.0)
    print(f"\nNOTIFY from one store to another: {(heard[0][1] - started) * 1000:.1f} ms")
    assert heard[0][0] == 1
    assert second.change_counter() == 1
    # Bookkeeping writes stay silent everywhere.
    with first.write(announce=False) as repo:
        repo.put_setting("1234567890123456", "x", "y")
    time.sleep(0.3)
    assert [c for c, _ in heard] == [1]


def test_a_directory_on_another_store_drops_its_snapshot_at_once(pair: tuple[Store, Store]) -> None:
    first, second = pair
    admin = RamService(first)
    account = admin.create_account().account_id
    admin.create_user(account, "alice")
    key = admin.create_access_key(account, "alice").key.access_key_id
    # A long refresh interval: only the pushed notification can make the change visible this fast.
    directory = Directory(second, refresh_interval=3600)
    assert directory.signing_key(key) is not None
    admin.delete_user(account, "alice", force=True)
    started = time.perf_counter()
    while directory.signing_key(key) is not None:
        assert time.perf_counter() - started < 1.0
        time.sleep(0.002)
    took = (time.perf_counter() - started) * 1000
    print(f"\ndeleted user's key gone from the other store's Directory after {took:.1f} ms")
    directory.close()


def _listener_pids(admin: psycopg.Connection[tuple[object, ...]], store: PostgresStore) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (f"ram-listen {store.channel}",)
    ).fetchall()
    return [int(str(r[0])) for r in rows]


def test_a_killed_listener_connection_resubscribes_and_reloads(pair: tuple[Store, Store]) -> None:
    first, second = pair
    assert isinstance(first, PostgresStore) and isinstance(second, PostgresStore)
    heard: list[int] = []
    second.subscribe(heard.append)
    with psycopg.connect(SHARED_PG, autocommit=True) as admin:
        before = set(_listener_pids(admin, second))
        assert len(before) == 2  # one listener per store object (both stores share the channel)
        for pid in before:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Written while the listeners are reconnecting: its NOTIFY may reach nobody.
        with first.write() as repo:
            repo.insert_account(Account("1234567890123456", None, NOW))
        deadline = time.monotonic() + 5.0
        while 1 not in heard:
            assert time.monotonic() < deadline, "the change made during the gap never reached the subscriber"
            time.sleep(0.01)
        while len(set(_listener_pids(admin, second)) - before) < 2:
            assert time.monotonic() < deadline, "the listeners did not re-subscribe"
            time.sleep(0.01)
    assert second.listening
    assert second.change_counter() == 1


def test_a_database_gone_back_in_time_drops_every_snapshot_and_its_next_writes_are_felt(
    url: str, pair: tuple[Store, Store]
) -> None:
    first, second = pair
    assert isinstance(second, PostgresStore)
    svc = RamService(first)
    account = svc.create_account().account_id
    svc.create_group(account, "dev")
    svc.create_user(account, "ivy")
    svc.add_user_to_group(account, "dev", "ivy")  # the commit the restore below loses
    directory = Directory(second, refresh_interval=0)
    assert directory.principal_for_user(account, "ivy").groups == ("dev",)

    def groups() -> tuple[str, ...] | None:
        try:
            return directory.principal_for_user(account, "ivy").groups
        except errors.ServiceUnavailable:
            return None  # the listener is reconnecting

    def seen(wanted: tuple[str, ...]) -> None:
        deadline = time.monotonic() + 5.0
        while groups() != wanted:
            assert time.monotonic() < deadline, f"the directory still says {groups()}, not {wanted}"
            time.sleep(0.01)

    # A restore (or a failover to a replica) brings back the state before the last commit, counter included;
    # nothing is notified, and every connection to the old server is gone.
    with psycopg.connect(split_store_options(url)[0], autocommit=True) as conn, conn.transaction():
        conn.execute("DELETE FROM ram_memberships")
        conn.execute("UPDATE ram_changes SET counter = counter - 1 WHERE id = 1")
    with psycopg.connect(SHARED_PG, autocommit=True) as admin:
        for pid in _listener_pids(admin, second):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    seen(())
    # The next write reuses the counter value the dropped snapshot had: it is felt all the same.
    svc.add_user_to_group(account, "dev", "ivy")
    seen(("dev",))
    directory.close()


def test_the_listener_counter_goes_stale_after_max_staleness(url: str) -> None:
    now = [0.0]
    heard: list[int] = []
    listener = ChangeListener(
        lambda: psycopg.connect(split_store_options(url)[0], autocommit=True),
        "ram_test_channel",
        heard.append,
        heartbeat=3600,
        max_staleness=5.0,
        monotonic=lambda: now[0],
    )
    store = open_store(url, master_keys=[KEY])  # creates the tables the listener reads
    try:
        assert listener.start(wait=5.0)
        assert listener.fresh_counter() == 0 and heard == [0]
        now[0] = 4.9
        assert listener.fresh_counter() == 0
        now[0] = 5.1  # no contact for longer than the bound: the store must ask the database itself
        assert listener.fresh_counter() is None
    finally:
        listener.stop()
        store.close()
    assert not listener.connected and listener.fresh_counter() is None


def test_a_forked_child_listens_for_itself_and_says_so(url: str, pair: tuple[Store, Store]) -> None:
    writer, store = pair
    assert isinstance(store, PostgresStore) and store.listening
    listener = ChangeListener(
        lambda: psycopg.connect(split_store_options(url)[0], autocommit=True),
        store.channel,
        lambda counter: None,
    )
    assert listener.start(wait=5.0)

    def child_work() -> dict[str, object]:
        # The inherited listener's thread stayed in the parent: it must not claim to be listening here.
        inherited = {"connected": listener.connected, "fresh": listener.fresh_counter()}
        heard: list[tuple[int, float]] = []
        arrived = threading.Event()

        def hear(counter: int) -> None:
            heard.append((counter, time.monotonic()))
            arrived.set()

        store.subscribe(hear)
        listening = store.listening
        arrived.wait(5.0)
        store.close()
        return {"inherited": inherited, "listening": listening, "heard": heard}

    child = fork(child_work)
    time.sleep(0.5)
    written_at = time.monotonic()  # CLOCK_MONOTONIC: one clock for both processes
    with writer.write() as repo:
        repo.insert_account(Account("1234567890123456", None, NOW))
    outcome = child.result()
    try:
        assert outcome["inherited"] == {"connected": False, "fresh": None}
        assert outcome["listening"] is True
        assert [counter for counter, _ in outcome["heard"]] == [1], outcome
        lag = outcome["heard"][0][1] - written_at
        print(f"\nNOTIFY reached the forked child after {lag * 1000:.1f} ms")
        assert lag < 0.5
        # The parent's own listener and pool are untouched by its child (which has closed its store).
        assert listener.connected and store.listening
        assert store.change_counter() == 1
        with store.read() as repo:
            assert repo.get_account("1234567890123456") is not None
    finally:
        listener.stop()


def test_a_database_error_past_the_transaction_is_a_503_not_a_raw_exception(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def commit(self: psycopg.Connection[tuple[object, ...]]) -> None:
        # What a connection whose protocol stream got out of step answers (seen after a fork).
        raise psycopg.errors.InvalidSqlStatementName('prepared statement "_pg3_0" does not exist')

    store = open_store(url, master_keys=[KEY])
    try:
        # The pool's connection context commits on the way back, after the store's own COMMIT.
        monkeypatch.setattr(psycopg.Connection, "commit", commit)
        with pytest.raises(errors.ServiceUnavailable) as caught, store.read() as repo:
            repo.change_counter()
        assert caught.value.status == 503
        assert caught.value.code == "ServiceUnavailable.Store"
        monkeypatch.undo()
        with store.read() as repo:
            assert repo.change_counter() == 0
    finally:
        store.close()


def test_concurrent_opens_of_a_fresh_schema_migrate_exactly_once(url: str) -> None:
    stores: list[Store] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(6)

    def opener() -> None:
        barrier.wait()
        try:
            stores.append(open_store(url, master_keys=[KEY], env={}))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert {s.schema_version() for s in stores} == {SCHEMA_VERSION}
        with stores[0].read() as repo:
            assert repo.change_counter() == 0
    finally:
        for s in stores:
            s.close()


def test_a_schema_newer_than_the_code_is_refused(url: str) -> None:
    open_store(url, master_keys=[KEY]).close()
    conninfo = split_store_options(url)[0]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE ram_schema_version SET version = 99")
    with pytest.raises(errors.ServiceUnavailable) as caught:
        open_store(url, master_keys=[KEY])
    assert caught.value.code == "ServiceUnavailable.Store"


def _open_in_thread(url: str, **options: object) -> tuple[threading.Thread, list[object]]:
    """open_store on a daemon thread (so that a hang cannot hang the suite); its store or error lands in
    the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(open_store(url, master_keys=[KEY], **options))  # type: ignore[arg-type]
        except BaseException as exc:
            outcome.append(exc)

    opener = threading.Thread(target=run, daemon=True)
    opener.start()
    return opener, outcome


def _migration_lock(conn: psycopg.Connection[tuple[object, ...]], url: str) -> None:
    """Take, in ``conn``'s open transaction, the lock an instance migrating ``url``'s schema holds."""
    schema = url.rsplit("%3D", 1)[1]
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x52414D, zlib.crc32(schema.encode()) - 2**31))


def test_an_instance_starting_while_another_holds_the_migration_lock_gives_up_after_the_budget(
    url: str,
) -> None:
    # Another instance stuck mid-migration (frozen, its session still open) must not hang every start after.
    with psycopg.connect(split_store_options(url)[0]) as holder:
        _migration_lock(holder, url)
        started = time.monotonic()
        opener, outcome = _open_in_thread(url, busy_budget=1)
        opener.join(10)
        assert outcome, "opening the store hung on the migration lock"
        assert isinstance(outcome[0], errors.StoreBusy), outcome
        assert "locked" in outcome[0].message and time.monotonic() - started < 3
    with contextlib.closing(open_store(url, master_keys=[KEY], busy_budget=1)) as store:
        assert store.schema_version() == SCHEMA_VERSION  # once the lock is free, the next start migrates


def test_an_instance_whose_server_stops_answering_while_it_migrates_gives_up(url: str) -> None:
    conninfo = split_store_options(url)[0]
    with StallProxy(("127.0.0.1", 5432)) as proxy, psycopg.connect(conninfo) as holder:
        _migration_lock(holder, url)  # holds the opener in its migration until the link is stalled
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        started = time.monotonic()
        opener, outcome = _open_in_thread(through + "&ram_read_timeout=0.5", busy_budget=1)
        deadline = time.monotonic() + 5
        while not holder.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 5390669 AND NOT granted"
        ).fetchone():
            assert time.monotonic() < deadline and opener.is_alive(), outcome
            time.sleep(0.02)
        proxy.stall()  # the server's answer (the lock's timeout) never reaches the opener
        opener.join(10)
        assert outcome, "opening the store hung on a server that stopped answering"
        assert isinstance(outcome[0], errors.ServiceUnavailable), outcome
        assert "did not answer within 2.5 s" in outcome[0].message
        assert time.monotonic() - started < 5


def test_a_held_writer_lock_ends_in_store_busy_after_the_budget(url: str) -> None:
    conninfo, _ = split_store_options(url)
    with contextlib.closing(open_store(url, master_keys=[KEY])) as opened:  # creates the schema
        box = opened.box
    holder = PostgresStore(conninfo, box=box, listen=False)
    impatient = PostgresStore(conninfo, box=box, listen=False, busy_budget=0.3)
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with holder.write() as repo:
            repo.insert_account(Account("1234567890123456", None, NOW))
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        with pytest.raises(errors.StoreBusy), impatient.write() as repo:
            repo.put_setting("1234567890123456", "a", "b")
        assert 0.25 <= time.monotonic() - started < 2.0
    finally:
        release.set()
        thread.join()
        holder.close()
        impatient.close()


def test_racing_admin_calls_in_threads_leave_no_half_state(pair: tuple[Store, Store]) -> None:
    first, second = pair
    services = [RamService(first), RamService(second)]
    account = services[0].create_account().account_id
    services[0].create_group(account, "ops")
    for i in range(20):
        services[0].create_user(account, f"victim{i}")
    services[0].create_user(account, "app")
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(action: str, i: int) -> None:
        svc = services[i % 2]
        try:
            if action == "add":
                svc.add_user_to_group(account, "ops", f"victim{i}")
            elif action == "delete":
                svc.delete_user(account, f"victim{i}", force=True)
            else:
                svc.create_access_key(account, "app")
            code = "ok"
        except errors.RAMError as exc:
            code = exc.code
        with lock:
            outcomes.append(f"{action}:{code}")

    threads = [
        threading.Thread(target=attempt, args=(a, i)) for i in range(20) for a in ("add", "delete", "key")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("key:ok") == 2
    assert outcomes.count("key:LimitExceeded.User.AccessKey") == 18
    assert outcomes.count("delete:ok") == 20
    assert outcomes.count("add:ok") + outcomes.count("add:EntityNotExist.User") == 20
    assert len(services[0].list_access_keys(account, "app")) == 2
    assert services[1].list_users_for_group(account, "ops").items == ()
    assert [u.user_name for u in services[1].list_users(account).items] == ["app"]


def test_url_options_are_split_from_the_libpq_conninfo() -> None:
    conninfo, options = split_store_options(
        "postgresql://u@h:5432/db?ram_max_staleness=2.5&options=-csearch_path%3Dram&ram_pool_size=4&ram_listen=no"
    )
    assert options == {"max_staleness": 2.5, "pool_size": 4, "listen": False}
    assert conninfo == "postgresql://u@h:5432/db?options=-csearch_path%3Dram"
    with pytest.raises(errors.InvalidParameter):
        split_store_options("postgresql://h/db?ram_pool_size=many")


def test_a_number_option_that_is_not_positive_and_finite_is_refused_before_connecting() -> None:
    # float() reads "nan" and "inf": the store failed to open with a bare ValueError (connect timeout), or
    # opened with a change listener reconnecting without pause (max staleness 0 or less).
    refused_options = (
        "ram_connect_timeout=nan", "ram_connect_timeout=inf", "ram_max_staleness=0", "ram_max_staleness=-1",
        "ram_pool_timeout=1e400", "ram_read_timeout=-0", "ram_pool_size=0",
    )  # fmt: skip
    for option in refused_options:
        with pytest.raises(errors.InvalidParameter) as refused:
            open_store(f"postgresql://nobody@127.0.0.1:1/db?{option}", master_keys=[KEY])
        assert refused.value.code == "InvalidParameter.StoreUrl"
        assert option.partition("=")[0] in refused.value.message


_OPTION_VALUES = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "0", "-0", "0.0", "-1", "1", "2.5", "1_0", " 3 "]),
    st.floats().map(repr),
    st.integers(-5, 50).map(str),
    st.text(max_size=6),
)


@given(name=st.sampled_from(sorted(_OPTIONS)), value=_OPTION_VALUES)
def test_a_store_option_is_a_positive_finite_number_or_refused(name: str, value: str) -> None:
    try:
        conninfo, options = split_store_options(f"postgresql://u@h/db?{name}={quote(value)}&sslmode=disable")
    except errors.InvalidParameter as refused:
        assert refused.code == "InvalidParameter.StoreUrl"
        assert _OPTIONS[name] is not bool
        return
    assert conninfo == "postgresql://u@h/db?sslmode=disable"
    parsed = options[name.removeprefix("ram_")]
    assert isinstance(parsed, _OPTIONS[name])
    assert isinstance(parsed, bool) or (isinstance(parsed, int | float) and 0 < parsed < math.inf)


def test_the_password_never_shows(url: str) -> None:
    assert (
        redacted_conninfo("postgresql://ram:s3cret@db.example:5432/ram")
        == "postgresql://ram:***@db.example:5432/ram"
    )
    assert "s3cret" not in redacted_conninfo("host=db password=s3cret dbname=ram")
    store = open_store(url.replace("postgres@", "postgres:unused-pw@"), master_keys=[KEY])
    try:
        assert "unused-pw" not in store.url and "unused-pw" not in repr(store)
    finally:
        store.close()


def test_a_postgres_store_needs_a_shared_master_key(url: str) -> None:
    with pytest.raises(MasterKeyError):
        open_store(url, env={})
    store = open_store(url, env={"RAM_MASTER_KEY": KEY})
    store.close()


def test_a_read_waiting_on_a_locked_table_fails_closed_within_read_timeout(url: str) -> None:
    # An operator's or a migration's ALTER TABLE holds an exclusive lock: reads must not wait for ever.
    store = open_store(url + "&ram_read_timeout=0.5", master_keys=[KEY])
    locker = psycopg.connect(split_store_options(url)[0])
    try:
        locker.execute("LOCK TABLE ram_users IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(errors.RAMError) as refused, store.read() as repo:
            repo.get_user("1234567890123456", "alice")
        assert refused.value.status == 503 and time.monotonic() - started < 3
    finally:
        locker.rollback()
        locker.close()
        store.close()


def test_a_server_that_stops_answering_fails_reads_closed_and_the_listener_notices(url: str) -> None:
    # A frozen server still acknowledges TCP: only the client-side deadline ends the wait.
    with StallProxy(("127.0.0.1", 5432)) as proxy:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        assert through != url
        store = open_store(through + "&ram_read_timeout=0.5&ram_max_staleness=1", master_keys=[KEY])
        try:
            assert isinstance(store, PostgresStore) and store.listening
            proxy.stall()
            started = time.monotonic()
            with pytest.raises(errors.RAMError) as refused, store.read() as repo:
                repo.get_user("1234567890123456", "alice")
            # Cut a second after the read timeout, at once: not after waiting out the pool for another one.
            assert refused.value.status == 503 and time.monotonic() - started < 2.5
            deadline = time.monotonic() + 5
            while store.listening and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not store.listening  # the heartbeat was cut: the store no longer vouches for its feed
            with pytest.raises(errors.ServiceUnavailable):
                store.change_counter()
        finally:
            store.close()


def _two_pooled_sessions(store: Store) -> set[int]:
    """Have the pool open two connections (two reads at once, on two threads); their server pids."""
    pids: set[int] = set()
    inside = threading.Barrier(2, timeout=5)

    def read() -> None:
        with store.read() as repo:
            assert isinstance(repo, SqlRepository)
            pids.add(int(str(repo._one("SELECT pg_backend_pid()")[0])))
            inside.wait()  # both connections are out of the pool at once

    other = threading.Thread(target=read)
    other.start()
    read()
    other.join()
    assert len(pids) == 2
    return pids


def test_pooled_connections_the_server_ended_are_replaced_without_a_wait(url: str) -> None:
    # No listener to notice: as when a proxy or the server ends idle sessions on its own.
    store = open_store(url + "&ram_listen=0&ram_pool_size=2", master_keys=[KEY])
    try:
        pids = _two_pooled_sessions(store)
        with psycopg.connect(SHARED_PG, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        started = time.monotonic()
        with store.read() as repo:
            assert isinstance(repo, SqlRepository)
            assert repo._one("SELECT pg_backend_pid()")[0] not in pids
        # The pool's own check would back off a whole second before trying past the second dead one.
        assert time.monotonic() - started < 0.5
    finally:
        store.close()


def test_a_write_to_a_server_that_stops_answering_fails_closed(url: str) -> None:
    with StallProxy(("127.0.0.1", 5432)) as proxy:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        store = open_store(through + "&ram_read_timeout=0.5&ram_listen=0", master_keys=[KEY], busy_budget=1)
        try:
            service = RamService(store)
            account = service.create_account().account_id
            proxy.stall()
            started = time.monotonic()
            with pytest.raises(errors.RAMError) as refused:
                service.create_user(account, "frozen")
            assert refused.value.status == 503 and time.monotonic() - started < 5  # busy_budget + 1.5 s
        finally:
            store.close()


def test_a_lookup_is_one_bounded_read_only_transaction(url: str) -> None:
    store = open_store(url + "&ram_read_timeout=0.5", master_keys=[KEY])
    try:
        with store.lookup() as repo:
            assert isinstance(repo, SqlRepository)
            settings = repo._one(
                "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), "
                "current_setting('statement_timeout'), current_setting('lock_timeout')"
            )
            assert tuple(settings) == ("repeatable read", "on", "500ms", "500ms")
            with pytest.raises(RuntimeError):
                repo.change_counter()  # a second statement would need a transaction of its own
        with pytest.raises(errors.RAMError) as refused, store.lookup() as repo:
            repo.insert_account(Account("1234567890123456", None, datetime.now(UTC)))
        assert refused.value.status == 503
        with store.lookup() as repo:  # the connection was left clean
            assert repo.user_with_groups("1234567890123456", "alice").value is None
        assert store.schema_version() == SCHEMA_VERSION
    finally:
        store.close()


def test_a_lookup_waiting_on_a_locked_table_fails_closed_and_its_connection_recovers(url: str) -> None:
    # One pooled connection: the lookup after the failed one runs on the same connection.
    store = open_store(url + "&ram_read_timeout=0.5&ram_pool_size=1", master_keys=[KEY])
    service = RamService(store)
    locker = psycopg.connect(split_store_options(url)[0])
    try:
        account = service.create_account().account_id
        service.create_user(account, "alice")
        locker.execute("LOCK TABLE ram_users IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(errors.RAMError) as refused, store.lookup() as repo:
            repo.user_with_groups(account, "alice")
        assert refused.value.status == 503 and time.monotonic() - started < 3
        locker.rollback()
        with store.lookup() as repo:
            found = repo.user_with_groups(account, "alice")
        assert found.value is not None and found.value.user.user_name == "alice"
        assert found.counter == store.change_counter()
    finally:
        locker.rollback()
        locker.close()
        service.directory.close()
        store.close()


def test_a_lookup_on_a_server_that_stops_answering_fails_closed(url: str) -> None:
    with StallProxy(("127.0.0.1", 5432)) as proxy:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        store = open_store(through + "&ram_read_timeout=0.5&ram_listen=0", master_keys=[KEY])
        try:
            with store.lookup() as repo:
                repo.role_with_revocation("1234567890123456", "reader")
            proxy.stall()
            started = time.monotonic()
            with pytest.raises(errors.RAMError) as refused, store.lookup() as repo:
                repo.role_with_revocation("1234567890123456", "reader")
            # The pool's check of the idle connection meets the stall first: a read's bound (its cut, then the
            # pool's wait for a new connection).
            assert refused.value.status == 503 and time.monotonic() - started < 5
        finally:
            store.close()


def test_a_lookup_begun_before_invalidate_puts_nothing_stale_back_after_it(url: str) -> None:
    # An operator disabled a key by hand (no change counter bump) and then dropped the snapshot with
    # invalidate(). A lookup that had read the key before the fix and answered after the invalidate must not
    # cache what it read: the next lookups read the store.
    store = open_store(url, master_keys=[KEY])
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "u")
    key = svc.create_access_key(account, "u").key.access_key_id
    directory = Directory(store)
    found: list[SigningKey | None] = []
    holder, operator = psycopg.connect(url, autocommit=True), psycopg.connect(url, autocommit=True)
    try:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE ram_users IN ACCESS EXCLUSIVE MODE")  # the lookup waits, its view taken
        reader = threading.Thread(target=lambda: found.append(directory.signing_key(key)))
        reader.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s"
        deadline = time.monotonic() + 5
        while (operator.execute(waiting, (holder.info.backend_pid,)).fetchone() or (0,))[0] == 0:
            assert time.monotonic() < deadline, "the lookup never waited on the lock"
            time.sleep(0.01)
        operator.execute("UPDATE ram_access_keys SET status = 'Inactive' WHERE access_key_id = %s", (key,))
        directory.invalidate()
        holder.execute("COMMIT")
        reader.join(10)
        assert found[0] is not None and found[0].status == "Active"  # it began before the fix
        after = directory.signing_key(key)
        assert after is not None and after.status == "Inactive"
    finally:
        holder.close()
        operator.close()
        directory.close()
        store.close()
