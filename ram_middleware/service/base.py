"""State and lookups shared by every group of service operations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from .. import errors
from ..guard import Guard
from ..identity import Account, Group, Policy, Role, User
from ..store.base import Repository, Store
from ..store.cache import Directory
from ..store.records import Page
from .limits import Limits
from .rules import check_max_items, decode_marker, encode_marker, nameable

__all__ = ["Clock", "ServiceBase", "must_exist", "page_of"]

Clock = Callable[[], datetime]
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def must_exist(found: T | None, kind: str, name: object, width: int = 64) -> T:
    """``found``, or ``EntityNotExist.<kind>`` naming the first ``width`` characters of ``name``."""
    if found is None:
        raise errors.EntityNotExist(kind, f"The {kind.lower()} does not exist: {str(name)[:width]}")
    return found


def page_of(rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra row, if any, becomes the next Marker."""
    if len(rows) > limit:
        return Page(tuple(rows[:limit]), True, encode_marker(key(rows[limit])))
    return Page(tuple(rows), False, None)


class ServiceBase:
    """Holds the store, quotas, clock and directory; finds entities or raises ``EntityNotExist.*``."""

    def __init__(
        self,
        store: Store,
        *,
        limits: Limits | None = None,
        clock: Clock | None = None,
        directory: Directory | None = None,
        mfa_issuer: str = "ram-middleware",
        guard: Guard | None = None,
    ) -> None:
        self.store = store
        self.guard = guard
        self.limits = limits if limits is not None else Limits()
        self._clock = clock if clock is not None else _utc_now
        self.directory = directory if directory is not None else Directory(store)
        self.mfa_issuer = mfa_issuer

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the service clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    @staticmethod
    def _account(repo: Repository, account_id: str) -> Account:
        found = repo.get_account(account_id) if isinstance(account_id, str) else None
        return must_exist(found, "Account", account_id, 32)

    @staticmethod
    def _user(repo: Repository, account_id: str, user_name: str) -> User:
        found = repo.get_user(account_id, user_name) if nameable(user_name) else None
        return must_exist(found, "User", user_name)

    @staticmethod
    def _group(repo: Repository, account_id: str, group_name: str) -> Group:
        found = repo.get_group(account_id, group_name) if nameable(group_name) else None
        return must_exist(found, "Group", group_name)

    @staticmethod
    def _role(repo: Repository, account_id: str, role_name: str) -> Role:
        found = repo.get_role(account_id, role_name) if nameable(role_name) else None
        return must_exist(found, "Role", role_name)

    @staticmethod
    def _custom_policy(repo: Repository, account_id: str, policy_name: str) -> Policy:
        found = repo.get_policy(account_id, policy_name) if nameable(policy_name) else None
        return must_exist(found, "Policy", policy_name, 128)

    def _user_or_root(self, repo: Repository, account_id: str, user_name: str | None) -> User | None:
        """The named user, or None for the account root; the account must exist either way."""
        self._account(repo, account_id)
        return None if user_name is None else self._user(repo, account_id, user_name)

    def _account_page(
        self,
        account_id: str,
        marker: str | None,
        max_items: int,
        bound: int,
        fetch: Callable[[Repository], Callable[[str, str, int], list[T]]],
        key: Callable[[T], str],
        names: str,
    ) -> Page[T]:
        """One page (MaxItems 1..``bound``) of an account-wide listing: ``fetch(repo)`` is the repository
        method taking ``(account_id, start, limit)``, ``key`` the sort key the Marker continues at (the
        lower-cased name of the ``names`` rule, e.g. ``"UserName"``)."""
        check_max_items(max_items, bound)
        start = decode_marker(marker, names=names)
        with self.store.read() as repo:
            self._account(repo, account_id)
            rows = fetch(repo)(account_id, start, max_items + 1)
        return page_of(rows, max_items, key)
