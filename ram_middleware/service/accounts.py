"""Accounts, account alias, password policy and security preference."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .. import errors
from ..credentials.password import PasswordPolicy
from ..credentials.preference import SecurityPreference
from ..identity import Account
from . import ids
from .base import ServiceBase
from .rules import check_alias, nameable

__all__ = ["AccountOps"]

_PASSWORD_POLICY = "password_policy"
_SECURITY_PREFERENCE = "security_preference"


class AccountOps(ServiceBase):
    """Accounts and their account-wide settings."""

    def create_account(self, alias: str | None = None) -> Account:
        """A new account with a random 16-digit AccountId (and optionally an alias)."""
        if alias is not None:
            check_alias(alias)
        with self.store.write() as repo:
            if alias is not None and repo.find_account_by_alias(alias) is not None:
                raise errors.EntityAlreadyExists("AccountAlias", f"The account alias is taken: {alias}")
            account_id = ids.account_id()
            while repo.get_account(account_id) is not None:
                account_id = ids.account_id()
            account = Account(account_id, alias, self._now())
            repo.insert_account(account)
        return account

    def get_account(self, account_id: str) -> Account:
        """The account; ``EntityNotExist.Account`` when unknown."""
        with self.store.read() as repo:
            return self._account(repo, account_id)

    def list_accounts(self) -> list[Account]:
        """Every account, by AccountId."""
        with self.store.read() as repo:
            return repo.list_accounts()

    def find_account(self, alias_or_id: str) -> Account:
        """The account named by an AccountId or an alias (as in ``user@<alias or id>`` logons)."""
        found = None
        if nameable(alias_or_id):
            with self.store.read() as repo:
                found = repo.get_account(alias_or_id) if alias_or_id.isdigit() else None
                found = found or repo.find_account_by_alias(alias_or_id.lower())
        if found is None:
            raise errors.EntityNotExist("Account", f"The account does not exist: {alias_or_id[:32]}")
        return found

    def set_account_alias(self, account_id: str, alias: str) -> Account:
        """Set the alias (unique across accounts: ``EntityAlreadyExists.AccountAlias``)."""
        check_alias(alias)
        with self.store.write() as repo:
            account = self._account(repo, account_id)
            holder = repo.find_account_by_alias(alias)
            if holder is not None and holder.account_id != account_id:
                raise errors.EntityAlreadyExists("AccountAlias", f"The account alias is taken: {alias}")
            repo.set_account_alias(account_id, alias)
        return Account(account.account_id, alias, account.create_date)

    def get_account_alias(self, account_id: str) -> str | None:
        """The alias, or None."""
        return self.get_account(account_id).alias

    def clear_account_alias(self, account_id: str) -> None:
        """Remove the alias."""
        with self.store.write() as repo:
            self._account(repo, account_id)
            repo.set_account_alias(account_id, None)

    # --- password policy and security preference ----------------------------------------------------

    def _get_setting(self, account_id: str, name: str) -> dict[str, Any] | None:
        """An account setting's API object as stored, or None while it has never been set."""
        with self.store.read() as repo:
            self._account(repo, account_id)
            stored = repo.get_setting(account_id, name)
        return None if stored is None else dict(json.loads(stored))

    def _put_setting(self, account_id: str, name: str, value: Mapping[str, Any]) -> None:
        with self.store.write() as repo:
            self._account(repo, account_id)
            repo.put_setting(account_id, name, json.dumps(value, sort_keys=True))

    def get_password_policy(self, account_id: str) -> PasswordPolicy:
        """The account's password policy (the defaults until one is set)."""
        stored = self._get_setting(account_id, _PASSWORD_POLICY)
        return PasswordPolicy() if stored is None else PasswordPolicy.from_api(stored)

    def set_password_policy(self, account_id: str, policy: PasswordPolicy) -> PasswordPolicy:
        """Replace the account's password policy."""
        self._put_setting(account_id, _PASSWORD_POLICY, policy.to_api())
        return policy

    def update_password_policy(
        self, account_id: str, change: Callable[[PasswordPolicy], PasswordPolicy]
    ) -> PasswordPolicy:
        """Store ``change(current policy)``, read and written in one transaction: two admins changing
        different fields at once both keep their change."""
        with self.store.write():
            return self.set_password_policy(account_id, change(self.get_password_policy(account_id)))

    def get_security_preference(self, account_id: str) -> SecurityPreference:
        """The account's security preference (the defaults until one is set)."""
        stored = self._get_setting(account_id, _SECURITY_PREFERENCE)
        return SecurityPreference() if stored is None else SecurityPreference.from_api(stored)

    def set_security_preference(self, account_id: str, preference: SecurityPreference) -> SecurityPreference:
        """Replace the account's security preference."""
        self._put_setting(account_id, _SECURITY_PREFERENCE, preference.to_api())
        return preference

    def update_security_preference(
        self, account_id: str, change: Callable[[SecurityPreference], SecurityPreference]
    ) -> SecurityPreference:
        """Store ``change(current preference)`` in one transaction (as :meth:`update_password_policy`)."""
        with self.store.write():
            return self.set_security_preference(account_id, change(self.get_security_preference(account_id)))
