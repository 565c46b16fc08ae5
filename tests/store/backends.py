"""Backends every store/service behaviour test runs against: memory, SQLite and PostgreSQL.

PostgreSQL runs when a server is reachable at 127.0.0.1:5432 (each test gets a schema of its own, dropped
afterwards); without one the PostgreSQL variants skip, except under CI=true where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ram_middleware.errors import RAMError
from ram_middleware.store import Store, open_store

BACKENDS = ("memory", "sqlite", "postgres")


def store_url(kind: str, directory: Path) -> str:
    return "memory://" if kind == "memory" else f"sqlite:///{directory}/ram.db"


def open_backend(kind: str, directory: Path) -> Iterator[Store]:
    """Open a fresh store of ``kind`` (environment master keys ignored) and close it afterwards."""
    if kind == "postgres":
        yield from _open_postgres()
        return
    store = open_store(store_url(kind, directory), env={})
    try:
        yield store
    finally:
        store.close()


def _open_postgres() -> Iterator[Store]:
    from ram_middleware.crypto import generate_key
    from tests.scaleout.servers import pg_schema_url, require_shared_postgres

    require_shared_postgres()
    with pg_schema_url() as url:
        store = open_store(url, master_keys=[generate_key()], env={})
        try:
            yield store
        finally:
            store.close()


class FakeClock:
    """A settable UTC clock for the service (``clock=``)."""

    def __init__(self, start: datetime = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class expect_code:  # lower case: used like pytest.raises
    """``with expect_code("EntityNotExist.User"):`` — the block must raise a RAMError with that exact Code."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.error: RAMError | None = None

    def __enter__(self) -> expect_code:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if error is None:
            raise AssertionError(f"expected {self.code}, nothing was raised")
        if not isinstance(error, RAMError):
            return False
        assert error.code == self.code, f"expected {self.code}, got {error.code}: {error.message}"
        self.error = error
        return True
