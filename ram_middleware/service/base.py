"""State and lookups shared by every group of service operations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from .. import errors
from ..identity import Account, Group, Policy, Role, User
from ..store.base import Repository, Store
from ..store.cache import Directory
from ..store.records import Page
from .limits import Limits
from .rules import encode_marker

__all__ = ["Clock", "ServiceBase", "page_of"]

Clock = Callable[[], datetime]
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
    ) -> None:
        self.store = store
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
        account = repo.get_account(account_id) if isinstance(account_id, str) else None
        if account is None:
            raise errors.EntityNotExist("Account", f"The account does not exist: {str(account_id)[:32]}")
        return account

    @staticmethod
    def _user(repo: Repository, account_id: str, user_name: str) -> User:
        user = repo.get_user(account_id, user_name) if isinstance(user_name, str) else None
        if user is None:
            raise errors.EntityNotExist("User", f"The user does not exist: {str(user_name)[:64]}")
        return user

    @staticmethod
    def _group(repo: Repository, account_id: str, group_name: str) -> Group:
        group = repo.get_group(account_id, group_name) if isinstance(group_name, str) else None
        if group is None:
            raise errors.EntityNotExist("Group", f"The group does not exist: {str(group_name)[:64]}")
        return group

    @staticmethod
    def _role(repo: Repository, account_id: str, role_name: str) -> Role:
        role = repo.get_role(account_id, role_name) if isinstance(role_name, str) else None
        if role is None:
            raise errors.EntityNotExist("Role", f"The role does not exist: {str(role_name)[:64]}")
        return role

    @staticmethod
    def _custom_policy(repo: Repository, account_id: str, policy_name: str) -> Policy:
        policy = repo.get_policy(account_id, policy_name) if isinstance(policy_name, str) else None
        if policy is None:
            raise errors.EntityNotExist("Policy", f"The policy does not exist: {str(policy_name)[:128]}")
        return policy
