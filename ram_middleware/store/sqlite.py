"""The embedded store: SQLite, one file (``sqlite:///path``) or in memory (``memory://``).

* WAL journal, ``synchronous=NORMAL``, foreign keys on. Readers never block the writer or each other.
* Every write transaction starts with ``BEGIN IMMEDIATE`` so it holds the write lock from its first
  statement: a check-then-insert (name uniqueness, quotas) cannot interleave with another process.
  A busy database is retried with jittered exponential backoff until the transaction's deadline.
* Every wait is bounded by one deadline per transaction, which covers the wait for a pooled connection
  and for the file's lock: a read or a ``request_path`` write (what the request path does) waits at most
  ``request_budget`` seconds (default 2), an administrative write ``busy_budget`` (default 30); then
  :class:`errors.StoreBusy` (503), and a write has written nothing. Inside a request
  (:func:`~ram_middleware.request_scope.request_scope`) all its transactions share one deadline,
  ``request_budget`` after its start; inside a control-plane API call
  (:func:`~ram_middleware.request_scope.api_call`), the call's deadline. While another process holds
  the write lock for long (an ``sqlite3`` shell, a backup), requests are refused within those bounds
  rather than queued behind one another.
* Opening a file whose schema is current only reads its version: it does not wait for a write lock
  another process holds, and instances starting together do not queue. The write lock is taken only to
  migrate (a fresh or older file), and the version is read again under it.
* Connections come from a small pool (one connection per concurrent user; at most ``pool_size`` for reads
  and as many for writes, so writes waiting out a lock held elsewhere never occupy the connections reads
  need). A transaction opened while the same thread already holds one joins it, so composed operations
  stay atomic.
* A backup restored under running processes brings back a lower change counter, whose values the next
  writes reuse: :meth:`SqliteStore.change_counter` notices a read below a counter known committed before it
  and tells ``subscribe``'s ``on_rewind`` callbacks (the Directory drops its snapshot, whatever its counter).
* ``memory://`` is the same code on one shared ``:memory:`` connection (pool of one): identical SQL and
  behaviour, nothing on disk, gone when the store is closed. (Decision permitted by the design.)
* **Fork-safe.** A forked child never uses the connections it inherited: before it opens its own it
  closes them (see :mod:`ram_middleware.forks` for why closing, not just leaving them). A ``memory://``
  store's one connection is its data, with no file or lock behind it: the child goes on with its copy.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import errors, forks
from ..crypto import SecretBox
from ..private_files import create_owner_only
from ..request_scope import store_deadline
from .dialect import SQLITE
from .schema import SCHEMA_VERSION
from .sql import STORE_CLOSED, SqlRepository, StoreFailure, refuse_newer_schema
from .sql_store import Held, SqlStore

__all__ = ["SqliteStore", "holds_secrets"]

log = logging.getLogger(__name__)

_STEP_TIMEOUT = 0.2  # seconds SQLite's own busy handler waits before we back off and retry
_LEAST_SQLITE = (3, 35)  # RETURNING and ALTER TABLE … DROP COLUMN (see .dialect)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class _Pool:
    """At most ``size`` connections for reads and as many for writes (``shared``: ``size`` in all), each used
    by one thread at a time. Once closed it opens none again: a closed file store must not quietly reopen
    its file (nor a memory store start over empty). A connection is only ever closed while no thread uses
    it: closing one under a running statement can crash the process."""

    def __init__(
        self,
        factory: Callable[[float], sqlite3.Connection],
        size: int,
        *,
        shared: bool,
        connections: list[sqlite3.Connection] | None = None,
    ) -> None:
        self._factory = factory
        self._slots = threading.BoundedSemaphore(size)
        self._write_slots = self._slots if shared else threading.BoundedSemaphore(size)
        self._idle: list[sqlite3.Connection] = list(connections or ())
        self._every: list[sqlite3.Connection] = list(self._idle)
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()

    @contextmanager
    def connection(self, deadline: float, *, writable: bool) -> Iterator[sqlite3.Connection]:
        """A connection of this thread's own; StoreBusy when none is free by ``deadline`` (monotonic)."""
        slots = self._write_slots if writable else self._slots
        if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise errors.StoreBusy()
        try:
            with self._lock:
                if self._closed:
                    raise StoreFailure(STORE_CLOSED)
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._factory(deadline)
                with self._lock:
                    if self._closed:  # closed while this one was being opened
                        conn.close()
                        raise StoreFailure(STORE_CLOSED)
                    self._every.append(conn)
            try:
                yield conn
            finally:
                with self._lock:
                    # close() left this one to its user, the last to touch it (unless a forked child's
                    # release_inherited took it: then it is the parent's, abandoned).
                    closing = self._closed and conn in self._every
                    if closing:
                        self._every.remove(conn)
                    elif not self._closed:
                        self._idle.append(conn)
                if closing:
                    conn.close()
        finally:
            slots.release()

    def close(self) -> None:
        """Refuse new users at once; close the idle connections now and each one in use when its user is
        done with it (its transaction ends as it would have)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            for conn in idle:
                self._every.remove(conn)
        for conn in idle:
            conn.close()

    def take_over(self) -> list[sqlite3.Connection]:
        """In a forked child: every connection, rolling back a transaction a thread of the parent had open."""
        for conn in self._every:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return list(self._every)

    def release_inherited(self) -> None:
        """In a forked child (see :mod:`ram_middleware.forks`): close the parent's idle connections, abandon
        those its threads were using. Without the lock, which one of them may have held at the fork; the
        store has swapped in a new pool (or will, before it uses one)."""
        if self._pid == os.getpid():
            return
        idle = {id(conn) for conn in self._idle}
        for conn in self._every:
            if id(conn) in idle:
                conn.close()
            else:
                forks.abandon(conn)
        self._every, self._idle = [], []
        self._closed = True


# What an operator can do about each SQLite error at open (by its primary result code).
_OPEN_HINTS = {
    "SQLITE_NOTADB": "another kind of file, or one still being copied into place",
    "SQLITE_CORRUPT": "restore it from a backup",
    "SQLITE_CANTOPEN": "it must be a file, in a directory this process may write to: SQLite keeps its -wal "
    "and -shm files beside it",
    "SQLITE_READONLY": "this process must be able to write to it and to its directory",
    "SQLITE_PERM": "this process must be able to write to it and to its directory",
    "SQLITE_FULL": "free some disk space",
    "SQLITE_IOERR": "check the disk",
}


def _unopenable(path: str, exc: sqlite3.Error) -> StoreFailure:
    """The StoreFailure for a database file that cannot be opened: its path, SQLite's reason and what to do,
    for whoever starts the process (a request's StoreFailure names neither: it goes to the caller)."""
    code = str(getattr(exc, "sqlite_errorname", ""))
    hint = next((text for prefix, text in _OPEN_HINTS.items() if code.startswith(prefix)), None)
    return StoreFailure(
        f"The SQLite database {path} cannot be opened: {exc}" + (f" ({hint})." if hint else ".")
    )


def holds_secrets(path: str, busy_budget: float = 30.0) -> bool:
    """Whether the database file at ``path`` exists and holds an AccessKey secret or an MFA seed (read only:
    the file is neither created nor migrated). A file another process keeps locked is waited for up to
    ``busy_budget`` seconds, then :class:`errors.StoreBusy`, and one that cannot be read is a StoreFailure:
    taken for one without secrets, it would get a new key file that opens none of them."""
    if not os.path.exists(path):
        return False
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, timeout=busy_budget)
    except sqlite3.Error:
        return False  # not a database SQLite can open: the store's own open reports why
    try:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ram_access_keys) OR EXISTS (SELECT 1 FROM ram_mfa_devices)"
        ).fetchone()
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise errors.StoreBusy() from exc
        if "no such table" in str(exc).lower():
            return False  # an empty or foreign database: none of our secrets yet
        # Unreadable (not a database yet, e.g. still being copied into place): its secrets are unknown.
        raise _unopenable(path, exc) from exc
    finally:
        conn.close()
    return bool(row and row[0])


