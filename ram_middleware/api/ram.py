"""RAM API 2015-05-01: the action table, assembled from the ``ram_*`` modules.

Every action is authorized as ``ram:<Action>`` on the resource its entry names (the user, group, role,
policy or MFA device it touches; ``*`` for account-wide lists and settings). ChangePassword is authorized on
the caller's own ARN, where the account's security preference grants it to RAM users without a policy while
``AllowUserToChangePassword`` is on (the default), as in RAM (see :mod:`.self_service`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import ram_account, ram_credentials, ram_policies, ram_roles, ram_users
from .base import Action

__all__ = ["ACTIONS", "VERSION"]

VERSION = "2015-05-01"

ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        action.name: action
        for module in (ram_users, ram_credentials, ram_policies, ram_roles, ram_account)
        for action in module.ACTIONS
    }
)
"""Action name → handler and resource."""
