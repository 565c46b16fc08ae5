"""A client-side deadline for a PostgreSQL connection: past it, the connection's socket is shut down.

The server's ``statement_timeout`` and ``lock_timeout`` end a query that waits on a lock or runs long, but
not one a *frozen* server (or a network that silently drops what it forwards) never answers: its peer
still acknowledges TCP, so neither keepalives nor ``tcp_user_timeout`` fire, and libpq waits for ever.
Shutting the socket down makes the blocked call fail at once with ``psycopg.OperationalError``, which the
store turns into 503 ``ServiceUnavailable``, and the pool then discards the connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

__all__ = ["Cut", "cut_after"]


class Cut:
    """What :func:`cut_after` yields: its bound, and whether it has cut the connection."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False


@contextmanager
def cut_after(conn: psycopg.Connection[tuple[object, ...]], seconds: float) -> Iterator[Cut]:
    """Run the block; if it is still running after ``seconds``, shut ``conn``'s socket down (so the block's
    next use of ``conn`` fails) and set the yielded :class:`Cut`'s ``fired``: the caller can then say that
    time ran out, which the error the connection raises does not."""
    state = Cut(seconds)

    def cut() -> None:
        state.fired = True
        with contextlib.suppress(OSError, ValueError, psycopg.Error):
            # A duplicate descriptor: shutting it down ends the connection, closing it leaves libpq's own.
            sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        timer.cancel()