class SqliteStore(SqlStore):
    """A :class:`~ram_middleware.store.base.Store` on SQLite; ``path=None`` keeps it in memory."""

    def __init__(
        self,
        path: str | None,
        *,
        box: SecretBox,
        url: str | None = None,
        busy_budget: float = 30.0,
        request_budget: float = 2.0,
        pool_size: int = 8,
    ) -> None:
        if sqlite3.sqlite_version_info < _LEAST_SQLITE:
            # Python links the system's SQLite, older on some long-term distributions: said at open, not as
            # a syntax error in a migration or in each write.
            raise StoreFailure(
                f"The store needs SQLite {'.'.join(map(str, _LEAST_SQLITE))} or later; Python's sqlite3 "
                f"module uses SQLite {sqlite3.sqlite_version}."
            )
        super().__init__(url or ("memory://" if path is None else f"sqlite:///{path}"), box)
        self._path = path
        self._busy_budget = busy_budget
        self._request_budget = request_budget
        self._pool_size = 1 if path is None else max(1, pool_size)
        if path is not None:
            create_owner_only(path)
        self._pool = self._new_pool()
        # A change counter known to be committed (read, or our own commit): a later read below it means the
        # file went back in time (a backup restored under running processes).
        self._known = 0
        try:
            self._migrate()
        except StoreFailure as exc:
            self._pool.close()
            if path is not None and isinstance(exc.__cause__, sqlite3.Error):
                raise _unopenable(path, exc.__cause__) from exc.__cause__
            raise

    def _migrate(self) -> None:
        """Bring the file to this code's schema. A file already current (every open but the first) costs one
        read and never the write lock, so opening while another process holds that lock for long, or many
        instances starting together, neither waits nor queues. Only a missing or older schema is migrated,
        under ``BEGIN IMMEDIATE``, where :meth:`SqlRepository.migrate` reads the version again: another
        process may have migrated in between, and then nothing is left to do."""
        stored = self._stored_version()
        if stored is not None:
            refuse_newer_schema(stored)  # refused at once, without waiting for the write lock
        if stored != SCHEMA_VERSION:
            with self._open_transaction(writable=True, announce=False, request_path=False) as repo:
                repo.migrate()

    def _stored_version(self) -> int | None:
        """The file's schema version, None before one is recorded, read without the write lock: each
        statement is its own read transaction, and a WAL reader never waits for the writer."""
        deadline = self._deadline(self._busy_budget)
        with self._pool.connection(deadline, writable=False) as conn:
            attempt = 0
            while True:
                try:
                    # Asked first: reading a table that does not exist yet would be an error.
                    table = conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ram_schema_version'"
                    ).fetchone()
                    row = conn.execute("SELECT version FROM ram_schema_version").fetchone() if table else None
                    return None if row is None else int(row[0])
                except sqlite3.Error as exc:
                    attempt += 1
                    self._backoff(exc, deadline, attempt)

    # --- connections --------------------------------------------------------------------------------

    def _new_pool(self, connections: list[sqlite3.Connection] | None = None) -> _Pool:
        # One shared :memory: connection: every "connection" of a memory store must be that same one.
        pool = _Pool(self._connect, self._pool_size, shared=self._path is None, connections=connections)
        if self._path is not None:
            forks.holds_sqlite(pool)
        return pool

    def _after_fork(self) -> None:
        inherited = self._pool
        if self._path is None:
            self._pool = self._new_pool(inherited.take_over())
        else:
            forks.before_sqlite_connect()  # closes every inherited connection (of any store or guard)
            self._pool = self._new_pool()
        return None

    def _connect(self, deadline: float) -> sqlite3.Connection:
        if self._path is not None:
            forks.before_sqlite_connect()
        attempt = 0
        while True:
            conn: sqlite3.Connection | None = None
            try:
                conn = sqlite3.connect(
                    self._path or ":memory:",
                    timeout=_STEP_TIMEOUT,
                    isolation_level=None,
                    check_same_thread=False,
                )
                return self._configure(conn)
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                attempt += 1
                self._backoff(exc, deadline, attempt)

    def _configure(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.execute("PRAGMA foreign_keys = ON")
        if self._path is not None:
            # Switching to WAL takes a lock briefly; a busy error here is retried by _connect.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _backoff(self, exc: sqlite3.Error, deadline: float, attempt: int) -> None:
        """Sleep before the next attempt, or raise when the error is not "busy" or time is up."""
        if not _is_busy(exc):
            raise self._failure(exc) from exc
        left = deadline - time.monotonic()
        if left <= 0:
            raise errors.StoreBusy() from exc
        time.sleep(min(left, min(0.25, 0.002 * 2**attempt) * random.uniform(0.5, 1.5)))

    def _failure(self, exc: sqlite3.Error) -> StoreFailure:
        """The caller's StoreFailure for an error retrying will not fix (a full disk, an I/O error, a damaged
        file). It names neither the file nor the cause, which the log does, for the operator."""
        log.error("The SQLite store %s failed: %s", self._path or ":memory:", exc)
        return StoreFailure(f"The identity store failed ({type(exc).__name__}).")

    def _begin(self, conn: sqlite3.Connection, statement: str, deadline: float) -> None:
        attempt = 0
        while True:
            try:
                conn.execute(statement)
                return
            except sqlite3.Error as exc:
                attempt += 1
                self._backoff(exc, deadline, attempt)

    # --- transactions -------------------------------------------------------------------------------

    @contextmanager
    def _open_transaction(
        self, *, writable: bool, announce: bool, request_path: bool
    ) -> Iterator[SqlRepository]:
        counter: int | None = None
        deadline = self._deadline(self._request_budget if request_path or not writable else self._busy_budget)
        with self._pool.connection(deadline, writable=writable) as conn:
            self._begin(conn, "BEGIN IMMEDIATE" if writable else "BEGIN", deadline)
            held = self._local.held = Held(SqlRepository(conn, SQLITE), writable, announce)
            try:
                yield held.repo
                if held.announce:
                    counter = held.repo.bump_change_counter()
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    if _is_busy(exc):
                        raise errors.StoreBusy() from exc
                    raise self._failure(exc) from exc
                raise
            finally:
                self._local.held = None
        if counter is not None:
            self._learn(counter)
            self._announce(counter)
        self._committed_callbacks(held)

    def _deadline(self, budget: float) -> float:
        """The monotonic time by which a transaction begun now must have its connection and lock."""
        deadline = time.monotonic() + budget
        # Inside a request, all its transactions together wait no longer than one read may; inside an API
        # call, no longer than its client waits for the answer.
        scoped = store_deadline(self._request_budget)
        return deadline if scoped is None else min(deadline, scoped)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("ROLLBACK failed; SQLite has already ended the transaction.")

    # --- change notification ------------------------------------------------------------------------

    def change_counter(self) -> int:
        """The counter, read from the file (other processes' writes are noticed by these reads)."""
        known = self._known  # before the read: committed by then, so the read cannot see less
        with self.read() as repo:
            counter = repo.change_counter()
        self._learn(counter, known)
        return counter

    def _learn(self, counter: int, known: int | None = None) -> None:
        """Note ``counter``: our own commit's, or (``known``) one read after ``known`` was known committed, so
        that a value below it means the file went back."""
        with self._sub_lock:
            rewound = known is not None and counter < known
            self._known = counter if rewound else max(self._known, counter)
        if rewound:
            self._rewind(counter)

    def close(self) -> None:
        self._pool.close()
