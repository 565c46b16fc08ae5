"""Count the SQL statements a block of store work issues: through SQLite's own trace hook (:func:`traced`),
or on any SQL store, with the rows they return, through the repository's connection (:func:`recorded`);
and the round trips it makes to PostgreSQL, from libpq's protocol trace (:func:`round_trips`).

The block runs inside one outer transaction that the service's reads and writes join (a transaction opened
on a thread that holds one becomes part of it), so every statement goes through that one connection.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import pq

from ram_middleware.store import Store
from ram_middleware.store.postgres import PostgresStore
from ram_middleware.store.sql import SqlRepository


@contextmanager
def traced(store: Store) -> Iterator[list[str]]:
    """The statements run inside the block, in order (SQLite stores only)."""
    seen: list[str] = []
    with store.write(announce=False) as repo:
        assert isinstance(repo, SqlRepository)
        conn = repo._conn
        assert isinstance(conn, sqlite3.Connection), "statement tracing needs a SQLite store"
        conn.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            conn.set_trace_callback(None)


def writes(statements: list[str]) -> list[str]:
    """The statements among ``statements`` that change rows."""
    return [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")]


@dataclass
class Recording:
    """What :func:`recorded` saw: each statement's text, and how many rows were fetched in all."""

    statements: list[str] = field(default_factory=list)
    rows: int = 0


class _RecordingCursor:
    def __init__(self, cursor: Any, seen: Recording) -> None:
        self._cursor, self._seen = cursor, seen

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self._seen.rows += row is not None
        return row

    def fetchall(self) -> list[Any]:
        rows = list(self._cursor.fetchall())
        self._seen.rows += len(rows)
        return rows


class _RecordingConnection:
    """The repository's connection, passing each statement on and recording it and the rows it returns."""

    def __init__(self, conn: Any, seen: Recording) -> None:
        self._conn, self._seen = conn, seen

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _RecordingCursor:
        self._seen.statements.append(sql)
        return _RecordingCursor(self._conn.execute(sql, parameters), self._seen)


@contextmanager
def recorded(store: Store) -> Iterator[Recording]:
    """The statements run inside the block and the rows they returned, on SQLite or PostgreSQL."""
    seen = Recording()
    with store.write(announce=False) as repo:
        assert isinstance(repo, SqlRepository)
        conn = repo._conn
        repo._conn = _RecordingConnection(conn, seen)
        try:
            yield seen
        finally:
            repo._conn = conn


@contextmanager
def round_trips(store: Store) -> Iterator[list[str]]:
    """The messages that end a round trip (a simple Query, an extended-protocol Sync) sent inside the block
    on the store's pooled connections (its change listener's are left out), as libpq traces them. The block
    must not run inside a transaction of the store's, and the pool's connections must be open already."""
    assert isinstance(store, PostgresStore), "round trips are counted on a PostgreSQL store"
    sent: list[str] = []
    with ExitStack() as files:
        traced: list[tuple[Any, Any]] = []
        for conn in list(store._opened):
            if conn.closed or (conn.info.parameter_status("application_name") or "").startswith("ram-listen"):
                continue
            trace = files.enter_context(tempfile.TemporaryFile())
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            traced.append((conn, trace))
        assert traced, "no pooled connection to trace"
        try:
            yield sent
        finally:
            for conn, trace in traced:
                conn.pgconn.untrace()
                trace.seek(0)
                for line in trace.read().decode().splitlines():
                    # "F <length> <message> <contents>": what the client (frontend) sent.
                    fields = line.split("\t")
                    if fields[0] == "F" and fields[2].split(" ")[0] in ("Query", "Sync"):
                        sent.append(line)
