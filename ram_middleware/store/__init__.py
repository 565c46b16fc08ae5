"""Where identities and policies live: :func:`open_store` picks a backend from a URL.

URLs: ``memory://``; ``sqlite:///relative/ram.db`` or ``sqlite:////absolute/ram.db`` (the path is
everything after ``sqlite:///``, as in SQLAlchemy; ``sqlite://`` alone means ``./ram.db``).
PostgreSQL: ``postgresql://user[:password]@host:5432/db`` (:mod:`.postgres`, the same SQL); store options
may ride in its query (``?ram_max_staleness=5&ram_pool_size=10``), libpq's own too
(``options=-csearch_path%3Dram`` picks the schema).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import errors
from ..crypto import KEY_ENV, MasterKeyError, SecretBox, keys_from_env, resolve_secret_box
from ..private_files import make_parent_directory
from .base import ChangeCallback as ChangeCallback
from .base import Repository as Repository
from .base import Store as Store
from .records import ROOT as ROOT
from .records import Attachment as Attachment
from .records import JoinedGroup as JoinedGroup
from .records import JoinedUser as JoinedUser
from .records import LoginProfile as LoginProfile
from .records import MFADevice as MFADevice
from .records import Page as Page
from .sql import StoreFailure as StoreFailure
from .sqlite import SqliteStore as SqliteStore
from .sqlite import holds_secrets

DEFAULT_URL = "sqlite:///ram.db"
KEY_FILE_SUFFIX = ".key"


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite://`` URL, or None for ``memory://``."""
    if url == "memory://" or url.startswith("memory://"):
        return None
    if not url.startswith("sqlite://"):
        raise errors.InvalidParameter(
            "StoreUrl",
            "Use memory://, sqlite:///path/to/ram.db or postgresql://user@host:5432/db as the store URL.",
        )
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
    return path or "ram.db"


def open_store(
    url: str = DEFAULT_URL,
    *,
    master_keys: Sequence[bytes | str] | None = None,
    env: Mapping[str, str] | None = None,
    production: bool = False,
    busy_budget: float = 30.0,
) -> Store:
    """Open (creating and migrating as needed) the store at ``url``.

    The SecretBox comes from ``master_keys``, else ``RAM_MASTER_KEY`` in ``env`` (default: the process
    environment), else for SQLite a key file ``<database>.key`` beside the database (created 0600), else
    for ``memory://`` an ephemeral key. PostgreSQL requires one of the first two: every instance must
    decrypt the same secrets. A SQLite database that holds secrets never gets a new key file: without its
    key (the file gone, no ``RAM_MASTER_KEY``) it is not opened (:class:`MasterKeyError`), and no store is
    opened whose secrets were encrypted with a key that is not configured.
    """
    environment = os.environ if env is None else env
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url, master_keys, environment, busy_budget)
    path = sqlite_path(url)
    key_file = None if path is None else Path(path + KEY_FILE_SUFFIX)
    if path is not None and key_file is not None:
        make_parent_directory(path)
        # Fail closed rather than make a new key file for a database that holds secrets already: the new
        # key would open none of them, and the secrets made from then on would need another key than they.
        keyless = not (master_keys or keys_from_env(environment) or key_file.exists())
        if keyless and holds_secrets(path, busy_budget):
            raise MasterKeyError(
                f"{path} holds secrets encrypted with a master key that is not configured: restore its key "
                f"file {key_file}, or set {KEY_ENV} to the key they were encrypted with."
            )
    box: SecretBox = resolve_secret_box(
        master_keys, key_file=key_file, env=environment, production=production
    )
    return _with_known_keys(SqliteStore(path, box=box, url=url, busy_budget=busy_budget))


def _open_postgres(
    url: str, master_keys: Sequence[bytes | str] | None, env: Mapping[str, str], busy_budget: float
) -> Store:
    # Imported here so psycopg stays an optional dependency (the ``postgres`` extra).
    try:
        from .postgres import PostgresStore, split_store_options
    except ModuleNotFoundError as exc:
        raise errors.missing_extra(exc, "A PostgreSQL store", "postgres") from exc

    if not master_keys and not keys_from_env(env):
        raise MasterKeyError(
            f"A PostgreSQL store needs a master key shared by every instance: set {KEY_ENV} "
            "(or pass master_keys)."
        )
    conninfo, options = split_store_options(url)
    box = resolve_secret_box(master_keys, env=env)
    return _with_known_keys(PostgresStore(conninfo, box=box, busy_budget=busy_budget, **options))


def _with_known_keys(store: Store) -> Store:
    """``store`` once every secret in it is known to be encrypted with a configured key; else it is closed
    and :class:`MasterKeyError` raised. A wrong key (a mistyped ``RAM_MASTER_KEY``, an old key dropped before
    re-encrypting) then stops the start, rather than fail each signed request and logon with MFA, and no new
    secret is encrypted with a key the stored ones do not share."""
    try:
        with store.read() as repo:
            store.box.check_key_ids(repo.secret_key_ids())
    except BaseException:
        store.close()
        raise
    return store


__all__ = [
    "DEFAULT_URL",
    "ROOT",
    "Attachment",
    "ChangeCallback",
    "JoinedGroup",
    "JoinedUser",
    "LoginProfile",
    "MFADevice",
    "Page",
    "Repository",
    "SqliteStore",
    "Store",
    "StoreFailure",
    "open_store",
    "sqlite_path",
]
