"""Connections a forked process inherits (gunicorn --preload, multiprocessing's 'fork') stay the parent's.

After ``fork()`` the child holds copies of the parent's sockets and SQLite handles. Used from both
processes, one protocol stream carries two conversations: each process reads answers to the other's
queries (another user's row). Closed from the child the usual way, they tell the server the parent's
session is over (PostgreSQL's Terminate message). So a resource that holds connections remembers the pid
that opened them and, on its first use in another process, opens its own and hands the inherited ones to
:func:`abandon`. The pid is compared on use rather than reset by an at-fork hook, which servers that fork
from C (uWSGI) never run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

__all__ = ["abandon", "release_descriptors"]

_abandoned: list[object] = []


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
