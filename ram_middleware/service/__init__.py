"""The admin façade: :class:`RamService` and the values its operations take and return.

Modules by concern: ``accounts`` (accounts, alias, password policy, security preference), ``users``,
``groups`` (and memberships), ``policies`` (custom policies and versions, System policies),
``attachments``, ``keys`` (AccessKeys, master-key rotation), ``roles``, ``logon`` (login profiles),
``mfa`` (virtual MFA devices); ``rules`` (name and length rules), ``limits`` (quotas), ``ids``.
"""

from __future__ import annotations

from .facade import RamService as RamService
from .limits import Limits as Limits
from .policies import SYSTEM_POLICY_DATE as SYSTEM_POLICY_DATE
from .results import Attached as Attached
from .results import NewAccessKey as NewAccessKey
from .results import NewMFADevice as NewMFADevice
from .results import PolicyDetail as PolicyDetail
from .results import PolicyEntities as PolicyEntities

__all__ = [
    "SYSTEM_POLICY_DATE",
    "Attached",
    "Limits",
    "NewAccessKey",
    "NewMFADevice",
    "PolicyDetail",
    "PolicyEntities",
    "RamService",
]
