"""Shared plumbing of the SQL repository: statement execution through the dialect, time conversion."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from .. import errors
from .dialect import Dialect

__all__ = ["COUNTER_ROW", "NO_COUNTER", "Connection", "Cursor", "SqlBase", "from_ts", "to_ts"]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


COUNTER_ROW = "ram_changes c"
"""The change counter's row: a request-path read starts from it, ``SELECT …, c.counter FROM ram_changes c
LEFT JOIN … WHERE c.id = 1``, so that one statement returns the counter with the rows it read in the same
snapshot, and returns it (one row of NULLs besides) when nothing was found; see :meth:`SqlBase._counted`."""

NO_COUNTER = "The identity store has no change counter."
"""ServiceUnavailable's message when the counter's row (which every migration creates) is gone."""


class Cursor(Protocol):
    """The part of a DB-API cursor the repository uses (sqlite3 and psycopg both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the repository uses: ``execute`` returning a cursor."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


def to_ts(when: datetime) -> str:
    """Fixed-width UTC text (``2024-01-02T03:04:05.000000Z``): text order equals time order."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime(_TS_FORMAT)


def from_ts(text: str | None) -> datetime | None:
    """The aware UTC datetime stored by :func:`to_ts` (None stays None)."""
    if text is None:
        return None
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def must_ts(text: str) -> datetime:
    """:func:`from_ts` for NOT NULL columns."""
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def opt_ts(when: datetime | None) -> str | None:
    return None if when is None else to_ts(when)


class SqlBase:
    """Runs dialect-translated statements on one connection inside the caller's transaction."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    def _exec(self, text: str, params: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = self._conn.execute(self._dialect.sql(text), tuple(params))
        return cursor

    def _one(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self._exec(text, params).fetchone()

    def _all(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._exec(text, params).fetchall()

    def _counted(self, text: str, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        """The change counter (the last column) and the rows of a statement reading :data:`COUNTER_ROW`."""
        rows = self._all(text, params)
        if not rows or rows[0][-1] is None:  # the row every migration creates: fail closed without it
            raise errors.ServiceUnavailable(NO_COUNTER)
        return int(rows[0][-1]), rows

    def _scalar(self, text: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(text, params)
        return None if row is None else row[0]
