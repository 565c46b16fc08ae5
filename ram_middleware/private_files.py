"""Files and directories of their owner alone (0600, 0700), whatever the umask: the SQLite databases hold
password hashes and ciphertexts (the store) or who failed to log on (a guard), and whoever may write to
their directory may swap them for files of their own."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["create_owner_only", "make_parent_directory"]


def create_owner_only(path: str) -> None:
    """Create the file at ``path`` readable by its owner alone (0600), unless it exists: an existing file
    keeps the mode its owner chose. SQLite gives a database's -wal and -shm files the database file's mode;
    an empty file is an empty database."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_parent_directory(path: str) -> None:
    """Create the directory ``path`` is in, if missing, as its owner's alone (0700); one that exists (and the
    directories above a new one) keep their modes."""
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
