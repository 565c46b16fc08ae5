"""``ram init``: create an account and its bootstrap administrator.

The account root gets no AccessKey (it is meant to rest, MFA-protected); instead a RAM user (``admin`` by
default) gets AdministratorAccess and one AccessKey, whose secret is returned once.

Running it on a store that already holds an account changes nothing and raises :class:`AlreadyInitialised`
(``ram init`` exits with status 3), unless ``new_account=True`` asks for another account in the same store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import errors
from .identity import Account
from .service import RamService
from .service.rules import check_alias, check_name

__all__ = ["ADMIN_POLICY", "AlreadyInitialised", "Bootstrap", "initialise"]

ADMIN_POLICY = "AdministratorAccess"
DEFAULT_ADMIN = "admin"


class AlreadyInitialised(errors.EntityAlreadyExists):
    """The store already holds an account; nothing was changed."""

    def __init__(self, accounts: list[Account]) -> None:
        self.accounts = accounts
        names = ", ".join(a.account_id + (f" ({a.alias})" if a.alias else "") for a in accounts[:5])
        super().__init__(
            "Account", f"The store is already initialised (account {names}); nothing was changed."
        )


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """What ``ram init`` created. ``access_key_secret`` is shown once and never stored in clear."""

    account_id: str
    alias: str | None
    user_name: str
    access_key_id: str
    access_key_secret: str = field(repr=False)

    def to_json(self) -> dict[str, str | None]:
        """The ``ram init --json`` document."""
        return {
            "AccountId": self.account_id,
            "AccountAlias": self.alias,
            "UserName": self.user_name,
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
        }


def initialise(
    service: RamService,
    *,
    alias: str | None = None,
    admin_user: str = DEFAULT_ADMIN,
    new_account: bool = False,
) -> Bootstrap:
    """Create the account, the admin user with AdministratorAccess, and the admin's AccessKey."""
    existing = service.list_accounts()
    if existing and not new_account:
        raise AlreadyInitialised(existing)
    # Check the inputs before creating anything, so bad input never leaves half an account behind.
    check_name("UserName", admin_user)
    if alias is not None:
        check_alias(alias)
    account = service.create_account(alias)
    service.create_user(
        account.account_id, admin_user, display_name="Bootstrap administrator", comments="Created by ram init"
    )
    service.attach_policy_to_user(account.account_id, "System", ADMIN_POLICY, admin_user)
    created = service.create_access_key(account.account_id, admin_user)
    return Bootstrap(account.account_id, account.alias, admin_user, created.key.access_key_id, created.secret)
