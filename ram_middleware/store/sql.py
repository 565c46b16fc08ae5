"""The SQL repository: every table's rows behind one object bound to one open transaction.

It is engine-neutral (see :mod:`.dialect`); the SQLite store uses it today and a PostgreSQL store can
reuse it unchanged with :data:`.dialect.POSTGRES` and a psycopg connection.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from .schema import MIGRATIONS, VERSION_TABLE
from .sql_base import NO_COUNTER
from .sql_entities import EntityRows
from .sql_policies import PolicyRows
from .sql_secrets import SecretRows

__all__ = ["SqlRepository", "StoreFailure", "refuse_newer_schema"]


class StoreFailure(errors.ServiceUnavailable):
    """The database failed in a way retrying will not fix (I/O error, constraint, unknown schema)."""

    default_code = "ServiceUnavailable.Store"
    default_message = "The identity store failed; the operation was not applied."


STORE_CLOSED = "The identity store is closed."
"""StoreFailure's message for a call on a store after its ``close()`` (no backend quietly reconnects)."""


def refuse_newer_schema(version: int) -> None:
    """Raise StoreFailure for a database whose schema is newer than this code: it would be misread."""
    if version > len(MIGRATIONS):
        raise StoreFailure(
            f"The database schema is version {version}; this ram-middleware knows up to {len(MIGRATIONS)}."
        )


def _counter(value: Any) -> int:
    if value is None:  # its row is gone: fail closed rather than count from nothing
        raise errors.ServiceUnavailable(NO_COUNTER)
    return int(value)


class SqlRepository(EntityRows, PolicyRows, SecretRows):
    """Rows of every table, read and written inside the caller's transaction."""

    def change_counter(self) -> int:
        """How many announced writes the database has seen (any process)."""
        return _counter(self._scalar("SELECT counter FROM ram_changes WHERE id = 1"))

    def bump_change_counter(self) -> int:
        """Count one more write; returns the new value."""
        return _counter(
            self._scalar("UPDATE ram_changes SET counter = counter + 1 WHERE id = 1 RETURNING counter")
        )

    def schema_version(self) -> int:
        value = self._scalar("SELECT version FROM ram_schema_version")
        return 0 if value is None else int(value)

    def migrate(self) -> int:
        """Apply the missing migrations in order; returns the resulting schema version."""
        self._exec(VERSION_TABLE)
        current = self._scalar("SELECT version FROM ram_schema_version")
        if current is None:
            self._exec("INSERT INTO ram_schema_version (version) VALUES (0)")
            current = 0
        current = int(current)
        refuse_newer_schema(current)
        for number in range(current + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[number - 1]:
                self._exec(statement)
            self._exec("UPDATE ram_schema_version SET version = ?", (number,))
        return len(MIGRATIONS)
