"""The shared store: PostgreSQL (``postgresql://user@host:5432/db``) through psycopg 3 and psycopg_pool.

Same SQL and behaviour as SQLite — :class:`~ram_middleware.store.sql.SqlRepository` with the
:data:`~ram_middleware.store.dialect.POSTGRES` dialect — and the same migrations and version table.

* **One writer at a time.** Every write transaction starts by locking the single ``ram_changes`` row
  (``SELECT … FOR UPDATE``), the counterpart of SQLite's ``BEGIN IMMEDIATE``: the service's
  check-then-write steps (name uniqueness, the 2-AccessKey limit, "user still exists" before adding a
  membership) cannot interleave with another instance's, so races end in a clean error, never half state.
  Admin writes are rare; this costs nothing where it matters. Statements run in READ COMMITTED, which
  under the lock sees every earlier commit. A lock waited for longer than ``busy_budget`` raises
  :class:`errors.StoreBusy`.
* **Reads** are ``REPEATABLE READ READ ONLY`` transactions: one consistent snapshot per ``read()``. A
  :meth:`lookup` (a Directory lookup: one statement that returns the change counter with its rows) sends
  the transaction's BEGIN and SET LOCAL bounds, the statement and COMMIT together in pipeline mode: one
  round trip (plus the pool's check of an idle connection), where a ``read()`` costs one for BEGIN, one
  per statement and one for COMMIT. Same transaction, same bounds, same errors; only the waiting between
  the messages goes. Without pipeline support (libpq before 14) a lookup is a plain read.
* **Migrations** run on open under a transaction-scoped advisory lock keyed by the schema, so instances
  starting together migrate once. A schema already current is only read (no lock, no DDL), so a role
  with table privileges alone (no CREATE on the schema) opens what its owner migrated. The open is
  bounded like a write: the lock is waited for up to ``busy_budget``, and a server that stops answering
  is cut ``busy_budget`` + ``read_timeout`` + 1 s in.
* **Change propagation**: announced writes ``pg_notify`` the new change counter; a
  :class:`~.pg_listen.ChangeListener` thread delivers other instances' changes to :meth:`subscribe`
  callbacks within milliseconds (see that module for why LISTEN/NOTIFY and how a lost connection is
  handled). :meth:`change_counter` answers from the listener while it is fresh (no round trip on the
  request path); while the feed is down it raises ServiceUnavailable at once, so the Directory, which
  checks the counter every ``refresh_interval``, denies instead of serving a snapshot it cannot vouch
  for. Staleness bound: ``max_staleness`` (default 5 s; a dead connection is noticed at once) plus the
  Directory's ``refresh_interval`` (0.5 s). A database found to have gone back in time (a failover to a
  replica that missed the latest commits, a restore) has ``subscribe``'s ``on_rewind`` callbacks told,
  and counting restarts from its counter.
* **Fail closed, never hang.** ``connect_timeout`` (default 2 s), TCP keepalives, and a pool wait of
  ``pool_timeout`` (default 3 s) bound every wait; a read (the request path's) also runs under
  ``statement_timeout`` and ``lock_timeout`` of ``read_timeout`` (default 5 s, ``ram_read_timeout``) and
  a client-side deadline a second later for a server that stops answering (:mod:`.pg_deadline`; a write
  gets ``busy_budget`` more, its lock wait); an
  unreachable or stalled database raises :class:`errors.ServiceUnavailable` or :class:`errors.StoreBusy`,
  and a write transaction cut by that deadline (however long its own work took: the bound is on the whole
  transaction) :class:`errors.StoreTimeout`, which says so and whether anything was written.
* **A lost COMMIT answer is asked about.** A write transaction reads its id as it takes the writer lock
  (same round trip; reads have none). When its COMMIT went out but the answer was lost (the connection
  broke: a server restart, a failover, a reset; or the deadline cut it), the store asks the server on
  another connection (``pg_xact_status``, ``txid_status`` before PostgreSQL 13), bounded like a read and
  by the request's deadline: "committed" finishes the write as a success (change announced,
  ``after_commit`` callbacks run), "aborted" raises the rolled-back error (``detail["committed"]`` False:
  a retry is safe); still "in progress" after ``_STATUS_PATIENCE``, an id the server never saw, a server
  on another WAL timeline than the write's or no answer leaves the outcome unknown, as the error says.
  Decision: "committed" is a success, not an error, because clients retry errors and a retried
  CreateAccessKey makes a second key. The timeline (read with the id) tells a promoted replica from the
  write's server: one that missed the write may since have given its id to a transaction of its own,
  whose status says nothing of ours. (A restore from a backup that keeps the timeline cannot be told
  apart: that loses commits anyway.)
  Inside a request (:func:`~ram_middleware.request_scope.request_scope`: opened for each decision, by the
  ASGI adapter as it hands the request to a worker thread) those waits share one deadline, ``read_timeout``
  + 1 s after the request's start: its store work ends by then however many reads, pool waits and
  connection checks it needs, and however long it queued for a thread. Inside a control-plane API call
  (:func:`~ram_middleware.request_scope.api_call`) they end by the call's deadline as well.
  Idle pooled connections are checked before use, so after a database restart the pool replaces dead ones
  by itself.
* **Fork-safe.** A store opened before ``fork()`` (gunicorn --preload, multiprocessing's 'fork') leaves
  its pooled and listening connections to the parent: on first use in the child it opens a pool and a
  change listener of its own (waiting for the first subscription as on open; until the listener is up the
  child fails closed as when it is down) and abandons the inherited ones without a word on their sockets
  (:mod:`ram_middleware.forks`), so neither process ever reads the other's answers.
* The store's :attr:`url` never contains the password. TEXT columns are created ``COLLATE "C"`` by the
  dialect, so names sort and page in codepoint order, as in SQLite and Python, whatever the locale.

Tables live in the connection's current schema; choose one per deployment (or per test run) with the
libpq ``options`` parameter, e.g. ``postgresql://…/db?options=-csearch_path%3Dram``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import sql as pgsql

from .. import errors, forks
from ..crypto import SecretBox
from ..request_scope import store_deadline
from .dialect import POSTGRES
from .pg_deadline import Cut, cut_after
from .pg_listen import ChangeListener
from .schema import SCHEMA_VERSION
from .sql import STORE_CLOSED, SqlRepository, StoreFailure, refuse_newer_schema
from .sql_base import NO_COUNTER
from .sql_store import Held, SqlStore

__all__ = ["PostgresStore", "redacted_conninfo", "split_store_options"]

log = logging.getLogger(__name__)

# The writer lock, and the transaction's id (it has one from here on: the row lock assigns it) and the
# server's WAL timeline in the same round trip, for asking the server after a COMMIT whose answer was lost.
# PostgreSQL 13 renamed the id functions.
_TIMELINE = "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"
_LOCK_ROW = "SELECT counter, {xid}, " + _TIMELINE + " FROM ram_changes WHERE id = 1 FOR UPDATE"
_XID_13 = ("pg_current_xact_id()::text", "SELECT pg_xact_status(%s::xid8), " + _TIMELINE)
_XID_OLD = ("txid_current()::text", "SELECT txid_status(%s::bigint), " + _TIMELINE)  # PostgreSQL 10 to 12
_STATUS_POLL = 0.05  # seconds between asks while the server still has the transaction in progress
_STATUS_PATIENCE = 1.0  # how long one may stay "in progress": a COMMIT that reached the server ends sooner
_ADVISORY_CLASS = 0x52414D  # "RAM": first half of the two-key advisory lock used while migrating
_UNREACHABLE = "The identity store (PostgreSQL) is unreachable; the request was denied."
_OUT_OF_TIME = "The identity store (PostgreSQL) did not answer in time; the request was denied."
_LOST_ROLLED_BACK = (
    "The connection to the identity store (PostgreSQL) was lost at the commit and the transaction was "
    "rolled back: nothing of it was written."
)
# Store options that may ride in the URL (libpq would reject them), with their types.
_OPTIONS: dict[str, type] = {
    "ram_pool_size": int,
    "ram_connect_timeout": float,
    "ram_pool_timeout": float,
    "ram_max_staleness": float,
    "ram_read_timeout": float,
    "ram_listen": bool,
}


def split_store_options(url: str) -> tuple[str, dict[str, Any]]:
    """Split ``?ram_max_staleness=5&ram_pool_size=20…`` off ``url``: (conninfo for libpq, store kwargs).

    Every other part of the URL is handed to libpq exactly as written: decoded and encoded again, a
    ``%20`` came back as ``+`` (which libpq keeps as a plus: ``options=-c%20search_path%3Dapp`` reached the
    server as ``-c+search_path=app``), and ``postgresql:///db`` (a Unix socket) as ``postgresql:/db``,
    which libpq refuses.

    Every number must be positive and finite (``ram_pool_size`` a whole one), else
    ``InvalidParameter.StoreUrl``: ``nan`` or ``inf`` seconds, which ``float()`` reads, stopped the store
    from opening with a bare ValueError, and a ``ram_max_staleness`` of 0 or less left its change listener
    reconnecting without pause.
    """
    try:
        urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket
        raise errors.InvalidParameter("StoreUrl", "The PostgreSQL store URL is malformed.") from None
    base, _, query = url.partition("?")
    options: dict[str, Any] = {}
    kept: list[str] = []
    for piece in query.split("&"):
        raw_name, _, raw_value = piece.partition("=")
        name = unquote_plus(raw_name)
        kind = _OPTIONS.get(name)
        if kind is None:
            if piece:
                kept.append(piece)
            continue
        value = unquote_plus(raw_value)
        try:
            parsed: Any = value.lower() in {"1", "true", "yes", "on"} if kind is bool else kind(value)
        except ValueError:
            raise errors.InvalidParameter(
                "StoreUrl", f"The store option {name} is not a valid value."
            ) from None
        if kind is not bool and not 0 < parsed < float("inf"):
            raise errors.InvalidParameter("StoreUrl", f"The store option {name} must be a positive number.")
        options[name[len("ram_") :]] = parsed
    if not options:  # nothing of ours: the URL as it came, even a "?" or an empty piece in it
        return url, options
    return base + (f"?{'&'.join(kept)}" if kept else ""), options


def redacted_conninfo(url: str) -> str:
    """``url`` without its password (for reprs, logs and :attr:`PostgresStore.url`)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable)"
    if "password" not in info:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return "postgresql://(password hidden)"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _classify(exc: psycopg.Error) -> errors.RAMError:
    """Map a database error to the error the caller sees (all 503: the operation was not applied)."""
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected):
        return errors.StoreBusy()
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.QueryCanceled):
        return errors.StoreBusy()  # QueryCanceled: statement_timeout (a read past read_timeout)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return errors.ServiceUnavailable(_UNREACHABLE)
    return StoreFailure(f"The identity store failed ({type(exc).__name__}).")


