"""RAM API 2015-05-01: the action table, assembled from the ``ram_*`` modules.

Every action is authorized as ``ram:<Action>`` on the resource its entry names (the user, group, role,
policy or MFA device it touches; ``*`` for account-wide lists and settings). One exception: ChangePassword
may also be called without a policy when the account's security preference lets users change their own
password (the default), as in RAM.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import ram_account, ram_credentials, ram_policies, ram_roles, ram_users
from .base import Action

__all__ = ["ACTIONS", "SELF_SERVICE", "VERSION"]

VERSION = "2015-05-01"

ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        action.name: action
        for module in (ram_users, ram_credentials, ram_policies, ram_roles, ram_account)
        for action in module.ACTIONS
    }
)
"""Action name → handler and resource."""

SELF_SERVICE = frozenset({"ChangePassword"})
"""Actions a RAM user may call on itself without a policy when the security preference allows it."""
