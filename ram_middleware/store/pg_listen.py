"""Change propagation for the PostgreSQL store: one LISTEN connection per process.

Why LISTEN/NOTIFY rather than Redis pub/sub: the store already *is* PostgreSQL, so no extra moving part
can fail on its own or reorder against the data. ``NOTIFY`` is transactional — it is sent exactly when
the write commits and never for a rolled-back one — so a notification can never announce a change that
readers cannot see yet, and a deployment without Redis still gets instant revocation.

Every announced write transaction runs ``pg_notify(<channel>, <new change counter>)`` (one channel per
schema). The payload is the counter, not an account id: a write transaction does not know which account
it touched, and the Directory's snapshot is tagged with the counter, so the counter is exactly what it
needs to decide "drop". The :class:`ChangeListener` thread holds a dedicated autocommit connection that
LISTENs on the channel and hands each counter to the store's subscribers (the
:class:`~ram_middleware.store.cache.Directory` drops its snapshot at once). After ``heartbeat`` seconds
without a notification it reads the counter itself: that proves the database is still reachable and
catches anything missed.

A lost connection means "re-subscribe and reload": the listener reconnects (at once, then backing off to
one attempt a second), LISTENs again, then reads the counter and delivers it; any write committed
meanwhile has raised the counter, so every snapshot taken before it is dropped. A counter read *lower*
than one seen before means the database went back in time — a failover to a replica that had not
received the latest commits, or a restore from a backup — and its next writes will reuse counter values
already seen: the listener reports it to ``rewound(counter)`` instead, and the store has every snapshot
dropped whatever its counter (nothing that only the lost commits granted may survive). Meanwhile
:meth:`ChangeListener.fresh_counter` is None — as it also is when the last contact is older than
``max_staleness`` — and the store fails closed (ServiceUnavailable) instead of vouching for a snapshot
it can no longer check.

The thread belongs to the process that started it: in a forked child (which inherits the object, not the
thread) the listener reports itself down and :meth:`ChangeListener.stop` leaves the parent's connection
alone; the store starts a listener of the child's own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import psycopg

from .pg_deadline import cut_after

__all__ = ["ChangeListener"]

log = logging.getLogger(__name__)

_COUNTER = "SELECT counter FROM ram_changes WHERE id = 1"
_WAIT = 0.1  # seconds per wait for notifications
_FIRST_RETRY = 0.05  # seconds before reconnecting after a lost session
_LAST_RETRY = 1.0  # the longest wait between reconnection attempts


class ChangeListener:
    """A daemon thread that turns NOTIFYs on ``channel`` into ``deliver(counter)`` calls."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
        channel: str,
        deliver: Callable[[int], None],
        *,
        rewound: Callable[[int], None] | None = None,
        heartbeat: float = 1.0,
        max_staleness: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._deliver = deliver
        self._rewound = deliver if rewound is None else rewound
        self._heartbeat = heartbeat
        self._max_staleness = max_staleness
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._counter: int | None = None
        # The highest counter ever seen, kept across reconnections: a read below it is a rewind.
        self._high: int | None = None
        self._contact: float = float("-inf")
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ram-listen-{channel}", daemon=True)
        self._pid = 0  # the process the thread runs in, once started

    def start(self, wait: float = 0.0) -> bool:
        """Start the thread; optionally wait up to ``wait`` seconds for the first subscription."""
        self._pid = os.getpid()
        self._thread.start()
        return self._connected.wait(wait) if wait > 0 else self._connected.is_set()

    @property
    def connected(self) -> bool:
        """Whether the LISTEN connection is currently up (in this process: a forked child has no thread)."""
        return self._pid == os.getpid() and self._connected.is_set()

    def fresh_counter(self) -> int | None:
        """The last counter seen, if the database was in contact within ``max_staleness``; else None."""
        if self._pid != os.getpid():  # before the lock: the parent's thread may have held it at the fork
            return None
        with self._lock:
            if not self._connected.is_set() or self._counter is None:
                return None
            if self._monotonic() - self._contact > self._max_staleness:
                return None
            return self._counter

    def stop(self) -> None:
        """Stop listening and close the connection (returns within about 0.1 s)."""
        if self._pid not in (0, os.getpid()):
            return  # started by the parent: its thread and connection are not this process's to stop
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(_WAIT + 5.0)

    # --- the thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = _FIRST_RETRY
        while not self._stop.is_set():
            try:
                self._session()
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("Store change listener lost its connection (%s).", type(exc).__name__)
            except Exception:
                # A subscriber bug must not end propagation for the life of the process.
                log.exception("Store change listener failed; reconnecting.")
            # A session that was up retries at once; repeated failures back off to one attempt a second.
            delay = _FIRST_RETRY if self._connected.is_set() else min(delay * 2, _LAST_RETRY)
            self._disconnected()
            self._stop.wait(delay)

    def _session(self) -> None:
        conn = self._connect()
        try:
            conn.execute(f'LISTEN "{self._channel}"')
            self._seen(self._read_counter(conn), read=True)
            self._connected.set()
            quiet_since = self._monotonic()
            while not self._stop.is_set():
                # Short waits keep stop() prompt; the database is only queried once per quiet heartbeat.
                for notify in conn.notifies(timeout=_WAIT, stop_after=1):
                    self._seen(_parse(notify.payload))
                    quiet_since = self._monotonic()
                if self._monotonic() - quiet_since >= self._heartbeat:
                    # A heartbeat the server never answers ends the session (then `connected` is false
                    # and the store fails closed at once) instead of hanging it with `connected` still set.
                    with cut_after(conn, self._max_staleness):
                        self._seen(self._read_counter(conn), read=True)
                    quiet_since = self._monotonic()
        finally:
            conn.close()

    @staticmethod
    def _read_counter(conn: psycopg.Connection[tuple[object, ...]]) -> int:
        row = conn.execute(_COUNTER).fetchone()
        return 0 if row is None else int(str(row[0]))

    def _seen(self, counter: int | None, *, read: bool = False) -> None:
        """Note contact and a counter: a NOTIFY's payload, or (``read``) the counter read from the table."""
        with self._lock:
            self._contact = self._monotonic()
            if counter is None:
                return
            # Only a read can prove a rewind: a NOTIFY may arrive after a read that already saw its commit.
            # The database's counter never goes down by itself, so a read below anything seen is a rewind.
            rewound = read and self._high is not None and counter < self._high
            if not rewound and self._counter is not None and counter <= self._counter:
                return
            self._counter = counter
            self._high = counter if rewound or self._high is None else max(self._high, counter)
        (self._rewound if rewound else self._deliver)(counter)

    def _disconnected(self) -> None:
        self._connected.clear()
        with self._lock:
            # After a reconnect the counter is read afresh: never trust one seen before the gap.
            self._counter = None


def _parse(payload: str) -> int | None:
    try:
        return int(payload)
    except ValueError:
        return None
