"""Count the SQL statements a block of store work issues, through SQLite's own trace hook.

The block runs inside one outer transaction that the service's reads and writes join (a transaction opened
on a thread that holds one becomes part of it), so every statement goes through that one connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

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