def _out_of_time(cut: Cut, writable: bool, committing: bool) -> errors.RAMError:
    """The error of a transaction :mod:`.pg_deadline` cut: time ran out (not "unreachable"), and for a write
    whether anything of it may have been written."""
    if not writable:
        return errors.ServiceUnavailable(_OUT_OF_TIME)
    bound = f"The store transaction did not finish within its bound of {cut.seconds:g} s"
    why = "it ran too long, or the database stopped answering"
    if committing:
        message = f"{bound} and was cut at its commit ({why}): whether it was written is unknown."
    else:
        message = f"{bound} ({why}) and was rolled back: nothing of it was written."
    return errors.StoreTimeout(
        message, detail={"seconds": cut.seconds, "committed": None if committing else False}
    )


class PostgresStore(SqlStore):
    """A :class:`~ram_middleware.store.base.Store` on PostgreSQL; see the module docstring.

    ``conninfo`` is a libpq URL or DSN (:func:`~ram_middleware.store.open_store` strips the ``ram_*`` URL
    options into the keyword arguments). ``pool_size`` bounds the connections per process; ``listen=False``
    skips the change feed (then :meth:`change_counter` always asks the database).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        box: SecretBox,
        pool_size: int = 10,
        connect_timeout: float = 2.0,
        pool_timeout: float = 3.0,
        busy_budget: float = 30.0,
        listen: bool = True,
        max_staleness: float = 5.0,
        heartbeat: float = 1.0,
        read_timeout: float = 5.0,
    ) -> None:
        super().__init__(redacted_conninfo(conninfo), box)
        self._conninfo = conninfo
        self._busy_budget = busy_budget
        if not 0 < read_timeout < float("inf"):
            raise errors.InvalidParameter(
                "StoreUrl", "ram_read_timeout must be a positive number of seconds."
            )
        self._read_timeout = read_timeout
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(connect_timeout)),
            # Notice a vanished server on an idle connection within seconds rather than hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": 5000,
            "application_name": "ram-middleware",
        }
        self._committed = 0  # the counter after this process's latest announced commit
        self._delivered = 0  # the highest counter handed to subscribers (each is told once, in order)
        self._deliver_lock = threading.RLock()  # re-entrant: a subscriber may itself write to the store
        self._pool_size = max(1, pool_size)
        self._pool_timeout = pool_timeout
        self._listen = listen
        self._heartbeat = min(heartbeat, max_staleness / 2)
        self._max_staleness = max_staleness
        self._listen_wait = connect_timeout + 1.0
        # Every connection this process opened for the pool or the listener: a forked child lets go of them.
        self._opened: weakref.WeakSet[psycopg.Connection[tuple[object, ...]]] = weakref.WeakSet()
        self._pool = self._new_pool()
        self._listener: ChangeListener | None = None
        self._closed = False
        self._schema = self._migrate()
        self._channel = "ram_changes_" + hashlib.sha256(self._schema.encode()).hexdigest()[:24]
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _new_pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[tuple[object, ...]]]:
        return psycopg_pool.ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs=self._connect_kwargs,
            timeout=self._pool_timeout,
            # A short reconnect budget: the pool never sits in a long backoff after an outage.
            reconnect_timeout=max(self._pool_timeout, 2.0),
            # No ``check``: the pool's own would wait a second after the second dead connection in a row
            # (see _checked_connection, which tests each one handed out instead).
            configure=self._opened.add,
            name="ram-store",
            open=False,
        )

    def _start(self) -> None:
        """Open the pool (it connects in the background) and start the change listener."""
        self._open()
        if self._listener is not None:
            self._listener.start(wait=self._listen_wait)

    def _open(self) -> None:
        self._pool.open(wait=False)
        if self._listen:
            self._listener = ChangeListener(
                self._listen_connection, self._channel, self._announce, rewound=self._rewind,
                heartbeat=self._heartbeat, max_staleness=self._max_staleness,
            )  # fmt: skip

    @property
    def channel(self) -> str:
        """The NOTIFY channel this store's writes are announced on."""
        return self._channel

    @property
    def listening(self) -> bool:
        """Whether changes from other instances are being pushed to this process right now."""
        self._adopt_if_forked()
        return self._listener is not None and self._listener.connected

    def _after_fork(self) -> Callable[[], object] | None:
        # Never used, closed or finalised here: the parent goes on with them. The child drops its copies
        # of their sockets so that no session of the parent's outlives the parent because of it.
        inherited = list(self._opened)
        forks.abandon(self._pool, self._listener, inherited)
        forks.release_descriptors(_descriptor(conn) for conn in inherited)
        self._opened = weakref.WeakSet()
        self._deliver_lock = threading.RLock()
        self._pool = self._new_pool()
        self._listener = None
        if self._closed:
            return None
        self._open()
        listener = self._listener
        if listener is None:
            return None
        # Until its first subscription the listener is down: meanwhile change_counter fails closed.
        return functools.partial(listener.start, wait=self._listen_wait)

    # --- connections --------------------------------------------------------------------------------

    def _direct_connection(
        self, application_name: str = "ram-middleware"
    ) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            self._conninfo, **{**self._connect_kwargs, "application_name": application_name}
        )

    def _listen_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        # Named after the channel, so an operator can tell the listener sessions apart in pg_stat_activity.
        conn = self._direct_connection(f"ram-listen {self._channel}")
        self._opened.add(conn)
        return conn

    @contextmanager
    def _connection(self, deadline: float | None = None) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        try:
            conn = self._checked_connection(deadline)
            try:
                with conn:  # commits, or rolls back on an exception; pooled, so it stays open
                    yield conn
            finally:
                self._pool.putconn(conn)
        except psycopg_pool.PoolTimeout as exc:
            raise errors.ServiceUnavailable(_UNREACHABLE) from exc
        except psycopg_pool.PoolClosed as exc:
            raise StoreFailure(STORE_CLOSED) from exc
        except psycopg.Error as exc:
            # Past the transaction's own handling, e.g. the commit psycopg's connection context runs on
            # the way back to the pool: still a 503 like every store failure, never a raw exception (a 500).
            raise _classify(exc) from exc

    def _checked_connection(self, deadline: float | None) -> psycopg.Connection[tuple[object, ...]]:
        """A pooled connection that has just answered a no-op, within the pool's wait (or the request's).

        A dead one (its session ended by a restart, a failover, an idle timeout) goes back to the pool,
        which discards it and opens another, and the next is tried at once. One that does not answer
        within a read's deadline means the server stopped answering: 503 at once, rather than waiting
        out the pool for a connection to a server that will not answer it either."""
        until = time.monotonic() + self._within(deadline, self._pool.timeout)
        while True:
            conn = self._pool.getconn(timeout=until - time.monotonic())
            try:
                with cut_after(conn, self._within(deadline, self._read_timeout + 1.0)) as cut:
                    psycopg_pool.ConnectionPool.check_connection(conn)
            except psycopg.Error as exc:
                self._pool.putconn(conn)
                if cut.fired:
                    raise errors.ServiceUnavailable(_OUT_OF_TIME) from exc
                continue
            except BaseException:
                self._pool.putconn(conn)
                raise
            return conn

    def _migrate(self) -> str:
        """Apply missing migrations on a direct connection (a bad URL fails here, at once).

        Bounded like a write transaction, so that an instance never hangs as it starts: the wait for the
        migration lock (another instance migrating, or one frozen while it held the lock) and every other
        lock ends after ``busy_budget`` (:class:`errors.StoreBusy`), and the whole migration, for a server
        that stops answering, ``busy_budget`` + ``read_timeout`` + 1 s after it began
        (:class:`errors.ServiceUnavailable`)."""
        try:
            conn = self._direct_connection()
        except psycopg.Error as exc:
            # libpq's first line names the cause (host, database, user) and never the password.
            reason = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
            raise errors.ServiceUnavailable(f"Cannot open the PostgreSQL store: {reason}") from exc
        lock_ms = max(1, round(self._busy_budget * 1000))
        schema, stored = "", None
        with conn, cut_after(conn, self._busy_budget + self._read_timeout + 1.0) as cut:
            try:
                schema = str(_first(conn.execute("SELECT current_schema()").fetchone()) or "")
                if not schema:
                    raise StoreFailure("The PostgreSQL connection has no current schema (check search_path).")
                if _first(conn.execute("SELECT current_setting('transaction_read_only')").fetchone()) == "on":
                    raise StoreFailure(
                        "The PostgreSQL store is read-only (a standby, or default_transaction_read_only for "
                        "this role or database): it needs a server that takes writes."
                    )
                stored = _stored_version(conn, schema)
                if stored is not None:
                    refuse_newer_schema(stored)
                if stored == SCHEMA_VERSION:
                    # Current: only read, so a role with table privileges alone (no CREATE on the schema,
                    # which even CREATE TABLE IF NOT EXISTS needs) opens it, and no lock is queued for.
                    return schema
                conn.execute(f"BEGIN; SET LOCAL lock_timeout = {lock_ms}")
                lock_key = zlib.crc32(schema.encode()) - 2**31
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_ADVISORY_CLASS, lock_key))
                SqlRepository(conn, POSTGRES).migrate()
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                _rollback(conn)
                if cut.fired:
                    raise errors.ServiceUnavailable(
                        f"Cannot open the PostgreSQL store: it did not answer within {cut.seconds:g} s."
                    ) from exc
                if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                    raise _not_permitted(exc, schema, stored) from exc
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    budget = self._busy_budget
                    raise errors.StoreBusy(
                        f"Cannot open the PostgreSQL store: its schema stayed locked for {budget:g} s "
                        "(another instance migrating it, or another session's transaction)."
                    ) from exc
                raise _classify(exc) from exc
            except BaseException:
                _rollback(conn)
                raise
        return schema

    # --- transactions -------------------------------------------------------------------------------

    def _lock_budget(self, request_path: bool) -> float:
        """How long a write waits for the writer lock: a request waiting on it, no longer than a read."""
        return self._read_timeout if request_path else self._busy_budget

    def _within(self, deadline: float | None, seconds: float) -> float:
        """``seconds``, or what is left of the request's ``deadline`` if less (none left: 503)."""
        if deadline is None:
            return seconds
        left = deadline - time.monotonic()
        if left <= 0:
            raise errors.ServiceUnavailable(_OUT_OF_TIME)
        return min(seconds, left)

    def _request_deadline(self) -> float | None:
        """The deadline of the request being decided (None outside one): its store work ends within
        ``read_timeout`` + 1 s of its start, however many reads and connection waits it takes; inside a
        control-plane API call, by the call's deadline too."""
        return store_deadline(self._read_timeout + 1.0)

    def _read_start(self, deadline: float | None) -> list[str]:
        """The statements that begin a read transaction (no parameters)."""
        # Reads are on the request path: a lock held by a migration or an operator's ALTER TABLE, or
        # a query that stalls, must end in a 503 within read_timeout, not in a hung request.
        ms = max(1, round(self._within(deadline, self._read_timeout) * 1000))
        return [
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            f"SET LOCAL statement_timeout = {ms}",
            f"SET LOCAL lock_timeout = {ms}",
        ]

    def _begin(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        writable: bool,
        request_path: bool,
        deadline: float | None,
    ) -> tuple[str, str] | None:
        """Begin a transaction on ``conn``; a write's returns its transaction id and the server's WAL timeline
        (None for a read)."""
        if writable:
            budget_ms = max(1, round(self._within(deadline, self._lock_budget(request_path)) * 1000))
            # One round trip (no parameters: the simple protocol runs all three): begin, bound the lock
            # wait, take the writer lock and read the transaction id.
            lock_row = _LOCK_ROW.format(xid=_xid_functions(conn)[0])
            cursor = conn.execute(
                f"BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = {budget_ms}; {lock_row}"
            )
            while cursor.description is None and cursor.nextset():
                pass  # past BEGIN's and SET's empty results, to the lock row's
            row = cursor.fetchone()
            if row is None:  # no row was locked: this write would not be the only one
                raise errors.ServiceUnavailable(NO_COUNTER)
            return str(row[1]), str(row[2])
        conn.execute("; ".join(self._read_start(deadline)))  # one round trip: no parameters
        return None

    def _open_lookup(self) -> AbstractContextManager[SqlRepository]:
        if not psycopg.Pipeline.is_supported():
            return super()._open_lookup()
        return self._open_transaction(writable=False, announce=False, request_path=True, lookup=True)

    @contextmanager
    def _open_transaction(
        self, *, writable: bool, announce: bool, request_path: bool, lookup: bool = False
    ) -> Iterator[SqlRepository]:
        """A transaction on a pooled connection; ``lookup``: a read of one statement, begun and committed
        with it (:class:`_OneRoundTrip`)."""
        counter: int | None = None
        deadline = self._request_deadline()
        in_doubt: _InDoubt | None = None
        with (
            self._connection(deadline) as conn,
            self._deadline(conn, writable, request_path, deadline) as cut,
        ):
            committing = False
            written: tuple[str, str] | None = None  # a write's transaction id and timeline
            # Chosen now: a broken connection no longer knows the server's version.
            status_query = _xid_functions(conn)[1] if writable else ""
            try:
                one = _OneRoundTrip(conn, self._read_start(deadline)) if lookup else None
                if one is None:
                    written = self._begin(conn, writable, request_path, deadline)
                held = self._local.held = Held(SqlRepository(one or conn, POSTGRES), writable, announce)
                yield held.repo
                if held.announce:
                    counter = held.repo.bump_change_counter()
                    conn.execute("SELECT pg_notify(%s, %s)", (self._channel, str(counter)))
                committing = not cut.fired  # cut before the COMMIT was sent: surely not committed
                if one is None:
                    conn.execute("COMMIT")
            except BaseException as exc:
                _rollback(conn)
                if not isinstance(exc, psycopg.Error):
                    raise
                error = _out_of_time(cut, writable, committing) if cut.fired else _classify(exc)
                # The COMMIT went out and its answer was lost (connection broken, or cut by the deadline):
                # the server knows what became of it. Asked below, once this connection is back in the pool.
                if not (committing and written is not None and (cut.fired or conn.broken)):
                    raise error from exc
                in_doubt = _InDoubt(*written, status_query, cut, error, exc)
            finally:
                self._local.held = None
        if in_doubt is not None:
            self._settle(in_doubt, deadline)  # returns only if the transaction committed
        if counter is not None:
            with self._sub_lock:
                self._committed = max(self._committed, counter)
            self._announce(counter)
        self._committed_callbacks(held)

    def _settle(self, doubt: _InDoubt, deadline: float | None) -> None:
        """Return if the transaction whose COMMIT answer was lost committed; otherwise raise: rolled back
        (``committed`` False: a retry is safe), or the original error when the outcome stays unknown."""
        outcome = self._commit_status(doubt, deadline)
        log.warning("A write transaction's COMMIT got no answer; the server says: %s.", outcome or "unknown")
        if outcome == "committed":
            return
        if outcome == "aborted":
            if doubt.cut.fired:
                raise _out_of_time(doubt.cut, True, committing=False) from doubt.cause
            raise errors.ServiceUnavailable(_LOST_ROLLED_BACK, detail={"committed": False}) from doubt.cause
        raise doubt.error from doubt.cause

    def _commit_status(self, doubt: _InDoubt, deadline: float | None) -> str | None:
        """What the server says became of ``doubt``'s transaction ("committed", "aborted"), asked on another
        connection within a read's bound (inside a request, by its deadline); None when it cannot say: still
        "in progress" after ``_STATUS_PATIENCE``, an id it never saw, a server on another timeline (a
        promoted replica, which may have given the id to a transaction of its own), or no answer in time."""
        try:
            bound = self._within(deadline, self._read_timeout + 1.0)
            until = time.monotonic() + bound
            with self._connection(until) as conn, cut_after(conn, self._within(until, bound)):
                patience = time.monotonic() + _STATUS_PATIENCE
                while True:
                    row = conn.execute(doubt.status_query, (doubt.xid,)).fetchone()
                    status, timeline = row if row is not None else (None, None)
                    if timeline != doubt.timeline:  # a failover: the id may be another transaction's now
                        log.warning("The store is on another WAL timeline than the write in doubt.")
                        return None
                    if status != "in progress" or time.monotonic() + _STATUS_POLL >= min(patience, until):
                        return status if status in {"committed", "aborted"} else None
                    time.sleep(_STATUS_POLL)
        except (psycopg.Error, errors.RAMError) as exc:
            log.warning(
                "Could not ask the store what became of a write transaction (%s).", type(exc).__name__
            )
            return None

    def _deadline(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        writable: bool,
        request_path: bool,
        deadline: float | None,
    ) -> AbstractContextManager[Cut]:
        """A transaction whose server never answers (frozen, or a network that stalls) is cut a second
        after the server's own limits would have ended it (see :mod:`.pg_deadline`): a read's
        statement_timeout, or a write's lock wait (``busy_budget``; ``read_timeout`` for a request path
        write) plus as long again as a read; inside a request, at its deadline if that comes first."""
        extra = self._lock_budget(request_path) + self._read_timeout if writable else self._read_timeout
        return cut_after(conn, self._within(deadline, extra + 1.0))

    # --- change notification ------------------------------------------------------------------------

    def change_counter(self) -> int:
        """The change counter: from the listener while it is fresh, else one query (may raise 503)."""
        if self._closed:  # the stopped listener would otherwise report the database as unreachable
            raise StoreFailure(STORE_CLOSED)
        self._adopt_if_forked()
        if self._listener is not None:
            fresh = self._listener.fresh_counter()
            if fresh is not None:
                # Our own commits are known before their NOTIFY comes back round.
                return max(fresh, self._committed)
            if not self._listener.connected:
                # The feed reconnects within a second once the database answers; until then fail closed
                # at once instead of making every request wait out the pool timeout.
                raise errors.ServiceUnavailable(_UNREACHABLE)
        with self.read() as repo:
            return repo.change_counter()

    def _announce(self, counter: int) -> None:
        # Called for our own commits and again when their NOTIFY comes back: tell subscribers once. The
        # delivery lock makes a writer whose counter the listener thread is delivering wait until that
        # delivery is done, so every snapshot is dropped before the writing call returns.
        with self._deliver_lock:
            with self._sub_lock:
                if counter <= self._delivered:
                    return
                self._delivered = counter
                callbacks = list(self._subscribers)
            self._tell(callbacks, counter)

    def _rewind(self, counter: int) -> None:
        # Reported by the listener (see pg_listen). Counting starts again from there, so that the next writes,
        # which reuse counter values already announced, are announced again.
        with self._deliver_lock:
            with self._sub_lock:
                self._delivered = self._committed = counter
            super()._rewind(counter)

    def close(self) -> None:
        self._closed = True
        self._adopt_if_forked()  # a forked child closes its own connections, never the parent's
        if self._listener is not None:
            self._listener.stop()
        self._pool.close()


