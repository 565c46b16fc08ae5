"""Count the SQL statements a block of store work issues: through SQLite's own trace hook (:func:`traced`),
or on any SQL store, with the rows they return, through the repository's connection (:func:`recorded`).

The block runs inside one outer transaction that the service's reads and writes join (a transaction opened
on a thread that holds one becomes part of it), so every statement goes through that one connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ram_middleware.store import Store
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
