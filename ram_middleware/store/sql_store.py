"""What the SQLite and PostgreSQL stores share: URL and SecretBox, transactions that join the thread's
open one, and change subscribers.

A backend supplies :meth:`SqlStore._open_transaction` (begin on a pooled connection, commit or roll back,
announce), :meth:`SqlStore._after_fork` (connections of a forked child's own, see :mod:`..forks`) and, for
its own delivery rules, may override :meth:`SqlStore._announce`; for a cheaper one-statement read,
:meth:`SqlStore._open_lookup` (by default a read).
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from ..crypto import SecretBox
from .base import ChangeCallback
from .sql import SqlRepository

__all__ = ["Held", "SqlStore"]

log = logging.getLogger(__name__)


@dataclass
class Held:
    """The transaction a thread is inside (so nested ``read``/``write`` calls join it)."""

    repo: SqlRepository
    writable: bool
    announce: bool = False
    after: list[Callable[[], object]] = field(default_factory=list)  # run once the transaction commits


class SqlStore(ABC):
    """Transactions and change notification common to the SQL stores."""

    def __init__(self, url: str, box: SecretBox) -> None:
        self._url = url
        self._box = box
        self._local = threading.local()
        self._subscribers: list[ChangeCallback] = []
        self._rewind_subscribers: list[ChangeCallback] = []
        self._sub_lock = threading.Lock()
        self._pid = os.getpid()  # the process whose connections (and threads) this store holds
        # Held only while a forked child swaps in connections of its own, never in the process that opened
        # the store: a child never inherits it held (unless forked from a child adopting at that moment).
        self._adopt_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"

    @property
    def url(self) -> str:
        """The store URL (never with a password)."""
        return self._url

    @property
    def box(self) -> SecretBox:
        """Encrypts and decrypts the secrets kept in the store."""
        return self._box

    # --- transactions -------------------------------------------------------------------------------

    def read(self) -> AbstractContextManager[SqlRepository]:
        return self._transaction(writable=False, announce=False, request_path=True)

    def lookup(self) -> AbstractContextManager[SqlRepository]:
        return self._transaction(writable=False, announce=False, request_path=True, lookup=True)

    def write(
        self, *, announce: bool = True, request_path: bool = False
    ) -> AbstractContextManager[SqlRepository]:
        return self._transaction(writable=True, announce=announce, request_path=request_path)

    @contextmanager
    def _transaction(
        self, *, writable: bool, announce: bool, request_path: bool, lookup: bool = False
    ) -> Iterator[SqlRepository]:
        self._adopt_if_forked()
        held: Held | None = getattr(self._local, "held", None)
        if held is None:
            if lookup:
                opened = self._open_lookup()
            else:
                opened = self._open_transaction(
                    writable=writable, announce=announce, request_path=request_path
                )
            with opened as repo:
                yield repo
            return
        if writable and not held.writable:
            raise RuntimeError("a write transaction cannot be opened inside a read transaction")
        held.announce = held.announce or announce
        yield held.repo

    def after_commit(self, callback: Callable[[], object]) -> None:
        held: Held | None = getattr(self._local, "held", None)
        if held is None:
            callback()
        else:
            held.after.append(callback)

    @staticmethod
    def _committed_callbacks(held: Held) -> None:
        """After the commit of ``held`` (and after its change notice): its :meth:`after_commit` callbacks."""
        for callback in held.after:
            callback()

    def _open_lookup(self) -> AbstractContextManager[SqlRepository]:
        """A new transaction for :meth:`lookup` (one statement); by default a read."""
        return self._open_transaction(writable=False, announce=False, request_path=True)

    @abstractmethod
    def _open_transaction(
        self, *, writable: bool, announce: bool, request_path: bool
    ) -> AbstractContextManager[SqlRepository]:
        """A new transaction on a connection of this thread's own; it sets and clears ``self._local.held``.
        ``request_path``: a request waits on it, so its waits are bounded as a read's (reads always are)."""

    # --- fork ---------------------------------------------------------------------------------------

    def _adopt_if_forked(self) -> None:
        """On first use in a forked child, swap in connections (and threads) of this process's own."""
        if self._pid == os.getpid():
            return
        with self._adopt_lock:
            if self._pid == os.getpid():  # another thread of this child did it meanwhile
                return
            # A lock a thread of the parent held at the fork would stay held here for ever, and a
            # transaction the forking thread had open is on the parent's connection.
            self._local = threading.local()
            self._sub_lock = threading.Lock()
            resume = self._after_fork()
            self._pid = os.getpid()
        if resume is not None:
            # Outside the lock: a thread started here may call back into the store (a subscriber that writes).
            resume()

    @abstractmethod
    def _after_fork(self) -> Callable[[], object] | None:
        """Leave the parent's connections to it (:func:`..forks.abandon`) and set up this process's own;
        returns what to start once the store is this process's (its background threads), if anything."""

    # --- change notification ------------------------------------------------------------------------

    def subscribe(
        self, callback: ChangeCallback, *, on_rewind: ChangeCallback | None = None
    ) -> Callable[[], None]:
        self._adopt_if_forked()
        with self._sub_lock:
            self._subscribers.append(callback)
            if on_rewind is not None:
                self._rewind_subscribers.append(on_rewind)

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                if on_rewind is not None and on_rewind in self._rewind_subscribers:
                    self._rewind_subscribers.remove(on_rewind)

        return unsubscribe

    def _announce(self, counter: int) -> None:
        with self._sub_lock:
            callbacks = list(self._subscribers)
        self._tell(callbacks, counter)

    def _rewind(self, counter: int) -> None:
        """The database went back to ``counter`` (a failover that lost commits, a restored backup): its next
        writes reuse counter values already seen, so the ``on_rewind`` subscribers forget everything."""
        log.warning(
            "The store's change counter went back to %d (a failover that lost commits, or a restored "
            "backup): every snapshot is dropped.", counter,
        )  # fmt: skip
        with self._sub_lock:
            callbacks = list(self._rewind_subscribers)
        self._tell(callbacks, counter)

    @staticmethod
    def _tell(callbacks: list[ChangeCallback], counter: int) -> None:
        for callback in callbacks:
            try:
                callback(counter)
            except Exception:
                # The write has committed; a failing subscriber must not make the caller think otherwise.
                log.exception("A store change subscriber failed.")

    def schema_version(self) -> int:
        with self.read() as repo:
            return repo.schema_version()
