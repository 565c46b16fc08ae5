"""Replay and attempt guards: one-time claims (nonces, TOTP steps) and failure counters.

A :class:`Guard` is the only shared mutable state the request path needs besides the store:

* ``claim(key, ttl)`` — True exactly once per key while the claim lives (signature nonces, used TOTP steps);
* ``incr(key, window)`` — a failure counter in a fixed window that opens with the first failure (logon
  lock-out), the same semantics as Redis ``INCR`` + ``EXPIRE NX`` so a Redis backend can be added unchanged;
  it returns the count and the window's identity, and ``decr(key, window)`` takes one back only while that
  same window lives. A count taken back late must not come off a window opened after its own ended (by a
  wrong guess): timed at window ends, right answers would buy extra guesses. Taken back too late, it stays
  counted: the safe side.

Backends: :class:`MemoryGuard` (one process), :class:`SqliteGuard` (one machine, many processes; may share
the store's database file, it uses its own table). :func:`open_guard` picks one from a URL. Every backend
takes an injectable ``clock`` (seconds since the epoch) so expiry can be tested without sleeping.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol, TypeVar, runtime_checkable

from . import errors, forks
from .private_files import create_owner_only, make_parent_directory

Clock = Callable[[], float]
log = logging.getLogger(__name__)
_T = TypeVar("_T")

__all__ = ["Clock", "Counted", "Guard", "MemoryGuard", "SqliteGuard", "open_guard"]


class Counted(NamedTuple):
    """What :meth:`Guard.incr` returns: the counter's new value and the identity of the window it counted in
    (opaque, for :meth:`Guard.decr`)."""

    value: int
    window: str


@runtime_checkable
class Guard(Protocol):
    """Atomic one-time claims and windowed counters, shared by every worker that uses the same backend."""

    def claim(self, key: str, ttl_seconds: float) -> bool:
        """Claim ``key`` for ``ttl_seconds``. Of concurrent claims of one live key exactly one gets True."""
        ...

    def incr(self, key: str, window_seconds: float) -> Counted:
        """Add one to the counter ``key`` (its window opens at the first increment); return the new count
        and the window's identity."""
        ...

    def count(self, key: str) -> int:
        """The counter's current value (0 when absent or its window has passed)."""
        ...

    def decr(self, key: str, window: str) -> None:
        """Take one back from the counter ``key`` (an attempt that turned out right) if it still lives in
        ``window`` (as :meth:`incr` returned it): never below zero, its window unchanged; an absent or expired
        counter stays absent, and one in a later window is left alone."""
        ...

    def reset(self, key: str) -> None:
        """Forget ``key`` (a claim or a counter)."""
        ...

    def remembers_since(self) -> float:
        """POSIX time from which the guard is known to hold every claim made (as of its latest call).

        A claim made before it may be forgotten (a Redis that restarted empty): whatever was signed, issued
        or revoked before it cannot be told from something never claimed, and callers refuse it.
        """
        ...


_INFINITY = float("inf")
_ALWAYS = float("-inf")  # remembers_since() of a guard that never forgets a live claim


def _window_id(expires_at: float) -> str:
    """The memory and SQLite guards name a window by its end: a later window of the key ends later (it opens
    after this one ended), so no two windows of one key share it. ``repr`` round-trips the float exactly."""
    return repr(expires_at)


def _check_duration(name: str, seconds: float) -> None:
    if not 0 < seconds < _INFINITY:
        raise errors.InvalidParameter(name, f"{name} must be a positive, finite number of seconds.")