class _OneRoundTrip:
    """The connection a lookup's repository sees: its one statement is sent with ``begin`` before it and
    COMMIT after it in pipeline mode, so the transaction costs one round trip; its results are read once
    they are all in. A second statement raises RuntimeError (it would need a transaction of its own)."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], begin: list[str]) -> None:
        self._conn, self._begin, self._sent = conn, begin, False

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[tuple[object, ...]]:
        if self._sent:
            raise RuntimeError("a lookup runs one statement")
        self._sent = True
        # A failing statement makes the pipeline raise its error as it ends, and the transaction (begun)
        # is left aborted: the caller rolls it back as after any failed statement.
        with self._conn.pipeline():
            for statement in self._begin:
                self._conn.execute(statement)
            cursor = self._conn.execute(sql, parameters)
            self._conn.execute("COMMIT")
        return cursor


class _InDoubt:
    """A write transaction whose COMMIT was sent and never answered: its id (``xid``), the server's WAL
    ``timeline`` it ran on, the query that asks the server its status (and timeline), the deadline's
    :class:`Cut`, and the error to raise if that stays unknown."""

    def __init__(
        self,
        xid: str,
        timeline: str,
        status_query: str,
        cut: Cut,
        error: errors.RAMError,
        cause: BaseException,
    ) -> None:
        self.xid, self.timeline, self.status_query = xid, timeline, status_query
        self.cut, self.error, self.cause = cut, error, cause


def _xid_functions(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[str, str]:
    """The SQL that reads the current transaction's id, and the query that asks an id's commit status."""
    return _XID_13 if conn.info.server_version >= 130000 else _XID_OLD


def _descriptor(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The socket libpq holds open for ``conn``, or -1 when it holds none (closed, or lost)."""
    try:
        return conn.pgconn.socket
    except psycopg.Error:
        return -1


def _not_permitted(exc: psycopg.Error, schema: str, stored: int | None) -> StoreFailure:
    """The open's error for a role short of a privilege: which one, and what would migrate the schema."""
    message = f"Cannot open the PostgreSQL store in schema {schema}: {exc.diag.message_primary}"
    if stored != SCHEMA_VERSION:
        message += (
            f" (to migrate it from version {stored or 0} to {SCHEMA_VERSION}, open it once with a role that "
            "may create tables in it, such as its owner)"
        )
    return StoreFailure(message + ".")


def _stored_version(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int | None:
    """The schema version recorded in ``schema``, None before one is; read without a lock (autocommit)."""
    table = f"{pgsql.Identifier(schema).as_string(conn)}.ram_schema_version"
    if _first(conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()) is None:
        return None
    value = _first(conn.execute(f"SELECT version FROM {table}").fetchone())  # the schema name is quoted
    return None if value is None else int(str(value))


def _first(row: Any) -> Any:
    return None if row is None else row[0]


def _rollback(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    if conn.closed or conn.broken:
        return
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        log.warning("ROLLBACK failed; the connection is discarded by the pool.")
