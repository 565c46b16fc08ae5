"""Connections a forked process inherits (gunicorn --preload, multiprocessing's 'fork') stay the parent's.

After ``fork()`` the child holds copies of the parent's sockets and SQLite handles. Used from both
processes, one protocol stream carries two conversations: each process reads answers to the other's
queries (another user's row). Closed from the child the usual way, they tell the server the parent's
session is over (PostgreSQL's Terminate message). So a resource that holds connections remembers the pid
that opened them and, on its first use in another process, opens its own and hands the inherited ones to
:func:`abandon`. The pid is compared on use rather than reset by an at-fork hook, which servers that fork
from C (uWSGI) never run.

SQLite needs more: it keeps one lock record per database file and process, shared by every connection of
the process. While an inherited connection is open, a connection the child opens trusts the parent's
locks and takes none of its own; the parent, closing its last connection, then finds the file unused,
checkpoints and deletes the WAL under the child, which goes on reading a stale database for ever and
writes into the deleted file. So before a child opens its first SQLite file connection,
:func:`before_sqlite_connect` has every holder (:func:`holds_sqlite`: stores' pools, guards) close the
idle connections it inherited (no lock of the parent's is released by that: POSIX locks are per process)
and abandon any a thread of the parent was using at the fork.

Locks need the opposite timing. A lock a thread of the parent held at the fork stays held in the child for
ever (that thread does not exist there), so the child's first request would hang. A lock on the request
path is taken too often to compare the pid each time: its owner (a :class:`LockOwner`) replaces it in an
at-fork hook, which ``os.fork``, multiprocessing and gunicorn run (uWSGI with ``py-call-uwsgi-fork-hooks``
or ``py-call-osafterfork``), before any thread of the child can wait on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

__all__ = [
    "LockOwner",
    "SqliteHolder",
    "abandon",
    "before_sqlite_connect",
    "holds_sqlite",
    "release_descriptors",
]

_abandoned: list[object] = []


class SqliteHolder(Protocol):
    """Something that holds SQLite file connections (see the module docstring)."""

    def release_inherited(self) -> None:
        """In a forked child: close the idle connections the parent opened, :func:`abandon` busy ones."""
        ...


_sqlite_holders: weakref.WeakSet[SqliteHolder] = weakref.WeakSet()
_sqlite_pid = os.getpid()  # the process whose SQLite connections the holders hold
# Held only while a forked child releases what it inherited, never by the process that opened them.
_sqlite_sweep = threading.Lock()


def abandon(*inherited: object) -> None:
    """Keep ``inherited`` referenced, unused, for the life of this process: a finaliser would close it, and
    closing speaks on (or bookkeeps locks of) what still belongs to the parent."""
    _abandoned.extend(inherited)


def release_descriptors(descriptors: Iterable[int]) -> None:
    """Point each inherited descriptor at /dev/null: this process lets go of the parent's sockets without a
    byte sent on them (a dead parent's server sessions then end with it), and the numbers stay taken, so
    nothing this process opens later can be mistaken for them."""
    wanted = [fd for fd in descriptors if fd >= 0]
    if not wanted:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in wanted:
            with contextlib.suppress(OSError):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def holds_sqlite(holder: SqliteHolder) -> None:
    """Register ``holder``: a forked child has it release its inherited SQLite connections first of all."""
    _sqlite_holders.add(holder)


def before_sqlite_connect() -> None:
    """Call before opening a SQLite file connection: the first call in a forked child has every holder
    release what it inherited, so that the new connection keeps lock records of this process's own."""
    global _sqlite_pid
    if _sqlite_pid == os.getpid():
        return
    with _sqlite_sweep:
        if _sqlite_pid == os.getpid():  # another thread of this child did it meanwhile
            return
        for holder in list(_sqlite_holders):
            holder.release_inherited()
        _sqlite_pid = os.getpid()


class LockOwner:
    """Gives its subclass ``self._lock``, a lock a forked child replaces at once (see the module doc)."""

    _lock: threading.Lock

    def _own_lock(self) -> None:
        """Call from ``__init__``."""
        self._lock = threading.Lock()
        _lock_owners.add(self)

    def renew_locks(self) -> None:
        """In a forked child, before any of its threads run: a new lock."""
        self._lock = threading.Lock()


_lock_owners: weakref.WeakSet[LockOwner] = weakref.WeakSet()


def _renew_locks() -> None:
    for owner in list(_lock_owners):
        owner.renew_locks()


os.register_at_fork(after_in_child=_renew_locks)