class MemoryGuard(forks.LockOwner):
    """In-process guard: thread-safe, expiring, bounded.

    Expired entries are purged on every call in expiry order (a heap), so memory holds only live entries.
    When ``max_entries`` live entries exist the guard fails closed with :class:`errors.ServiceUnavailable`
    rather than forgetting a live nonce (which would re-open a replay).
    """

    def __init__(self, *, clock: Clock = time.time, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, int]] = {}  # key -> (expires_at, count)
        self._expiry: list[tuple[float, str]] = []  # lazy heap; stale items are skipped on pop
        self._forked = False  # set in a worker forked after this guard was built, until it has said so
        self._own_lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._entries)

    def renew_locks(self) -> None:
        super().renew_locks()
        self._forked = True

    def _announce_fork(self) -> None:
        """Said once in each forked worker (gunicorn --preload): logging from the at-fork hook itself could
        meet a logging lock another thread of the parent held."""
        self._forked = False
        log.warning(
            "A memory guard built before this worker was forked (gunicorn --preload, multiprocessing's "
            "fork) is copied into each worker: each remembers only its own nonces, logouts and logon "
            "failures, so a signed request can be replayed once to each worker. Use a guard they share "
            "(sqlite:///, redis://)."
        )

    def claim(self, key: str, ttl_seconds: float) -> bool:
        # Every signed request claims its nonce here, so the common path avoids helper calls.
        if not 0 < ttl_seconds < _INFINITY:
            _check_duration("TtlSeconds", ttl_seconds)
        if self._forked:
            self._announce_fork()
        with self._lock:
            now = self._clock()
            if self._expiry and self._expiry[0][0] <= now:
                self._purge(now)
            if key in self._entries:
                return False
            self._store(key, now + ttl_seconds, 1)
            return True

    def incr(self, key: str, window_seconds: float) -> Counted:
        _check_duration("WindowSeconds", window_seconds)
        if self._forked:
            self._announce_fork()
        with self._lock:
            now = self._clock()
            self._purge(now)
            current = self._entries.get(key)
            if current is None:
                self._store(key, now + window_seconds, 1)
                return Counted(1, _window_id(now + window_seconds))
            expires_at, count = current
            self._entries[key] = (expires_at, count + 1)
            return Counted(count + 1, _window_id(expires_at))

    def count(self, key: str) -> int:
        with self._lock:
            self._purge(self._clock())
            current = self._entries.get(key)
            return 0 if current is None else current[1]

    def decr(self, key: str, window: str) -> None:
        with self._lock:
            self._purge(self._clock())
            current = self._entries.get(key)
            if current is not None and current[1] > 0 and _window_id(current[0]) == window:
                self._entries[key] = (current[0], current[1] - 1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def remembers_since(self) -> float:
        """Always: it forgets only with its process, whose requests and sessions it alone served."""
        return _ALWAYS

    def _store(self, key: str, expires_at: float, count: int) -> None:
        if len(self._entries) >= self._max_entries:
            raise errors.ServiceUnavailable("The replay guard is full; the request was denied.")
        self._entries[key] = (expires_at, count)
        heapq.heappush(self._expiry, (expires_at, key))

    def _purge(self, now: float) -> None:
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            current = self._entries.get(key)
            # Only drop the entry this heap item was pushed for, not a later re-claim of the same key.
            if current is not None and current[0] == expires_at:
                del self._entries[key]


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ram_guard ("
    " key TEXT PRIMARY KEY, expires_at REAL NOT NULL, count INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ram_guard_expires ON ram_guard(expires_at)",
)
_CLAIM = (
    "INSERT INTO ram_guard(key, expires_at, count) VALUES (?, ?, 1) "
    "ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at, count = 1 "
    "WHERE ram_guard.expires_at <= ?"
)
_INCR = (
    "INSERT INTO ram_guard(key, expires_at, count) VALUES (:key, :expires, 1) "
    "ON CONFLICT(key) DO UPDATE SET "
    " count = CASE WHEN ram_guard.expires_at <= :now THEN 1 ELSE ram_guard.count + 1 END, "
    " expires_at = CASE WHEN ram_guard.expires_at <= :now THEN excluded.expires_at "
    "                   ELSE ram_guard.expires_at END "
    "RETURNING count, expires_at"
)


_BUSY_BUDGET = 2.0  # seconds a guard call (on the request path) may wait for the database, in all
_SETUP_BUDGET = 30.0  # seconds opening the guard may wait (start-up, not a request)
_STEP_TIMEOUT = 0.1  # seconds SQLite's own busy handler waits before we back off and retry
_CLOSED = "The replay guard is closed; the request was denied."
_UNAVAILABLE = "The replay guard database is unavailable; the request was denied."


class SqliteGuard:
    """Guard in a SQLite table ``ram_guard``; safe across threads and processes sharing the file.

    Each operation is one autocommit statement (an upsert), which SQLite runs as a write transaction from its
    first step, so claims are atomic without read-then-write races, and a statement that fails has written
    nothing. While another connection holds the file's write lock (a long transaction, an ``sqlite3`` shell,
    a backup) a call waits at most ``busy_budget`` seconds (default 2) in all, then fails closed with
    :class:`errors.ServiceUnavailable`. Each call has a connection of its own (up to ``pool_size`` for
    writes and as many for reads; the wait for one counts towards the same budget), so calls never queue
    behind another's wait, and reads (``count``) never wait for connections held by waiting writes.
    A forked child opens connections of its own on first use (see :mod:`ram_middleware.forks`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        busy_budget: float = _BUSY_BUDGET,
        pool_size: int = 8,
        purge_every: int = 1000,
    ) -> None:
        _check_duration("BusyBudget", busy_budget)
        self._path = os.fspath(path)
        self._clock = clock
        self._busy_budget = busy_budget
        self._purge_every = purge_every
        self._ops = 0
        self._pool_size = max(1, pool_size)
        self._lock = threading.Lock()  # guards the fields below, never held while SQLite is waited for
        self._write_slots = threading.BoundedSemaphore(self._pool_size)
        self._read_slots = threading.BoundedSemaphore(self._pool_size)
        self._idle: list[sqlite3.Connection] = []
        self._lent: set[sqlite3.Connection] = set()  # in use by a call
        self._closed = False
        self._pid = os.getpid()  # the process whose connections these are
        self._adopt_lock = threading.Lock()  # held only while a forked child takes the guard over
        forks.holds_sqlite(self)
        if self._path != ":memory:":
            create_owner_only(self._path)
        self._run(self._init_schema, write=True, budget=max(busy_budget, _SETUP_BUDGET))

    def release_inherited(self) -> None:
        """For :mod:`ram_middleware.forks`: in a forked child, close the idle connections the parent opened
        and abandon those a thread of the parent was using at the fork."""
        if self._pid == os.getpid():
            return
        # Not under self._lock: a thread of the parent may have held it at the fork, and none runs here.
        idle, lent = self._idle, self._lent
        self._idle, self._lent = [], set()
        for conn in idle:
            conn.close()
        forks.abandon(*lent)

    def _adopt_if_forked(self) -> None:
        if self._pid == os.getpid():
            return
        with self._adopt_lock:
            if self._pid == os.getpid():  # another thread of this child did it meanwhile
                return
            forks.before_sqlite_connect()  # has every holder, this one included, release what it inherited
            self.release_inherited()  # in case that already ran in this child before this guard's turn
            # The parent's threads may have held these at the fork: this process starts afresh.
            self._lock = threading.Lock()
            self._write_slots = threading.BoundedSemaphore(self._pool_size)
            self._read_slots = threading.BoundedSemaphore(self._pool_size)
            self._pid = os.getpid()

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        # Another process may hold the file; WAL is a performance choice, not a correctness one.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            conn.execute(statement)

    def close(self) -> None:
        """Close the database connections (one in use is closed when its call ends); later calls fail."""
        self._adopt_if_forked()  # a forked child closes its own, never the parent's
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> SqliteGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(self, key: str, ttl_seconds: float) -> bool:
        _check_duration("TtlSeconds", ttl_seconds)

        def op(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = conn.execute(_CLAIM, (key, now + ttl_seconds, now))
            return cursor.rowcount == 1

        return self._run(op, write=True)

    def incr(self, key: str, window_seconds: float) -> Counted:
        _check_duration("WindowSeconds", window_seconds)

        def op(conn: sqlite3.Connection) -> Counted:
            now = self._clock()
            params = {"key": key, "expires": now + window_seconds, "now": now}
            row = conn.execute(_INCR, params).fetchone()
            return Counted(int(row[0]), _window_id(float(row[1])))

        return self._run(op, write=True)

    def count(self, key: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count FROM ram_guard WHERE key = ? AND expires_at > ?", (key, self._clock())
            ).fetchone()
            return 0 if row is None else int(row[0])

        return self._run(op)

    def decr(self, key: str, window: str) -> None:
        try:
            expires_at = float(window)
        except ValueError:
            return  # not a window of this guard: nothing of it to take back (the count stays, the safe side)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE ram_guard SET count = count - 1 "
                "WHERE key = ? AND expires_at = ? AND expires_at > ? AND count > 0",
                (key, expires_at, self._clock()),
            )

        self._run(op, write=True)

    def reset(self, key: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM ram_guard WHERE key = ?", (key,))

        self._run(op, write=True)

    def remembers_since(self) -> float:
        """Always: the file keeps every claim until it expires."""
        return _ALWAYS

    def purge(self) -> int:
        """Delete expired rows now; returns how many. Also done every ``purge_every`` writes."""
        return self._run(self._purge, write=True)

    def _purge(self, conn: sqlite3.Connection) -> int:
        return conn.execute("DELETE FROM ram_guard WHERE expires_at <= ?", (self._clock(),)).rowcount

    def _run(
        self, op: Callable[[sqlite3.Connection], _T], *, write: bool = False, budget: float | None = None
    ) -> _T:
        deadline = time.monotonic() + (self._busy_budget if budget is None else budget)
        self._adopt_if_forked()
        slots = self._write_slots if write else self._read_slots
        conn = self._acquire(slots, deadline)
        try:
            result = self._retry(conn, op, deadline)
            if write and self._purge_due():
                # Housekeeping after the caller's write has committed: it must not turn that into a 503.
                try:
                    self._retry(conn, self._purge, deadline)
                except errors.ServiceUnavailable:
                    with self._lock:
                        self._ops = self._purge_every  # try again at the next write
            return result
        finally:
            self._release(conn, slots)

    def _purge_due(self) -> bool:
        with self._lock:
            self._ops += 1
            if self._ops < self._purge_every:
                return False
            self._ops = 0
            return True

    def _acquire(self, slots: threading.BoundedSemaphore, deadline: float) -> sqlite3.Connection:
        if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise errors.ServiceUnavailable(_UNAVAILABLE)
        try:
            with self._lock:
                if self._closed:
                    raise errors.ServiceUnavailable(_CLOSED)
                if self._idle:
                    conn = self._idle.pop()
                    self._lent.add(conn)
                    return conn
            try:
                forks.before_sqlite_connect()
                conn = sqlite3.connect(
                    self._path, timeout=_STEP_TIMEOUT, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise errors.ServiceUnavailable(_UNAVAILABLE) from exc
            with self._lock:
                self._lent.add(conn)
            return conn
        except BaseException:
            slots.release()
            raise

    def _release(self, conn: sqlite3.Connection, slots: threading.BoundedSemaphore) -> None:
        with self._lock:
            self._lent.discard(conn)
            closed = self._closed
            if not closed:
                self._idle.append(conn)
        if closed:
            conn.close()
        slots.release()

    @staticmethod
    def _retry(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], _T], deadline: float) -> _T:
        attempt = 0
        while True:
            try:
                return op(conn)
            except sqlite3.OperationalError as exc:
                left = deadline - time.monotonic()
                if not _is_busy(exc) or left <= 0:
                    raise errors.ServiceUnavailable(_UNAVAILABLE) from exc
            attempt += 1
            # Jittered so that waiting processes do not retry in step; never past the deadline.
            time.sleep(min(left, min(0.05, 0.002 * 2**attempt) * random.uniform(0.5, 1.5)))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_guard(url: str, *, clock: Clock = time.time) -> Guard:
    """Open a guard from a URL: ``memory://``, ``sqlite:///relative.db`` / ``sqlite:////absolute.db``, or
    ``redis://host:6379/0`` (also ``rediss://``, ``unix://``; optional ``?prefix=`` namespaces the keys).

    The SQLite form follows the usual URL convention: what follows ``sqlite:///`` is the path, so a fourth
    slash makes it absolute. Redis expires keys by its own clock, so ``clock`` does not apply to it.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Imported here so that redis-py stays an optional dependency (the ``redis`` extra).
        try:
            from .guard_redis import RedisGuard
        except ModuleNotFoundError as exc:
            raise errors.missing_extra(exc, "A redis:// guard", "redis") from exc

        return RedisGuard.from_url(url)
    if url == "memory://" or url.startswith("memory://"):
        return MemoryGuard(clock=clock)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise errors.InvalidParameter("GuardUrl", "The sqlite guard URL names no database file.")
        make_parent_directory(path)
        return SqliteGuard(path, clock=clock)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise errors.InvalidParameter("GuardUrl", f"Unsupported guard URL scheme: {scheme[:32]!r}.")
